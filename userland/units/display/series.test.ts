import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { pickLanguage } from "./i18n.ts";
import { aggregate, bucketBounds, kindOf } from "./series.ts";

const iso = (t: number) => new Date(t).toISOString();

describe("buckets", () => {
  test("days and months follow German legal time", () => {
    // 1 March to 1 May 2026 (CET to CEST).
    const months = bucketBounds(Date.UTC(2026, 1, 28, 23), Date.UTC(2026, 3, 30, 22), "1mo");
    expect(months?.map(iso)).toEqual([
      "2026-02-28T23:00:00.000Z",
      "2026-03-31T22:00:00.000Z",
      "2026-04-30T22:00:00.000Z",
    ]);
    // The October change: 25 October 2026 has 25 hours.
    const days = bucketBounds(Date.UTC(2026, 9, 24, 22), Date.UTC(2026, 9, 26, 23), "1d");
    expect(days?.map(iso)).toEqual([
      "2026-10-24T22:00:00.000Z",
      "2026-10-25T23:00:00.000Z",
      "2026-10-26T23:00:00.000Z",
    ]);
  });

  test("quarter hours and hours align to the clock; too many buckets are refused", () => {
    const b = bucketBounds(Date.UTC(2026, 0, 1, 0, 7), Date.UTC(2026, 0, 1, 1), "15m");
    expect(b?.map(iso)).toEqual([
      "2026-01-01T00:00:00.000Z",
      "2026-01-01T00:15:00.000Z",
      "2026-01-01T00:30:00.000Z",
      "2026-01-01T00:45:00.000Z",
      "2026-01-01T01:00:00.000Z",
    ]);
    expect(bucketBounds(0, 100 * 86_400_000, "15m")).toBeUndefined();
  });
});

describe("aggregation", () => {
  const bounds = [0, 100, 200, 300];

  test("consumption: each interval's increase counts where it starts", () => {
    const r = [
      { t: 0, v: 10 },
      { t: 50, v: 12 },
      { t: 100, v: 15 },
      { t: 150, v: 15 },
      { t: 300, v: 20 },
    ];
    expect(aggregate(r, bounds, "consumption")).toEqual([5, 5, null]);
  });

  test("a register that runs backwards adds nothing; averages are means", () => {
    expect(
      aggregate(
        [
          { t: 0, v: 100 },
          { t: 50, v: 3 },
          { t: 100, v: 5 },
        ],
        bounds,
        "consumption",
      ),
    ).toEqual([2, null, null]);
    expect(
      aggregate(
        [
          { t: 0, v: 1 },
          { t: 10, v: 3 },
          { t: 250, v: 7 },
        ],
        bounds,
        "average",
      ),
    ).toEqual([2, null, 7]);
  });

  test("the total is the register's increase over the range (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 50 }),
        (steps) => {
          const readings: { t: number; v: number }[] = [];
          let v = 0;
          steps.forEach((s, i) => {
            v += s;
            readings.push({ t: i * 10, v });
          });
          const end = (steps.length - 1) * 10;
          const sums = aggregate(readings, [0, end / 2, end], "consumption");
          const total = sums.reduce<number>((a, b) => a + (b ?? 0), 0);
          expect(total).toBeCloseTo(v - (steps[0] ?? 0), 6);
        },
      ),
    );
  });

  test("OBIS value group D decides the kind", () => {
    expect(kindOf("1-0:1.8.0*255")).toBe("consumption");
    expect(kindOf("1-0:16.7.0*255")).toBe("average");
  });
});

describe("language", () => {
  test("cookie first, then Accept-Language by weight, then German", () => {
    expect(pickLanguage("smgw_lang=en", "de")).toBe("en");
    expect(pickLanguage("a=b; smgw_lang=de", "en")).toBe("de");
    expect(pickLanguage("smgw_lang=fr", "en-GB,en;q=0.9")).toBe("en");
    expect(pickLanguage(null, "fr-FR, en;q=0.5, de;q=0.8")).toBe("de");
    expect(pickLanguage(null, "fr, en;q=0")).toBe("de");
    expect(pickLanguage(null, null)).toBe("de");
    fc.assert(
      fc.property(fc.string(), fc.string(), (c, a) => {
        expect(["de", "en"]).toContain(pickLanguage(c, a));
      }),
    );
  });
});
