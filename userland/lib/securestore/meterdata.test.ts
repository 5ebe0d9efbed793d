import { afterEach, describe, expect, test } from "bun:test";
import { SchemaError } from "./errors.ts";
import { openMeterStore } from "./meterdata.ts";
import { cleanup, devKeys, QUARTER, silent, T0, tempDir } from "./test-support.ts";

afterEach(cleanup);

const reading = (i: number, obis = "1-0:1.8.0*255") => ({
  obis,
  value: 1000 + i * 0.25,
  unit: "Wh",
  capturedAt: new Date(T0 + i * QUARTER).toISOString(),
  status: i % 3,
});

describe("meter data", () => {
  test("time series per meter and register, paged in time order", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    await m.append(
      "meter-1",
      Array.from({ length: 250 }, (_, i) => reading(i)),
    );
    await m.append("meter-1", [reading(0, "1-0:2.8.0*255"), reading(1, "1-0:2.8.0*255")]);
    await m.append("meter-2", [reading(0)]);
    const seen: number[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = m.query({
        meter: "meter-1",
        obis: "1-0:1.8.0*255",
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...page.readings.map((r) => r.value));
      if (!page.next) break;
      cursor = page.next;
    }
    expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => 1000 + i * 0.25));
    // The same pages by the seq of the last reading, as the IPC contract pages.
    const bySeq: number[] = [];
    let after: number | undefined;
    for (;;) {
      const page = m.query({
        meter: "meter-1",
        obis: "1-0:1.8.0*255",
        limit: 100,
        ...(after ? { after } : {}),
      });
      bySeq.push(...page.readings.map((r) => r.value));
      if (!page.next) break;
      after = page.readings.at(-1)?.seq;
    }
    expect(bySeq).toEqual(seen);
    expect(() => m.query({ meter: "meter-1", after: 999_999 })).toThrow(/after/);
    const hour = m.query({
      meter: "meter-1",
      obis: "1-0:1.8.0*255",
      from: "2026-01-01T01:00:00Z",
      to: "2026-01-01T02:00:00Z",
    });
    expect(hour.readings.map((r) => r.capturedAt)).toEqual([
      "2026-01-01T01:00:00.000Z",
      "2026-01-01T01:15:00.000Z",
      "2026-01-01T01:30:00.000Z",
      "2026-01-01T01:45:00.000Z",
    ]);
    expect(hour.readings[0]).toMatchObject({ obis: "1-0:1.8.0*255", unit: "Wh", status: 1 });
    // All registers of the meter, merged in time order.
    const both = m.query({ meter: "meter-1", to: T0 + QUARTER + 1 });
    expect(both.readings.map((r) => r.obis)).toEqual([
      "1-0:1.8.0*255",
      "1-0:2.8.0*255",
      "1-0:1.8.0*255",
      "1-0:2.8.0*255",
    ]);
    expect(m.listMeters()).toEqual([
      { meter: "meter-1", readings: 252, last: reading(249).capturedAt },
      { meter: "meter-2", readings: 1, last: reading(0).capturedAt },
    ]);
    expect(m.listMeters(["meter-2", "meter-9"])).toEqual([
      { meter: "meter-2", readings: 1, last: reading(0).capturedAt },
      { meter: "meter-9", readings: 0 },
    ]);
    expect(m.query({ meter: "meter-9" }).readings).toEqual([]);
    await m.close();
  });

  test("a reading comes back exactly as stored, time text included", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    const odd = {
      obis: "1-0:16.7.0*255",
      value: -12.5,
      unit: "W",
      capturedAt: "2026-03-01T10:00:00.123456+01:00",
      status: 0xffffffff,
    };
    await m.append("meter-1", [odd]);
    await m.close();
    const again = await openMeterStore(dir, devKeys(dir), { log: silent });
    const { readings } = again.query({ meter: "meter-1", obis: odd.obis });
    expect(readings).toEqual([{ seq: 2, ...odd }]);
    await again.close();
  });

  test("retention per profile deletes old values through chained events", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), {
      log: silent,
      retention: { "15min": 2, daily: 30 },
      segmentSize: 64,
    });
    // Four days of 15-minute values, and a daily register.
    await m.append(
      "meter-1",
      Array.from({ length: 384 }, (_, i) => reading(i)),
    );
    await m.append(
      "meter-1",
      [0, 1, 2, 3].map((d) => reading(d * 96, "1-0:1.8.0*100")),
      { profile: "daily" },
    );
    expect(
      m
        .registersOf("meter-1")
        .map((r) => r.profile)
        .sort(),
    ).toEqual(["15min", "daily"]);
    const now = T0 + 4 * 86_400_000;
    const result = await m.applyRetention(now);
    expect(result).toEqual([
      {
        meter: "meter-1",
        obis: "1-0:1.8.0*255",
        profile: "15min",
        deleted: 192,
        event: expect.any(Number),
      },
    ]);
    const left = m.query({ meter: "meter-1", obis: "1-0:1.8.0*255", limit: 1000 }).readings;
    expect(left).toHaveLength(192);
    expect(left[0]?.capturedAt).toBe(new Date(T0 + 2 * 86_400_000).toISOString());
    expect(m.query({ meter: "meter-1", obis: "1-0:1.8.0*100" }).readings).toHaveLength(4);
    const event = m.store.get(result[0]?.event ?? 0);
    expect(JSON.parse(event?.payload.toString() ?? "{}")).toMatchObject({
      deleted: 192,
      reason: "retention of profile 15min: 2 days",
    });
    expect((await m.verify()).ok).toBe(true);
    expect(await m.applyRetention(now)).toEqual([]);
    await m.close();
  });

  test("bad readings are refused with the field named, and nothing of the batch is stored", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    await m.append("meter-1", [reading(0)]);
    const bad: unknown[] = [
      { ...reading(1), obis: "1.8.0" },
      { ...reading(1), extra: 1 },
      { ...reading(1), value: "12" },
      { ...reading(1), value: Number.NaN },
      { ...reading(1), capturedAt: "yesterday" },
      { ...reading(1), status: -1 },
      { ...reading(1), unit: "x".repeat(17) },
      null,
    ];
    for (const b of bad) {
      await expect(m.append("meter-1", [reading(2), b as never])).rejects.toThrow(/readings\[1\]/);
    }
    await expect(m.append("Meter 1", [reading(2)])).rejects.toThrow(SchemaError);
    await expect(m.append("meter-1", [])).rejects.toThrow(/at least one/);
    await expect(m.append("meter-1", [reading(2)], { profile: "BAD" })).rejects.toThrow(/profile/);
    expect(() => m.query({ meter: "meter-1", from: "soon" })).toThrow(/not a time/);
    expect(() => m.query({ meter: "meter-1", obis: "x" })).toThrow(SchemaError);
    expect(() => m.query({ meter: "meter-1", cursor: "abc" })).toThrow(/cursor/);
    expect(m.query({ meter: "meter-1" }).readings).toHaveLength(1);
    await m.close();
  });

  test("two years of 15-minute values of a register: checkpoint open, paged range query", async () => {
    const dir = tempDir();
    const m = await openMeterStore(dir, devKeys(dir), { log: silent });
    const n = 70_080;
    for (let i = 0; i < n; i += 5000) {
      await m.append(
        "meter-1",
        Array.from({ length: Math.min(5000, n - i) }, (_, k) => reading(i + k)),
      );
    }
    await m.close();
    const started = performance.now();
    const again = await openMeterStore(dir, devKeys(dir), { log: silent });
    const openMs = performance.now() - started;
    expect(again.store.quarantined).toBeUndefined();
    expect(openMs).toBeLessThan(1000);
    const month = again.query({
      meter: "meter-1",
      obis: "1-0:1.8.0*255",
      from: "2027-06-01T00:00:00Z",
      to: "2027-07-01T00:00:00Z",
      limit: 10_000,
    });
    expect(month.readings).toHaveLength(30 * 96);
    expect(again.listMeters()).toEqual([
      { meter: "meter-1", readings: n, last: reading(n - 1).capturedAt },
    ]);
    const report = await again.verify();
    expect(report).toMatchObject({ ok: true, recordsChecked: n + 1, mode: "full" });
    await again.close();
  }, 30_000);
});
