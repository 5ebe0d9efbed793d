// The calibration log as the storage unit serves it, over a real secure store: a profile's
// events are logged before its commit (so a failed commit never loses them), a consumer's page
// holds only entries about their meters and gateway-wide ones however far apart they lie in
// the one chain, paging goes on where the last page ended, and bad events are refused.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type CalibrationLog,
  openCalibrationLog,
  openMeterStore,
  ProfileData,
  SchemaError,
  SoftwareKeyService,
} from "@smgw/securestore";
import { commitProfile, scanCalibration } from "./calibration.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const quiet = { log: { warn: () => {}, error: () => {} } };

async function open(clock = { now: Date.UTC(2026, 10, 25, 12) }) {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-calibration-"));
  dirs.push(dir);
  const keys = new SoftwareKeyService({
    masterKey: Buffer.alloc(32, 3),
    counterFile: path.join(dir, "counters.json"),
    log: { warn: () => {} },
  });
  const log = await openCalibrationLog(dir, keys, { ...quiet, now: () => clock.now });
  const meters = await openMeterStore(dir, keys, quiet);
  return { log, profiles: new ProfileData(meters.store), meters, clock };
}

const about = (meter: string | undefined, n: number) => ({
  event: "register.ran-backwards",
  ...(meter ? { meter } : {}),
  detail: { obis: "1-0:1.8.0*255", last: n + 1, value: n },
});

/** Every page of a consumer's query, following `next`. */
function allPages(log: CalibrationLog, meters: string[], limit: number) {
  const seen: { seq: number; meter?: string }[] = [];
  let after: number | undefined;
  let pages = 0;
  for (;;) {
    const r = scanCalibration(
      log,
      { limit, ...(after !== undefined ? { after } : {}) },
      (e) => e.meter === undefined || meters.includes(e.meter),
    );
    pages++;
    seen.push(...r.entries);
    if (r.next === undefined) return { seen, pages };
    expect(r.next).toBeGreaterThan(after ?? 0);
    after = r.next;
  }
}

describe("calibration log in storage", () => {
  test("a profile's events are logged before its commit; a failed commit keeps them", async () => {
    const s = await open();
    const body = {
      profile: "taf2-alice",
      state: JSON.stringify({ version: 1 }),
      calibration: [
        {
          event: "billing.period-closed",
          meter: "meter-1",
          detail: { start: "2026-11-01T00:00:00+01:00", "1-0:1.8.1*255": 6400 },
        },
      ],
    };
    // A state that is not JSON fails the commit after the events went in.
    await expect(commitProfile(s.profiles, s.log, { ...body, state: "{not json" })).rejects.toThrow(
      "not JSON",
    );
    expect(s.profiles.load("taf2-alice").state).toBeUndefined();
    expect(s.log.query().entries).toHaveLength(1);
    // The retry logs them again and commits: twice, never lost.
    await commitProfile(s.profiles, s.log, body);
    expect(s.profiles.load("taf2-alice").state).toBe(body.state);
    const entries = s.log.query().entries;
    expect(entries.map((e) => e.event)).toEqual(["billing.period-closed", "billing.period-closed"]);
    expect(entries[1]?.detail["1-0:1.8.1*255"]).toBe(6400);
    expect((await s.log.verify()).ok).toBe(true);
    await s.log.close();
    await s.meters.close();
  });

  test("a consumer's pages hold only their meters' and gateway-wide entries, in order, all of them", async () => {
    const s = await open();
    // 2,500 entries about others' meters, with the consumer's few scattered among them.
    const mine = new Set([17, 1200, 1201, 2490]);
    const wide = new Set([600]);
    for (let i = 0; i < 2500; i++) {
      const meter = mine.has(i)
        ? i % 2
          ? "meter-1"
          : "meter-2"
        : wide.has(i)
          ? undefined
          : "meter-3";
      await s.log.append(about(meter, i));
    }
    for (const limit of [1, 2, 100]) {
      const { seen } = allPages(s.log, ["meter-1", "meter-2"], limit);
      expect(seen.map((e) => e.seq)).toEqual([18, 601, 1201, 1202, 2491]);
      expect(seen.map((e) => e.meter)).toEqual([
        "meter-1",
        undefined,
        "meter-2",
        "meter-1",
        "meter-2",
      ]);
    }
    // A meter with no entries: one empty page, no cursor.
    expect(scanCalibration(s.log, {}, (e) => e.meter === "wmbus-9")).toEqual({ entries: [] });
    await s.log.close();
    await s.meters.close();
  });

  test("a long scan stops with a cursor and the next request goes on from there", async () => {
    const s = await open();
    for (let i = 0; i < 2_600; i++)
      await s.log.append(about(i === 2_400 ? "meter-1" : "meter-3", i));
    const wanted = (e: { meter?: string }) => e.meter === "meter-1";
    const first = scanCalibration(s.log, {}, wanted, 2_000);
    expect(first.entries).toEqual([]);
    expect(first.next).toBe(2_000);
    const second = scanCalibration(s.log, { after: first.next }, wanted, 2_000);
    expect(second.entries.map((e) => e.seq)).toEqual([2_401]);
    expect(second.next).toBeUndefined();
    await s.log.close();
    await s.meters.close();
  }, 60_000);

  test("from and to bound the entries by gateway time", async () => {
    const s = await open();
    for (let h = 0; h < 5; h++) {
      s.clock.now = Date.UTC(2026, 10, 25, h);
      await s.log.append(about("meter-1", h));
    }
    const r = scanCalibration(
      s.log,
      { from: "2026-11-25T01:00:00Z", to: "2026-11-25T03:00:00Z" },
      () => true,
    );
    expect(r.entries.map((e) => e.at)).toEqual([
      "2026-11-25T01:00:00.000Z",
      "2026-11-25T02:00:00.000Z",
    ]);
    await s.log.close();
    await s.meters.close();
  });

  test("bad events are refused with the field named; what was logged stays", async () => {
    const s = await open();
    await s.log.append(about("meter-1", 1));
    const bad: unknown[] = [
      { event: "Bad Name", detail: {} },
      { event: "x", detail: {} },
      { event: "register.ran-backwards", meter: "METER", detail: {} },
      { event: "register.ran-backwards", detail: { nested: { a: 1 } } },
      {
        event: "register.ran-backwards",
        detail: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
      },
      { event: "register.ran-backwards", detail: { text: "x".repeat(513) } },
      { event: "register.ran-backwards", detail: {}, extra: true },
      null,
      "register.ran-backwards",
    ];
    for (const b of bad) {
      await expect(s.log.append(b as never)).rejects.toBeInstanceOf(SchemaError);
    }
    const entries = s.log.query().entries;
    expect(entries).toHaveLength(1);
    expect((await s.log.verify()).ok).toBe(true);
    await s.log.close();
    await s.meters.close();
  });
});
