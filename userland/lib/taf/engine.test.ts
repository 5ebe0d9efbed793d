// TAF1 and TAF2 on small made-up documents: the edge rules, and the calculation errors.
import { describe, expect, test } from "bun:test";
import { billDocuments } from "./bill.ts";
import { TafError } from "./errors.ts";
import type { BillingResult } from "./registers.ts";
import {
  type ListSpec,
  meterDataXml,
  quarterHourProfile,
  type ReadingSpec,
  type SupplierSpec,
  steadyReadings,
  supplierXml,
} from "./test-helpers.ts";
import { parseDateTime } from "./time.ts";
import { alignToGrid, matchingMeasurementPeriod } from "./value-list.ts";

function amounts(result: BillingResult): Record<string, number> {
  return Object.fromEntries(result.registers.map((r) => [r.obis, r.amount]));
}

function kindOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof TafError) return error.kind;
    throw error;
  }
  return "no error";
}

const DAY_START = "2017-11-04T00:00:00+01:00";

/** One original value list with a single block. */
function oneList(readings: ReadingSpec[], extra: Partial<ListSpec> = {}): string {
  return meterDataXml([{ ...extra, blocks: [{ start: DAY_START, duration: 86400, readings }] }]);
}

const standardDay = quarterHourProfile("1", [
  ["00:00", 1],
  ["06:00", 2],
  ["21:00", 1],
]);

function taf2Supplier(overrides: Partial<SupplierSpec> = {}): string {
  return supplierXml({
    useCase: 2,
    start: DAY_START,
    duration: 86400,
    stages: [
      { tariffNumber: 1, obis: "0100010801FF" },
      { tariffNumber: 2, obis: "0100010802FF" },
    ],
    dayProfiles: [standardDay],
    specialDays: [{ date: "2017-11-04", dayId: "1" }],
    ...overrides,
  });
}

/** 97 quarter-hour readings of 4 Nov 2017, counter +10 each, with some changed. */
function day(change: (r: ReadingSpec[]) => ReadingSpec[] = (r) => r): ReadingSpec[] {
  return change(steadyReadings(DAY_START, 97));
}

const at = (hh: number, mm: number) => hh * 4 + mm / 15;

describe("TAF2", () => {
  test("a day without gaps splits at the switching times", () => {
    const result = billDocuments(oneList(day()), taf2Supplier());
    expect(result.tariffUseCase).toBe(2);
    expect(result.begin).toBe("2017-11-04T00:00:00+01:00");
    expect(result.end).toBe("2017-11-05T00:00:00+01:00");
    expect(result.registers).toEqual([
      { obis: "1-0:1.8.1*255", tariffId: 1, amount: 360 },
      { obis: "1-0:1.8.2*255", tariffId: 2, amount: 600 },
      { obis: "1-0:1.8.63*255", tariffId: 63, amount: 0 },
    ]);
  });

  test("a critical PTB status at a switch sends the bridged quarter hour to 1.8.63", () => {
    for (const ptb of [3, 4]) {
      const readings = day((r) => {
        (r[at(6, 0)] as ReadingSpec).ptb = ptb;
        return r;
      });
      expect(amounts(billDocuments(oneList(readings), taf2Supplier()))).toEqual({
        "1-0:1.8.1*255": 350,
        "1-0:1.8.2*255": 590,
        "1-0:1.8.63*255": 20,
      });
    }
  });

  test("a critical FNN status word counts like a critical PTB status", () => {
    const readings = day((r) => {
      (r[at(6, 0)] as ReadingSpec).fnn = "A002000020000000";
      return r;
    });
    expect(amounts(billDocuments(oneList(readings), taf2Supplier()))["1-0:1.8.63*255"]).toBe(20);
  });

  test("PTB status 1 and 2 keep a reading usable", () => {
    const readings = day((r) => {
      (r[at(6, 0)] as ReadingSpec).ptb = 2;
      (r[at(21, 0)] as ReadingSpec).ptb = 1;
      return r;
    });
    expect(amounts(billDocuments(oneList(readings), taf2Supplier()))["1-0:1.8.63*255"]).toBe(0);
  });

  test("gaps and bad statuses inside one tariff span change nothing", () => {
    const readings = day((r) => {
      (r[at(10, 0)] as ReadingSpec).ptb = 4;
      return r.filter((_, i) => i < at(12, 0) || i > at(14, 0));
    });
    expect(amounts(billDocuments(oneList(readings), taf2Supplier()))).toEqual({
      "1-0:1.8.1*255": 360,
      "1-0:1.8.2*255": 600,
      "1-0:1.8.63*255": 0,
    });
  });

  test("a reading off the grid by more than 3 % of the period is a gap", () => {
    const late = (seconds: number) =>
      day((r) => {
        (r[at(6, 0)] as ReadingSpec).at =
          `2017-11-04T06:00:${String(seconds).padStart(2, "0")}+01:00`;
        return r;
      });
    // 20 s is within 27 s (3 % of 900 s): snapped to 06:00.
    expect(amounts(billDocuments(oneList(late(20)), taf2Supplier()))["1-0:1.8.63*255"]).toBe(0);
    // 40 s is not: 06:00 counts as missing.
    expect(amounts(billDocuments(oneList(late(40)), taf2Supplier()))).toEqual({
      "1-0:1.8.1*255": 350,
      "1-0:1.8.2*255": 590,
      "1-0:1.8.63*255": 20,
    });
  });

  test("an explicit targetTime is used as given", () => {
    const readings = day((r) => {
      const switchReading = r[at(6, 0)] as ReadingSpec;
      switchReading.at = "2017-11-04T06:02:00+01:00";
      switchReading.target = "2017-11-04T06:00:00+01:00";
      return r;
    });
    expect(amounts(billDocuments(oneList(readings), taf2Supplier()))["1-0:1.8.63*255"]).toBe(0);
  });

  test("winter to summer time: the 23-hour day", () => {
    const start = "2017-03-26T00:00:00+01:00";
    const readings = steadyReadings(start, 93);
    const meterData = meterDataXml([{ blocks: [{ start, duration: 82800, readings }] }]);
    const supplier = taf2Supplier({
      start,
      duration: 82800,
      specialDays: [{ date: "2017-03-26", dayId: "1" }],
    });
    const result = billDocuments(meterData, supplier);
    expect(result.begin).toBe("2017-03-26T00:00:00+01:00");
    expect(result.end).toBe("2017-03-27T00:00:00+02:00");
    // 00:00–06:00 local is only 5 hours of real time.
    expect(amounts(result)).toEqual({
      "1-0:1.8.1*255": 320,
      "1-0:1.8.2*255": 600,
      "1-0:1.8.63*255": 0,
    });
  });

  test("a day profile that ends before 23:45 closes the day at its last entry (as TRuDI)", () => {
    const supplier = taf2Supplier({
      dayProfiles: [
        {
          dayId: "1",
          entries: [
            ["00:00", 1],
            ["06:00", 2],
            ["21:00", 1],
          ],
        },
      ],
    });
    expect(amounts(billDocuments(oneList(day()), supplier))).toEqual({
      "1-0:1.8.1*255": 240,
      "1-0:1.8.2*255": 600,
      "1-0:1.8.63*255": 0,
    });
  });

  test("a missing day start is bridged from the previous day", () => {
    const start = "2017-11-04T00:00:00+01:00";
    const readings = steadyReadings(start, 193).filter(
      (_, i) => i !== 96 && i !== 97, // 5 Nov 00:00 and 00:15 missing
    );
    const meterData = meterDataXml([{ blocks: [{ start, duration: 172800, readings }] }]);
    const supplier = taf2Supplier({
      duration: 172800,
      specialDays: [
        { date: "2017-11-04", dayId: "1" },
        { date: "2017-11-05", dayId: "1" },
      ],
    });
    expect(amounts(billDocuments(meterData, supplier))).toEqual({
      "1-0:1.8.1*255": 720,
      "1-0:1.8.2*255": 1200,
      "1-0:1.8.63*255": 0,
    });
  });

  test("decreasing counters give negative amounts, no failure", () => {
    const readings = steadyReadings(DAY_START, 97, { first: 10000, increment: -10 });
    expect(amounts(billDocuments(oneList(readings), taf2Supplier()))).toEqual({
      "1-0:1.8.1*255": -360,
      "1-0:1.8.2*255": -600,
      "1-0:1.8.63*255": 0,
    });
  });

  test("values near the Int48 limit are exact", () => {
    const first = 2 ** 47 - 2000;
    const readings = steadyReadings(DAY_START, 97, { first });
    expect(amounts(billDocuments(oneList(readings), taf2Supplier()))["1-0:1.8.2*255"]).toBe(600);
  });

  test("import and export lists give 6 registers in TRuDI's order", () => {
    const exportList: ListSpec = {
      obis: "0100020800FF",
      blocks: [
        {
          start: DAY_START,
          duration: 86400,
          readings: steadyReadings(DAY_START, 97, { increment: 1 }),
        },
      ],
    };
    const importList: ListSpec = {
      blocks: [{ start: DAY_START, duration: 86400, readings: day() }],
    };
    const supplier = taf2Supplier({
      stages: [
        { tariffNumber: 1, obis: "0100010801FF" },
        { tariffNumber: 2, obis: "0100010802FF" },
        { tariffNumber: 3, obis: "0100020801FF" },
        { tariffNumber: 4, obis: "0100020802FF" },
      ],
      dayProfiles: [
        standardDay,
        quarterHourProfile("2", [
          ["00:00", 3],
          ["08:00", 4],
          ["20:00", 3],
        ]),
      ],
      specialDays: [
        { date: "2017-11-04", dayId: "1" },
        { date: "2017-11-04", dayId: "2" },
      ],
    });
    const result = billDocuments(meterDataXml([importList, exportList]), supplier);
    expect(result.registers.map((r) => [r.obis, r.tariffId, r.amount])).toEqual([
      ["1-0:1.8.1*255", 1, 360],
      ["1-0:1.8.2*255", 2, 600],
      ["1-0:2.8.1*255", 3, 48],
      ["1-0:2.8.2*255", 4, 48],
      ["1-0:1.8.63*255", 63, 0],
      ["1-0:2.8.63*255", 63, 0],
    ]);
  });

  test("a supplier-given error register is used instead of an added one", () => {
    const supplier = taf2Supplier({
      stages: [
        { tariffNumber: 1, obis: "0100010801FF" },
        { tariffNumber: 2, obis: "0100010802FF" },
        { tariffNumber: 9, obis: "010001083FFF" },
      ],
    });
    const result = billDocuments(oneList(day()), supplier);
    expect(result.registers.map((r) => [r.obis, r.tariffId])).toEqual([
      ["1-0:1.8.1*255", 1],
      ["1-0:1.8.2*255", 2],
      ["1-0:1.8.63*255", 63],
    ]);
  });

  test("mismatched documents are reported", () => {
    // The tariff is for another month than the readings.
    const otherMonth = taf2Supplier({
      start: "2018-01-01T00:00:00+01:00",
      specialDays: [{ date: "2018-01-01", dayId: "1" }],
    });
    expect(kindOf(() => billDocuments(oneList(day()), otherMonth))).toBe(
      "NO_READINGS_IN_BILLING_PERIOD",
    );
    // The tariff has stages for export only, the readings are import.
    const exportOnly = taf2Supplier({
      stages: [
        { tariffNumber: 1, obis: "0100020801FF" },
        { tariffNumber: 2, obis: "0100020802FF" },
      ],
    });
    expect(kindOf(() => billDocuments(oneList(day()), exportOnly))).toBe(
      "NO_MATCHING_TARIFF_STAGE",
    );
    // Swapped files.
    expect(kindOf(() => billDocuments(taf2Supplier(), oneList(day())))).toBe("MISSING_ELEMENT");
    // No original value list: the meter id does not match the logical name.
    const derived = oneList(day(), { qualifiedLogicalName: "0100010800FF.OTHER.sm" });
    expect(kindOf(() => billDocuments(derived, taf2Supplier()))).toBe("NO_ORIGINAL_VALUE_LIST");
  });

  test("no usable reading in the whole period", () => {
    const readings = day((r) => r.map((x) => ({ ...x, ptb: 4 })));
    expect(kindOf(() => billDocuments(oneList(readings), taf2Supplier()))).toBe(
      "NO_USABLE_READINGS",
    );
  });

  test("tariff use cases other than 1 and 2 are refused", () => {
    expect(kindOf(() => billDocuments(oneList(day()), taf2Supplier({ useCase: 7 })))).toBe(
      "UNSUPPORTED_TARIFF_USE_CASE",
    );
  });
});

describe("TAF1", () => {
  const monthStart = "2017-10-01T00:00:00+02:00";
  const octoberSeconds = 31 * 86400 + 3600;

  function taf1Supplier(overrides: Partial<SupplierSpec> = {}): string {
    const specialDays = Array.from({ length: 31 }, (_, i) => ({
      date: `2017-10-${String(i + 1).padStart(2, "0")}`,
      dayId: "1",
    }));
    return supplierXml({
      useCase: 1,
      start: monthStart,
      duration: octoberSeconds,
      stages: [{ tariffNumber: 1, obis: "0100010801FF" }],
      dayProfiles: [quarterHourProfile("1", [["00:00", 1]])],
      specialDays,
      ...overrides,
    });
  }

  /** Hourly readings over October 2017 and beyond, +100 per hour. */
  function october(hours = 31 * 24 + 1 + 24, meterId?: string, obis?: string): ListSpec {
    return {
      ...(meterId === undefined ? {} : { meterId }),
      ...(obis === undefined ? {} : { obis }),
      blocks: [
        {
          start: monthStart,
          duration: hours * 3600,
          readings: steadyReadings(monthStart, hours, {
            stepMinutes: 60,
            first: 5000,
            increment: 100,
          }),
        },
      ],
    };
  }

  test("one register: end value minus start value", () => {
    const result = billDocuments(meterDataXml([october()]), taf1Supplier());
    expect(result.tariffUseCase).toBe(1);
    expect(result.begin).toBe("2017-10-01T00:00:00+02:00");
    expect(result.end).toBe("2017-11-01T00:00:00+01:00");
    // 745 real hours in October 2017.
    expect(result.registers).toEqual([{ obis: "1-0:1.8.1*255", tariffId: 1, amount: 74500 }]);
  });

  test("errors in TRuDI's order", () => {
    const list = october();
    const lists = (n: number) =>
      Array.from({ length: n }, (_, i) => october(undefined, `1TST000000000${i}`));
    expect(kindOf(() => billDocuments(meterDataXml(lists(4)), taf1Supplier()))).toBe(
      "TOO_MANY_ORIGINAL_VALUE_LISTS",
    );
    const notOriginal: ListSpec = { ...october(), qualifiedLogicalName: "0100010800FF.X.sm" };
    expect(kindOf(() => billDocuments(meterDataXml([list, notOriginal]), taf1Supplier()))).toBe(
      "METER_READING_NOT_AN_ORIGINAL_VALUE_LIST",
    );
    const twoStages = taf1Supplier({
      stages: [
        { tariffNumber: 1, obis: "0100010801FF" },
        { tariffNumber: 2, obis: "0100020801FF" },
      ],
    });
    expect(kindOf(() => billDocuments(meterDataXml([list]), twoStages))).toBe(
      "TARIFF_STAGES_EXCEED_ORIGINAL_VALUE_LISTS",
    );
    expect(
      kindOf(() => billDocuments(meterDataXml([list]), taf1Supplier({ duration: 40 * 86400 }))),
    ).toBe("INVALID_BILLING_PERIOD_LENGTH");
    expect(
      kindOf(() =>
        billDocuments(meterDataXml([list]), taf1Supplier({ start: "2017-10-02T00:00:00+02:00" })),
      ),
    ).toBe("BILLING_PERIOD_NOT_AT_MONTH_START");
    const thirtyDays = taf1Supplier({
      specialDays: Array.from({ length: 30 }, (_, i) => ({
        date: `2017-10-${String(i + 1).padStart(2, "0")}`,
        dayId: "1",
      })),
    });
    expect(kindOf(() => billDocuments(meterDataXml([list]), thirtyDays))).toBe(
      "INVALID_SPECIAL_DAY_PROFILE_COUNT",
    );
    const twoProfiles = taf1Supplier({
      dayProfiles: [
        quarterHourProfile("1", [["00:00", 1]]),
        quarterHourProfile("2", [["00:00", 1]]),
      ],
    });
    expect(kindOf(() => billDocuments(meterDataXml([list]), twoProfiles))).toBe(
      "INVALID_DAY_PROFILE_COUNT",
    );
  });

  test("a fatal FNN status at the end makes the end value unusable", () => {
    const list = october();
    const readings = list.blocks[0]?.readings ?? [];
    (readings[31 * 24 + 1] as ReadingSpec).fnn = "A084000020000000";
    expect(kindOf(() => billDocuments(meterDataXml([list]), taf1Supplier()))).toBe(
      "NO_VALID_VALUE_AT_BILLING_PERIOD_END",
    );
  });

  test("a missing start value", () => {
    const list = october();
    const block = list.blocks[0];
    if (block !== undefined) block.readings = block.readings.slice(1);
    expect(kindOf(() => billDocuments(meterDataXml([list]), taf1Supplier()))).toBe(
      "NO_VALID_VALUE_AT_BILLING_PERIOD_START",
    );
  });
});

describe("reading grid", () => {
  test("standard measurement periods match within 2 %", () => {
    expect(matchingMeasurementPeriod(900)).toBe(900);
    expect(matchingMeasurementPeriod(917)).toBe(900);
    expect(matchingMeasurementPeriod(918)).toBe(0);
    expect(matchingMeasurementPeriod(3600)).toBe(3600);
    expect(matchingMeasurementPeriod(86400)).toBe(86400);
    expect(matchingMeasurementPeriod(51)).toBe(0);
  });

  test("alignment in local time", () => {
    const t = (s: string) => parseDateTime(s) ?? { instant: Number.NaN, wall: Number.NaN };
    expect(alignToGrid(t("2017-10-26T08:44:58+02:00"), 900, 3).instant).toBe(
      t("2017-10-26T08:45:00+02:00").instant,
    );
    expect(alignToGrid(t("2017-10-26T08:45:49+02:00"), 900, 3).instant).toBe(
      t("2017-10-26T08:45:49+02:00").instant,
    );
    // A 3-hour grid counts from local midnight, not UTC midnight.
    expect(alignToGrid(t("2017-11-01T02:59:00+01:00"), 10800, 3).instant).toBe(
      t("2017-11-01T03:00:00+01:00").instant,
    );
    expect(alignToGrid(t("2017-11-01T23:50:00+01:00"), 86400, 1).instant).toBe(
      t("2017-11-02T00:00:00+01:00").instant,
    );
  });
});
