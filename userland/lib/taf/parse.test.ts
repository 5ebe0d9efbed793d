// The AR 2418-6 readers: typed results for the golden documents, and clear errors for bad input.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { TafError } from "./errors.ts";
import { parseMeterData } from "./meter-data.ts";
import { parseSupplier } from "./supplier.ts";
import {
  GOLDEN_DIR,
  meterDataXml,
  quarterHourProfile,
  steadyReadings,
  supplierXml,
  TRUDI_TAF_DIR,
} from "./test-helpers.ts";

const data = (relative: string) => readFileSync(path.join(TRUDI_TAF_DIR, "data", relative));

function errorOf(run: () => unknown): TafError {
  try {
    run();
  } catch (error) {
    if (error instanceof TafError) return error;
    throw error;
  }
  throw new Error("expected a TafError");
}

const validMeterData = meterDataXml([
  {
    blocks: [
      {
        start: "2017-11-04T00:00:00+01:00",
        duration: 86400,
        readings: steadyReadings("2017-11-04T00:00:00+01:00", 97),
      },
    ],
  },
]);

const validSupplier = supplierXml({
  useCase: 2,
  start: "2017-11-04T00:00:00+01:00",
  duration: 86400,
  stages: [
    { tariffNumber: 1, obis: "0100010801FF" },
    { tariffNumber: 2, obis: "0100010802FF" },
  ],
  dayProfiles: [
    quarterHourProfile("1", [
      ["00:00", 1],
      ["06:00", 2],
      ["21:00", 1],
    ]),
  ],
  specialDays: [{ date: "2017-11-04", dayId: "1" }],
});

describe("meter data (IF_Adapter_TRuDI)", () => {
  test("reads a golden TAF2 document", () => {
    const doc = parseMeterData(data("taf2/result_single_day.xml"));
    expect(doc.usagePointId).toBe("DNTLABOR");
    expect(doc.smgwId).toBe("EDNT0017038437");
    expect(doc.serviceCategoryKind).toBe(0);
    expect(doc.meterReadings.length).toBe(1);
    const reading = doc.meterReadings[0];
    expect(reading?.meterId).toBe("0A01454D4800005DE461");
    expect(reading?.readingType).toMatchObject({
      obisCode: "0100010800FF",
      obis: { a: 1, b: 0, c: 1, d: 8, e: 0, f: 255 },
      uom: 72,
      scaler: -1,
      powerOfTenMultiplier: 0,
      qualifiedLogicalName: "0100010800FF.0A01454D4800005DE461.sm",
    });
    const block = reading?.intervalBlocks[0];
    expect(block?.intervalDuration).toBe(86400);
    expect(block?.intervalReadings.length).toBe(97);
    expect(block?.intervalReadings[96]).toMatchObject({ value: 960, statusPTB: 1 });
    expect(block?.intervalReadings[0]?.timePeriodStart.instant).toBe(
      Date.parse("2017-11-03T23:00:00Z"),
    );
  });

  test("keeps ids as text (no number conversion)", () => {
    const doc = parseMeterData(data("taf2/many_gaps_result_2017-10-26.xml"));
    expect(doc.meterReadings.map((m) => m.meterId)).toEqual([
      "1LGZ0038895402",
      "1LGZ0038895402",
      "1LGZ0038895402",
      "1LGZ0038895402",
    ]);
    expect(doc.analysisProfile?.tariffUseCase).toBe(1);
    expect(doc.analysisProfile?.billingPeriod.start.instant).toBe(
      Date.parse("2017-10-25T22:00:00Z"),
    );
  });

  test("reads statusFNN and maps it to a PTB status", () => {
    const xml = meterDataXml([
      {
        blocks: [
          {
            start: "2017-11-04T00:00:00+01:00",
            duration: 900,
            readings: [
              { at: "2017-11-04T00:00:00+01:00", value: 1, fnn: "A000000020000000" },
              { at: "2017-11-04T00:15:00+01:00", value: 2, fnn: "A084000020000000" },
              { at: "2017-11-04T00:30:00+01:00", value: 3, fnn: "A002000020000000" },
              { at: "2017-11-04T00:45:00+01:00", value: 4, fnn: "A008000020000000" },
            ],
          },
        ],
      },
    ]);
    const readings = parseMeterData(xml).meterReadings[0]?.intervalBlocks[0]?.intervalReadings;
    expect(readings?.map((r) => r.statusFNNAsPTB)).toEqual([0, 4, 3, 1]);
  });

  test("every sample of the schema folder is read or rejected with a TafError", () => {
    const samples = path.join(GOLDEN_DIR, "ar2418-6", "samples");
    let read = 0;
    for (const folder of ["lastenheft", "lieferanten-xml", "models-tests"]) {
      for (const file of readdirSync(path.join(samples, folder))) {
        const bytes = readFileSync(path.join(samples, folder, file));
        try {
          parseMeterData(bytes);
          read++;
        } catch (error) {
          expect(error).toBeInstanceOf(TafError);
        }
      }
    }
    expect(read).toBe(23);
  });
});

describe("supplier (IF_Lieferant_TRuDI)", () => {
  test("reads a golden supplier document", () => {
    const doc = parseSupplier(data("taf2/supplier_single_day.xml"));
    const profile = doc.analysisProfile;
    expect(profile.tariffUseCase).toBe(2);
    expect(profile.tariffId).toBe("taf7");
    expect(profile.billingPeriod.durationSeconds).toBe(86400);
    expect(profile.billingPeriod.end.instant - profile.billingPeriod.start.instant).toBe(86400000);
    expect(profile.tariffStages.map((s) => [s.tariffNumber, s.obisCode])).toEqual([
      [1, "0100010801ff"],
      [2, "0100010802ff"],
    ]);
    expect(profile.defaultTariffNumber).toBe(1);
    expect(profile.dayProfiles.length).toBe(1);
    const entries = profile.dayProfiles[0]?.dayTimeProfiles ?? [];
    expect(entries.length).toBe(96);
    expect(entries[24]).toMatchObject({ hour: 6, minute: 0, second: 0, tariffNumber: 2 });
    expect(profile.specialDayProfiles).toMatchObject([
      { year: 2017, month: 11, dayOfMonth: 4, dayId: "1" },
    ]);
  });

  test("a SpecialDayProfile naming no DayProfile is rejected", () => {
    const e = errorOf(() => parseSupplier(data("taf2/supplier_1_month_wrongDayId.xml")));
    expect(e.kind).toBe("UNKNOWN_DAY_ID");
    expect(e.phase).toBe("parse-supplier");
    expect(e.message).toContain("SpecialDayProfile");
    expect(e.message).toContain('"2"');
  });

  test("numeric day ids match regardless of leading zeros", () => {
    const doc = parseSupplier(
      validSupplier.replace(
        "<dayId>1</dayId></SpecialDayProfile>",
        "<dayId>01</dayId></SpecialDayProfile>",
      ),
    );
    expect(doc.analysisProfile.specialDayProfiles[0]?.dayId).toBe("1");
  });

  test("week and season profiles are refused, not ignored", () => {
    const xml = validSupplier.replace(
      "<SpecialDayProfile>",
      "<WeekProfile><weekProfileName>w</weekProfileName></WeekProfile><SpecialDayProfile>",
    );
    expect(errorOf(() => parseSupplier(xml)).kind).toBe("UNSUPPORTED_ELEMENT");
  });
});

describe("bad input gives a TafError naming the problem", () => {
  const cases: [string, () => unknown, string, string?][] = [
    ["empty text", () => parseMeterData(""), "MALFORMED_XML"],
    ["not XML", () => parseSupplier("hello"), "MALFORMED_XML"],
    ["unclosed tag", () => parseMeterData("<UsagePoints><UsagePoint>"), "MALFORMED_XML"],
    [
      "invalid UTF-8",
      () => parseMeterData(new Uint8Array([0x3c, 0xff, 0xfe, 0x3e])),
      "MALFORMED_XML",
    ],
    [
      "a DTD",
      () => parseSupplier('<!DOCTYPE x [<!ENTITY a "aaaa">]><UsagePoints/>'),
      "UNSUPPORTED_XML",
    ],
    ["wrong root", () => parseMeterData("<Invoice/>"), "WRONG_DOCUMENT"],
    ["no UsagePoint", () => parseMeterData("<UsagePoints/>"), "MISSING_ELEMENT"],
    [
      "two UsagePoints",
      () => parseMeterData("<UsagePoints><UsagePoint/><UsagePoint/></UsagePoints>"),
      "DUPLICATE_ELEMENT",
    ],
    [
      "supplier without AnalysisProfile",
      () => parseSupplier(validMeterData),
      "MISSING_ELEMENT",
      "AnalysisProfile",
    ],
    [
      "reading without value",
      () => parseMeterData(validMeterData.replace("<espi:value>0</espi:value>", "")),
      "MISSING_ELEMENT",
      "value",
    ],
    [
      "value not a number",
      () =>
        parseMeterData(
          validMeterData.replace("<espi:value>10</espi:value>", "<espi:value>1O</espi:value>"),
        ),
      "INVALID_ELEMENT",
      "value",
    ],
    [
      "huge value",
      () =>
        parseMeterData(
          validMeterData.replace(
            "<espi:value>10</espi:value>",
            "<espi:value>99999999999999999999</espi:value>",
          ),
        ),
      "INVALID_ELEMENT",
      "value",
    ],
    [
      "value beyond Int48",
      () =>
        parseMeterData(
          validMeterData.replace(
            "<espi:value>10</espi:value>",
            "<espi:value>140737488355328</espi:value>",
          ),
        ),
      "INVALID_ELEMENT",
      "value",
    ],
    [
      "impossible date",
      () =>
        parseMeterData(
          validMeterData.replace(
            "<start>2017-11-04T00:15:00+01:00</start>",
            "<start>2017-11-31T00:15:00+01:00</start>",
          ),
        ),
      "INVALID_ELEMENT",
      "start",
    ],
    [
      "date without time",
      () =>
        parseSupplier(
          validSupplier.replace(
            "<start>2017-11-04T00:00:00+01:00</start>",
            "<start>2017-11-04</start>",
          ),
        ),
      "INVALID_ELEMENT",
      "billingPeriod/start",
    ],
    [
      "negative duration",
      () =>
        parseSupplier(
          validSupplier.replace("<duration>86400</duration>", "<duration>-86400</duration>"),
        ),
      "INVALID_ELEMENT",
      "duration",
    ],
    [
      "missing billing period duration",
      () => parseSupplier(validSupplier.replace("<duration>86400</duration>", "")),
      "MISSING_ELEMENT",
      "duration",
    ],
    [
      "bad OBIS code",
      () => parseSupplier(validSupplier.replace("0100010801FF", "01000108")),
      "INVALID_ELEMENT",
      "obisCode",
    ],
    [
      "bad statusFNN",
      () =>
        parseMeterData(
          validMeterData.replace("</timePeriod>", "</timePeriod><statusFNN>XYZ</statusFNN>"),
        ),
      "INVALID_ELEMENT",
      "statusFNN",
    ],
    [
      "statusPTB out of range",
      () =>
        parseMeterData(
          validMeterData.replace("</timePeriod>", "</timePeriod><statusPTB>256</statusPTB>"),
        ),
      "INVALID_ELEMENT",
      "statusPTB",
    ],
    [
      "hour 24 in a switching time",
      () => parseSupplier(validSupplier.replace("<hour>23</hour>", "<hour>24</hour>")),
      "INVALID_ELEMENT",
      "hour",
    ],
    [
      "30 February as special day",
      () =>
        parseSupplier(
          validSupplier.replace(
            "<month>11</month><day_of_month>4</day_of_month>",
            "<month>2</month><day_of_month>30</day_of_month>",
          ),
        ),
      "INVALID_ELEMENT",
      "day_of_month",
    ],
    [
      "two dayIds in a DayProfile",
      () =>
        parseSupplier(
          validSupplier.replace(
            "<dayId>1</dayId><DayTimeProfile>",
            "<dayId>1</dayId><dayId>2</dayId><DayTimeProfile>",
          ),
        ),
      "DUPLICATE_ELEMENT",
      "dayId",
    ],
    [
      "DayProfile without switching times",
      () => parseSupplier(validSupplier.replace(/<DayTimeProfile>.*<\/DayTimeProfile>/, "")),
      "MISSING_ELEMENT",
      "DayTimeProfile",
    ],
  ];
  for (const [name, run, kind, element] of cases) {
    test(name, () => {
      const e = errorOf(run);
      expect(e.kind).toBe(kind as TafError["kind"]);
      expect(e.message.length).toBeGreaterThan(10);
      if (element !== undefined) expect(e.message).toContain(element);
    });
  }

  test("truncated golden files are rejected at every cut", () => {
    const meter = readFileSync(
      path.join(TRUDI_TAF_DIR, "data", "taf2/result_single_day.xml"),
      "utf8",
    );
    const supplier = readFileSync(
      path.join(TRUDI_TAF_DIR, "data", "taf2/supplier_single_day.xml"),
      "utf8",
    );
    for (const [text, parse] of [
      [meter, parseMeterData],
      [supplier, parseSupplier],
    ] as const) {
      for (let cut = 0; cut < text.length - 30; cut += 997) {
        const e = errorOf(() => parse(text.slice(0, cut)));
        expect(e.kind).toBe("MALFORMED_XML");
      }
    }
  });

  test("documents over the size limit are refused before parsing", () => {
    const e = errorOf(() => parseMeterData(validMeterData, { maxBytes: 1000 }));
    expect(e.kind).toBe("INPUT_TOO_LARGE");
  });

  test("deeply nested elements are refused", () => {
    const xml = `<UsagePoints>${"<a>".repeat(50000)}${"</a>".repeat(50000)}</UsagePoints>`;
    expect(errorOf(() => parseMeterData(xml)).kind).toBe("MALFORMED_XML");
  });
});
