import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ReadingStore } from "./store.ts";

const dirs: string[] = [];
function store(): { s: ReadingStore; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-store-"));
  dirs.push(dir);
  return { s: new ReadingStore(dir), dir };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const r = (i: number, obis = "1-0:1.8.0*255") => ({
  obis,
  value: 1000 + i,
  unit: "Wh",
  capturedAt: new Date(Date.UTC(2026, 0, 1, 0, 15 * i)).toISOString(),
  status: 0,
});

describe("reading store", () => {
  test("pages through a range in order, without gaps or repeats", () => {
    const { s } = store();
    s.appendReadings(
      "meter-1",
      Array.from({ length: 250 }, (_, i) => r(i)),
    );
    s.appendReadings("meter-2", [r(0)]);
    const seen: number[] = [];
    let after: number | undefined;
    for (;;) {
      const page = s.queryReadings({ meter: "meter-1", limit: 100, ...(after ? { after } : {}) });
      seen.push(...page.readings.map((x) => x.value));
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => 1000 + i));
    const day = s.queryReadings({
      meter: "meter-1",
      from: "2026-01-01T01:00:00Z",
      to: "2026-01-01T02:00:00Z",
    });
    expect(day.readings.map((x) => x.value)).toEqual([1004, 1005, 1006, 1007]);
  });

  test("a batch with one bad reading stores nothing of it", () => {
    const { s } = store();
    s.appendReadings("meter-1", [r(0)]);
    expect(() =>
      s.appendReadings("meter-1", [r(1), { ...r(2), capturedAt: "not a time" }]),
    ).toThrow(RangeError);
    expect(s.queryReadings({ meter: "meter-1" }).readings).toHaveLength(1);
  });

  test("lists only the meters of the scope, including those without readings", () => {
    const { s } = store();
    s.appendReadings("meter-1", [r(0)]);
    s.appendReadings("meter-3", [r(0)]);
    expect(s.listMeters(["meter-1", "meter-2"]).map((m) => [m.meter, m.readings])).toEqual([
      ["meter-1", 1],
      ["meter-2", 0],
    ]);
  });

  test("what was acknowledged is there after reopening", () => {
    const { s, dir } = store();
    s.appendReadings("meter-1", [r(0), r(1)]);
    expect(s.appendLog("meter", "test.event", "info", { a: 1 })).toBe(1);
    s.close();
    const again = new ReadingStore(dir);
    expect(again.counts()).toEqual({ readings: 2, systemLog: 1 });
    again.close();
  });

  test("the consumer log gives each consumer only their own entries, paged", () => {
    const { s } = store();
    for (let i = 0; i < 5; i++)
      s.appendConsumerLog({ consumer: "alice", meter: "meter-1", text: `a${i}` });
    s.appendConsumerLog({ consumer: "bob", meter: "meter-3", text: "b0" });
    const first = s.queryConsumerLog({ consumer: "alice", limit: 3 });
    expect(first.entries.map((e) => e.text)).toEqual(["a0", "a1", "a2"]);
    const rest = s.queryConsumerLog({ consumer: "alice", limit: 3, after: first.next ?? 0 });
    expect(rest.entries.map((e) => e.text)).toEqual(["a3", "a4"]);
    expect(rest.next).toBeUndefined();
    expect(s.queryConsumerLog({ consumer: "bob" }).entries).toMatchObject([
      { consumer: "bob", meter: "meter-3", text: "b0" },
    ]);
    expect(s.queryConsumerLog({ consumer: "alice", meter: "meter-3" }).entries).toEqual([]);
  });
});
