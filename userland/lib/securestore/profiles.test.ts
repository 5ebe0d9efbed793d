// The tariff profiles' data in the meter store: state, registers and outbox commit together,
// survive reopening, and a delivery stays pending until confirmed once.
import { afterEach, describe, expect, test } from "bun:test";
import { openMeterStore } from "./meterdata.ts";
import { ProfileData } from "./profiles.ts";
import { cleanup, devKeys, silent, tempDir } from "./test-support.ts";

afterEach(cleanup);

const delivery = (n: number) => ({
  recipient: "emt-dso",
  contentType: "application/pkcs7-mime",
  payload: Buffer.from(`signed document ${n}`).toString("base64"),
  meters: ["meter-1", "wmbus-2"],
  summary: `TAF7 series ${n}`,
});

const registers = (value: number) => ({
  meter: "meter-1",
  tariff: { useCase: 2, id: "day-night", name: "Day and night" },
  registers: [
    {
      obis: "1-0:1.8.1*255",
      tariffStage: 1,
      value,
      unit: "Wh",
      capturedAt: "2026-11-25T12:00:00Z",
    },
  ],
});

describe("profile data", () => {
  test("state, registers and deliveries commit together and survive reopening", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    const p = new ProfileData(m.store);
    expect(p.load("taf7-grid")).toEqual({ pending: 0 });
    const ids = await p.commit("taf7-grid", {
      state: JSON.stringify({ at: 1 }),
      deliveries: [delivery(1)],
    });
    expect(ids).toHaveLength(1);
    await p.commit("taf2-alice", { state: '{"n":2}', registers: [registers(42)] });
    await p.commit("taf2-alice", { state: '{"n":3}', registers: [registers(43)] });
    await m.close();

    const again = await openMeterStore(dir, devKeys(dir), { log: silent });
    const q = new ProfileData(again.store);
    expect(q.load("taf7-grid")).toEqual({ state: '{"at":1}', pending: 1 });
    expect(q.load("taf2-alice")).toEqual({ state: '{"n":3}', pending: 0 });
    expect(q.registers("meter-1").map((r) => r.registers[0]?.value)).toEqual([43]);
    const next = q.next("taf7-grid");
    expect(next).toMatchObject({ ...delivery(1), id: ids[0] });
    expect((await again.store.verify()).ok).toBe(true);
    await again.close();
  });

  test("a delivery is pending until confirmed, and confirmed once only", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    const p = new ProfileData(m.store);
    const [a] = await p.commit("taf7-grid", { state: "{}", deliveries: [delivery(1)] });
    const [b] = await p.commit("taf7-grid", { state: "{}", deliveries: [delivery(2)] });
    expect(p.next("taf7-grid")?.id).toBe(a as number);
    expect(p.next("taf7-grid", a)?.id).toBe(b as number);
    // Another profile's outbox is its own.
    expect(p.next("taf1-bob")).toBeUndefined();
    await expect(p.done("taf1-bob", a as number, "x")).rejects.toThrow(/not waiting/);
    const d = await p.done("taf7-grid", a as number, "201 receipt");
    expect(d.summary).toBe("TAF7 series 1");
    await expect(p.done("taf7-grid", a as number, "again")).rejects.toThrow(/not waiting/);
    expect(p.next("taf7-grid")?.id).toBe(b as number);
    expect(p.load("taf7-grid").pending).toBe(1);
    // An id that is no delivery (a state record) is refused too.
    await expect(p.done("taf7-grid", 1, "x")).rejects.toThrow(/not waiting/);
    await m.close();
  });

  test("bad commits are refused and change nothing", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    const p = new ProfileData(m.store);
    await p.commit("taf7-grid", { state: '{"ok":true}' });
    const bad: [string, Parameters<ProfileData["commit"]>[1], RegExp][] = [
      ["taf7-grid", { state: "not json" }, /not JSON/],
      ["taf7-grid", { state: "x".repeat(140_000) }, /2 to 131072/],
      ["Bad Name", { state: "{}" }, /profile/],
      [
        "taf7-grid",
        { state: "{}", deliveries: [{ ...delivery(1), recipient: "NOPE" }] },
        /delivery/,
      ],
      ["taf7-grid", { state: "{}", deliveries: [{ ...delivery(1), payload: "!!" }] }, /delivery/],
      [
        "taf7-grid",
        { state: "{}", registers: [{ ...registers(1), meter: "Meter 1" }] },
        /registers/,
      ],
    ];
    for (const [profile, c, why] of bad) {
      await expect(p.commit(profile, c)).rejects.toThrow(why);
    }
    expect(p.load("taf7-grid")).toEqual({ state: '{"ok":true}', pending: 0 });
    await m.close();
  });

  test("old states are pruned as new ones commit; the newest is kept", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    const p = new ProfileData(m.store);
    for (let i = 0; i < 40; i++) await p.commit("taf7-grid", { state: JSON.stringify({ i }) });
    expect(m.store.count("profile-state", "taf7-grid")).toBeLessThan(20);
    expect(p.load("taf7-grid").state).toBe('{"i":39}');
    expect((await m.store.verify()).ok).toBe(true);
    await m.close();
  });
});
