import { describe, expect, test } from "bun:test";
import { parseMeterData } from "@smgw/taf";
import fc from "fast-check";
import { fnnStatusWord } from "./units.ts";
import {
  type Ar2418Document,
  Ar2418Error,
  chooseScaler,
  formatDateTime,
  type MeterReadingInput,
  obisToHex,
  writeAr2418,
} from "./writer.ts";
import { validateAr2418, xmllintPath } from "./xsd.ts";

const haveXmllint = xmllintPath() !== undefined;
if (!haveXmllint) console.warn("xmllint missing (libxml2-utils): XSD checks are skipped");

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0); // 2026-01-01T01:00:00+01:00

function quarterHours(n: number, start = T0, base = 1_000_000.5): MeterReadingInput["readings"] {
  return Array.from({ length: n }, (_, i) => ({
    time: start + i * 900_000,
    value: base + i * 12.5,
    // Every seventh reading with the meter's fatal-error bit (17).
    statusFNN: fnnStatusWord(0x05, i % 7 === 3 ? 0x04 | (1 << 17) : 0x04),
    statusPTB: i % 7 === 3 ? 4 : 0,
  }));
}

const sample: Ar2418Document = {
  generatorVersion: "smgw 0.1.0",
  usagePoint: {
    usagePointId: "1ESY1161234561",
    customerId: "alice",
    invoicingPartyId: "unknown",
    smgwId: "ESMGW1234567",
    firmwareVersion: "0.1.0",
    tariffName: 'Eintarif <TAF1> & "Co"',
    logEntries: [
      {
        recordNumber: 1,
        level: 1,
        outcome: 0,
        text: "Daten an <EMT> gesendet & bestätigt",
        timestamp: T0,
      },
      { recordNumber: 2, level: 3, outcome: 1, text: "x\u0001y\uD800", timestamp: T0 + 1500 },
    ],
    meterReadings: [
      {
        meterId: "1ESY1161234561",
        meterReadingId: "meter-1.0100010800FF",
        obis: "1-0:1.8.0*255",
        unit: "Wh",
        qualifiedLogicalName: "0100010800FF.1ESY1161234561.sm",
        measurementPeriod: 900,
        interval: { start: T0, durationSeconds: 86_400 },
        readings: quarterHours(96),
      },
      {
        meterId: "1ESY1161234561",
        obis: "1-0:16.7.0*255",
        unit: "W",
        readings: [
          { time: T0, value: -250 },
          { time: T0 + 900_000, value: 1234.567 },
        ],
      },
    ],
  },
};

describe("AR 2418-6 writer", () => {
  test("a document validates against the official schema", () => {
    if (!haveXmllint) return;
    const r = validateAr2418([writeAr2418(sample)]);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
  });

  test("round trip through the tariff engine's reader", () => {
    const doc = parseMeterData(writeAr2418(sample));
    expect(doc.usagePointId).toBe("1ESY1161234561");
    expect(doc.customerId).toBe("alice");
    expect(doc.smgwId).toBe("ESMGW1234567");
    expect(doc.tariffName).toBe('Eintarif <TAF1> & "Co"');
    expect(doc.logEntries.map((e) => [e.recordNumber, e.level, e.outcome, e.text])).toEqual([
      [1, 1, 0, "Daten an <EMT> gesendet & bestätigt"],
      [2, 3, 1, "x\uFFFDy\uFFFD"],
    ]);
    expect(doc.logEntries[1]?.timestamp?.instant).toBe(T0 + 1500);
    const [energy, power] = doc.meterReadings;
    expect(energy?.readingType).toMatchObject({
      obisCode: "0100010800FF",
      obis: { a: 1, b: 0, c: 1, d: 8, e: 0, f: 255 },
      uom: 72,
      scaler: -1,
      powerOfTenMultiplier: 0,
      measurementPeriod: 900,
    });
    const block = energy?.intervalBlocks[0];
    expect(block?.intervalStart.instant).toBe(T0);
    expect(block?.intervalDuration).toBe(86_400);
    const readings = quarterHours(96);
    expect(block?.intervalReadings.map((r) => r.value * 10 ** -1)).toEqual(
      readings.map((r) => r.value),
    );
    expect(block?.intervalReadings.map((r) => r.timePeriodStart.instant)).toEqual(
      readings.map((r) => r.time),
    );
    // The FNN word decodes to the PTB status written beside it.
    for (const r of block?.intervalReadings ?? []) expect(r.statusFNNAsPTB).toBe(r.statusPTB);
    expect(block?.intervalReadings.filter((r) => r.statusPTB === 4)).toHaveLength(14);
    expect(power?.readingType).toMatchObject({ uom: 38, scaler: -3 });
    expect(power?.intervalBlocks[0]?.intervalReadings.map((r) => r.value)).toEqual([
      -250_000, 1_234_567,
    ]);
  });

  test("times are written in German legal time", () => {
    expect(formatDateTime(Date.UTC(2026, 0, 1, 0, 0, 0))).toBe("2026-01-01T01:00:00+01:00");
    expect(formatDateTime(Date.UTC(2026, 6, 1, 10, 15, 0, 250))).toBe(
      "2026-07-01T12:15:00.250+02:00",
    );
    // The last Sunday of March 2026 is the 29th; summer time starts at 01:00 UTC.
    expect(formatDateTime(Date.UTC(2026, 2, 29, 0, 59, 59))).toBe("2026-03-29T01:59:59+01:00");
    expect(formatDateTime(Date.UTC(2026, 2, 29, 1, 0, 0))).toBe("2026-03-29T03:00:00+02:00");
  });

  test("scaler and OBIS helpers", () => {
    expect(chooseScaler([1, 2, 3])).toBe(0);
    expect(chooseScaler([1.5, 2])).toBe(-1);
    expect(chooseScaler([0.125])).toBe(-3);
    expect(chooseScaler([0.1 + 0.2])).toBe(-6);
    expect(chooseScaler([2 ** 50])).toBe(1);
    expect(obisToHex("1-0:2.8.1*255")).toBe("0100020801FF");
    expect(obisToHex("0100010800ff")).toBe("0100010800FF");
  });

  test.each([
    ["a value that is not finite", { value: Number.NaN }, "IntervalReading[1]/value: not finite"],
    ["a value beyond Int48", { value: 1e300 }, "does not fit an Int48"],
    ["a time before 1970", { time: -1 }, "not a time between 1970 and 9999"],
    ["a time that is not one", { time: Number.POSITIVE_INFINITY }, "not a time"],
    ["a short FNN word", { statusFNN: "0102" }, "statusFNN: the FNN status word must be 16 hex"],
    ["a PTB status above 4", { statusPTB: 5 }, "statusPTB: 5 is not an integer from 0 to 4"],
  ])("refuses %s", (_name, patch, message) => {
    const bad = structuredClone(sample);
    const m = bad.usagePoint.meterReadings[1] as MeterReadingInput;
    const readings = [{ ...m.readings[0], ...patch } as MeterReadingInput["readings"][number]];
    (bad.usagePoint.meterReadings as MeterReadingInput[])[1] = { ...m, readings, scaler: 0 };
    expect(() => writeAr2418(bad)).toThrow(Ar2418Error);
    expect(() => writeAr2418(bad)).toThrow(message);
  });

  test.each([
    [
      "an overlong meter id",
      (d: Ar2418Document) => ({
        ...d,
        usagePoint: {
          ...d.usagePoint,
          meterReadings: [
            { ...(d.usagePoint.meterReadings[1] as MeterReadingInput), meterId: "x".repeat(65) },
          ],
        },
      }),
      "MeterReading[1]/Meter/meterId: longer than 64",
    ],
    [
      "a smgwId with a control character",
      (d: Ar2418Document) => ({ ...d, usagePoint: { ...d.usagePoint, smgwId: "a\u0007" } }),
      "SMGW/smgwId: holds a character",
    ],
    [
      "a bad OBIS code",
      (d: Ar2418Document) => ({
        ...d,
        usagePoint: {
          ...d.usagePoint,
          meterReadings: [
            { ...(d.usagePoint.meterReadings[1] as MeterReadingInput), obis: "1-0:1.8.0*256" },
          ],
        },
      }),
      "obisCode: not an OBIS code",
    ],
    [
      "a unit without ESPI code",
      (d: Ar2418Document) => ({
        ...d,
        usagePoint: {
          ...d.usagePoint,
          meterReadings: [
            { ...(d.usagePoint.meterReadings[1] as MeterReadingInput), unit: "furlong" },
          ],
        },
      }),
      "ReadingType/uom: the unit has no ESPI unit code",
    ],
    [
      "a log level 7",
      (d: Ar2418Document) => ({
        ...d,
        usagePoint: { ...d.usagePoint, logEntries: [{ level: 7 as 1, text: "", timestamp: T0 }] },
      }),
      "LogEntry[1]/LogEvent/level",
    ],
  ])("refuses %s", (_name, edit, message) => {
    expect(() => writeAr2418(edit(sample))).toThrow(message);
  });

  test("random documents are valid and read back the same (fast-check)", () => {
    // Log texts may hold anything (what XML cannot carry is replaced); identifiers may not.
    const text = fc.string({ unit: "binary", maxLength: 40 });
    const identifier = fc.stringMatching(/^[A-Za-z0-9 äöüß<>&"'.:-]{0,64}$/);
    const reading = fc.record({
      time: fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }),
      value: fc.oneof(
        fc.integer({ min: -1e12, max: 1e12 }),
        fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true }),
      ),
      meterWord: fc.integer({ min: 0, max: 0xffffffff }),
    });
    const docs: string[] = [];
    fc.assert(
      fc.property(
        fc.record({
          customerId: identifier,
          tariffName: identifier,
          log: fc.array(
            fc.record({
              text,
              level: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>,
              timestamp: fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }),
            }),
            { maxLength: 4 },
          ),
          meters: fc.array(
            fc.record({
              obis: fc.tuple(...Array.from({ length: 6 }, () => fc.integer({ min: 0, max: 255 }))),
              unit: fc.constantFrom("Wh", "kWh", "W", "varh", "V", "A", "Hz", "m³", "°C"),
              readings: fc.array(reading, { maxLength: 20 }),
            }),
            { maxLength: 3 },
          ),
        }),
        (r) => {
          const doc: Ar2418Document = {
            usagePoint: {
              customerId: r.customerId,
              tariffName: r.tariffName,
              logEntries: r.log,
              meterReadings: r.meters.map((m) => ({
                obis: `${m.obis[0]}-${m.obis[1]}:${m.obis[2]}.${m.obis[3]}.${m.obis[4]}*${m.obis[5]}`,
                unit: m.unit,
                readings: m.readings.map((x) => ({
                  time: x.time,
                  value: x.value,
                  statusFNN: fnnStatusWord(0x05, x.meterWord),
                })),
              })),
            },
          };
          const xml = writeAr2418(doc);
          if (docs.length < 60) docs.push(xml);
          const back = parseMeterData(xml);
          expect(back.meterReadings).toHaveLength(r.meters.length);
          back.meterReadings.forEach((m, i) => {
            const scaler = m.readingType.scaler ?? 0;
            const input = r.meters[i]?.readings ?? [];
            const got = m.intervalBlocks[0]?.intervalReadings ?? [];
            expect(got.map((g) => g.timePeriodStart.instant)).toEqual(input.map((x) => x.time));
            got.forEach((g, j) => {
              const want = input[j]?.value ?? 0;
              // Exact down to the chosen scaler's resolution.
              expect(Math.abs(g.value * 10 ** scaler - want)).toBeLessThanOrEqual(
                10 ** scaler / 2 + Math.abs(want) * 1e-12,
              );
            });
          });
        },
      ),
      { numRuns: 300 },
    );
    if (haveXmllint) expect(validateAr2418(docs).errors).toEqual([]);
  });
});
