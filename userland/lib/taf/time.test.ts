import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  addMonthsWall,
  berlinOffset,
  formatBerlin,
  HOUR,
  instantOfWall,
  parseDateTime,
  wallOf,
  wallOfDate,
} from "./time.ts";

const at = (iso: string) => Date.parse(iso);

describe("Europe/Berlin offsets", () => {
  test("summer time starts on the last Sunday of March at 01:00 UTC", () => {
    expect(berlinOffset(at("2017-03-26T00:59:59Z"))).toBe(HOUR);
    expect(berlinOffset(at("2017-03-26T01:00:00Z"))).toBe(2 * HOUR);
    expect(berlinOffset(at("2024-03-31T01:00:00Z"))).toBe(2 * HOUR);
    expect(berlinOffset(at("2024-03-30T12:00:00Z"))).toBe(HOUR);
  });

  test("summer time ends on the last Sunday of October at 01:00 UTC", () => {
    expect(berlinOffset(at("2017-10-29T00:59:59Z"))).toBe(2 * HOUR);
    expect(berlinOffset(at("2017-10-29T01:00:00Z"))).toBe(HOUR);
    expect(berlinOffset(at("2023-10-29T00:30:00Z"))).toBe(2 * HOUR);
  });

  test("wall time of the repeated hour in October", () => {
    const summer = parseDateTime("2017-10-29T02:15:00+02:00");
    const winter = parseDateTime("2017-10-29T02:15:00+01:00");
    expect(summer?.wall).toBe(winter?.wall as number);
    expect(summer?.instant).toBe((winter?.instant as number) - HOUR);
  });

  test("ambiguous and skipped wall times resolve with the standard offset", () => {
    expect(instantOfWall(wallOfDate(2017, 10, 29, 2 * 3600 + 900))).toBe(
      at("2017-10-29T01:15:00Z"),
    );
    expect(instantOfWall(wallOfDate(2017, 3, 26, 2 * 3600 + 1800))).toBe(
      at("2017-03-26T01:30:00Z"),
    );
  });

  test("wallOf and instantOfWall are inverse outside the repeated hour", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: at("1996-01-01T00:00:00Z"), max: at("2099-12-31T00:00:00Z") }),
        (t) => {
          const back = instantOfWall(wallOf(t));
          // In the repeated October hour the summer-time instant maps to its winter twin.
          expect(back === t || back === t + HOUR).toBe(true);
        },
      ),
    );
  });
});

describe("parseDateTime", () => {
  test("reads offsets, Z, fractions and local time", () => {
    expect(parseDateTime("2017-11-04T00:00:00+01:00")?.instant).toBe(at("2017-11-03T23:00:00Z"));
    expect(parseDateTime("2017-11-04T00:00:00Z")?.instant).toBe(at("2017-11-04T00:00:00Z"));
    expect(parseDateTime("2017-10-26T00:00:00.0000000+02:00")?.instant).toBe(
      at("2017-10-25T22:00:00Z"),
    );
    expect(parseDateTime("2017-10-26T00:00:00.5-02:30")?.instant).toBe(
      at("2017-10-26T02:30:00.500Z"),
    );
    expect(parseDateTime("2017-07-01T12:00:00")?.instant).toBe(at("2017-07-01T10:00:00Z"));
  });

  test("rejects invalid dates and times", () => {
    for (const bad of [
      "",
      "2017-02-29T00:00:00Z",
      "2017-13-01T00:00:00Z",
      "2017-01-01T24:00:00Z",
      "2017-01-01T00:60:00Z",
      "2017-01-01 00:00:00Z",
      "2017-01-01T00:00:00+15:00",
      "0000-01-01T00:00:00Z",
      "2017-1-01T00:00:00Z",
      "yesterday",
    ]) {
      expect(parseDateTime(bad)).toBeUndefined();
    }
    expect(parseDateTime("2016-02-29T00:00:00Z")).toBeDefined();
  });

  test("never throws on any text", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const t = parseDateTime(s);
        expect(t === undefined || Number.isFinite(t.instant)).toBe(true);
      }),
    );
  });
});

describe("formatBerlin", () => {
  test("prints local time with the offset in force", () => {
    expect(formatBerlin(at("2017-10-29T00:30:00Z"))).toBe("2017-10-29T02:30:00+02:00");
    expect(formatBerlin(at("2017-10-29T01:30:00Z"))).toBe("2017-10-29T02:30:00+01:00");
    expect(formatBerlin(at("2017-10-31T23:00:00Z"))).toBe("2017-11-01T00:00:00+01:00");
  });

  test("round-trips through parseDateTime", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4102444800 }), (seconds) => {
        const instant = seconds * 1000;
        expect(parseDateTime(formatBerlin(instant))?.instant).toBe(instant);
      }),
    );
  });
});

test("addMonthsWall counts calendar months in local time", () => {
  const oct1 = wallOfDate(2017, 10, 1);
  expect(addMonthsWall(oct1, 1)).toBe(wallOfDate(2017, 11, 1));
  expect(addMonthsWall(oct1, 12)).toBe(wallOfDate(2018, 10, 1));
  expect(addMonthsWall(wallOfDate(2017, 1, 31), 1)).toBe(wallOfDate(2017, 2, 28));
});
