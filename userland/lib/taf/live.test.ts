// The live engine: MeasurementSeries (TAF7 points from unaligned readings) and the TAF1/TAF2
// accumulators, checked against the batch engine on the equivalent AR 2418-6 documents.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { writeAr2418 } from "@smgw/ar2418";
import fc from "fast-check";
import { TafError } from "./errors.ts";
import {
  accumulatorFromJSON,
  createAccumulator,
  followingBillingPeriod,
  type LiveReading,
  LiveStateError,
  MeasurementSeries,
  meterStatusToPtb,
  type PeriodResult,
  type SeriesPoint,
  Taf1Accumulator,
  Taf2Accumulator,
  toIntervalReadings,
} from "./live.ts";
import { parseMeterData } from "./meter-data.ts";
import type {
  AnalysisProfile,
  DayProfile,
  IntervalReading,
  MeterDataDocument,
  MeterReading,
  SpecialDayProfile,
  SupplierDocument,
} from "./model.ts";
import { obisHex, parseObis } from "./obis.ts";
import type { BillingResult } from "./registers.ts";
import { parseSupplier } from "./supplier.ts";
import { calculateTaf1 } from "./taf1.ts";
import { calculateTaf2 } from "./taf2.ts";
import { TRUDI_TAF_DIR } from "./test-helpers.ts";
import {
  addMonthsWall,
  DAY,
  formatBerlin,
  HOUR,
  MINUTE,
  parseDateTime,
  SECOND,
  type Timestamp,
  timestampOfInstant,
  timestampOfWall,
  wallDate,
  wallOfDate,
  wallParts,
} from "./time.ts";
import { alignToGrid, isOriginalValueList, measurementPeriodOf } from "./value-list.ts";

const IMPORT = "1-0:1.8.0*255";
const EXPORT = "1-0:2.8.0*255";
const METER_ID = "1TST0000000001";
/** Meter (BZ) status word bits, as the meter sends them. */
const BZ_MANIPULATION = 1 << 10;
const BZ_FATAL = 1 << 17;
/** Generous: the machine running CI may be slow. */
const PROPERTY_TIMEOUT = 60_000;

function at(text: string): number {
  const t = parseDateTime(text);
  if (t === undefined) throw new Error(`bad time ${text}`);
  return t.instant;
}

function reading(capturedAt: number, value: number, status = 0, obis = IMPORT): LiveReading {
  return { obis, value, unit: "Wh", capturedAt, status };
}

function roundTrip<T>(value: { toJSON(): T }): unknown {
  return JSON.parse(JSON.stringify(value.toJSON()));
}

/** Deterministic pseudo-random numbers (mulberry32) for the bulk of generated data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function int(rng: () => number, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

// ---------------------------------------------------------------------------------------------
// Equivalent documents

interface ListPoints {
  obis: string;
  points: readonly SeriesPoint[];
  periodSeconds: number;
}

function within(points: readonly SeriesPoint[], span: { start: Timestamp; end: Timestamp }) {
  return points.filter((p) => p.time >= span.start.instant && p.time <= span.end.instant);
}

/** The meter-data document of the points, built as model objects. */
function meterDataOf(lists: readonly ListPoints[]): MeterDataDocument {
  const meterReadings = lists.map((l, i): MeterReading => {
    const obis = parseObis(l.obis);
    if (obis === undefined) throw new Error(l.obis);
    const hex = obisHex(obis);
    const readings = toIntervalReadings(l.points).map(
      (r): IntervalReading => ({
        value: r.value,
        timePeriodStart: timestampOfInstant(r.time),
        timePeriodDuration: 0,
        targetTime: undefined,
        statusPTB: r.statusPTB,
        statusFNN: undefined,
        statusFNNAsPTB: undefined,
      }),
    );
    const first = readings[0]?.timePeriodStart.instant ?? 0;
    const last = readings[readings.length - 1]?.timePeriodStart.instant ?? 0;
    return {
      position: i + 1,
      meterId: METER_ID,
      meterReadingId: `${hex}.${METER_ID}.${i}`,
      readingType: {
        obisCode: hex,
        obis,
        qualifiedLogicalName: `${hex}.${METER_ID}.sm`,
        uom: 72,
        scaler: 0,
        powerOfTenMultiplier: 0,
        intervalLength: undefined,
        measurementPeriod: l.periodSeconds,
      },
      intervalBlocks: [
        {
          intervalStart: timestampOfInstant(first),
          intervalDuration: (last - first) / SECOND,
          intervalReadings: readings,
        },
      ],
    };
  });
  return {
    usagePointId: "TEST",
    tariffName: undefined,
    serviceCategoryKind: 0,
    customerId: undefined,
    invoicingPartyId: undefined,
    smgwId: undefined,
    analysisProfile: undefined,
    logEntries: [],
    meterReadings,
  };
}

/** The same document written by lib/ar2418 and read back. */
function meterDataXmlOf(lists: readonly ListPoints[]): MeterDataDocument {
  const xml = writeAr2418({
    usagePoint: {
      usagePointId: "TEST",
      smgwId: "ETST0000000001",
      meterReadings: lists.map((l) => {
        const hex = obisHex(parseObis(l.obis) as NonNullable<ReturnType<typeof parseObis>>);
        return {
          meterId: METER_ID,
          obis: l.obis,
          unit: "Wh",
          scaler: 0,
          qualifiedLogicalName: `${hex}.${METER_ID}.sm`,
          measurementPeriod: l.periodSeconds,
          readings: toIntervalReadings(l.points),
        };
      }),
    },
  });
  return parseMeterData(xml);
}

/** The supplier document with another billing period (for rolled-over periods). */
function withPeriod(
  supplier: SupplierDocument,
  span: { start: Timestamp; end: Timestamp },
  specialDayProfiles?: readonly SpecialDayProfile[],
): SupplierDocument {
  const profile = supplier.analysisProfile;
  return {
    ...supplier,
    analysisProfile: {
      ...profile,
      billingPeriod: {
        start: span.start,
        end: span.end,
        durationSeconds: (span.end.instant - span.start.instant) / SECOND,
      },
      specialDayProfiles: specialDayProfiles ?? profile.specialDayProfiles,
    },
  };
}

function batch(calculate: () => BillingResult): BillingResult | TafError {
  try {
    return calculate();
  } catch (error) {
    if (error instanceof TafError) return error;
    throw error;
  }
}

/** Live and batch agree: same registers, amounts, begin/end, or the same error kind. */
function expectSame(live: PeriodResult, expected: BillingResult | TafError): void {
  if (expected instanceof TafError) {
    expect({ error: live.error?.kind }).toEqual({ error: expected.kind });
    for (const r of live.registers) expect(r.amount).toBe(0);
    return;
  }
  expect({ error: live.error }).toEqual({ error: undefined });
  expect(
    live.registers.map((r) => ({ obis: r.obis, tariffId: r.tariffStage, amount: r.amount })),
  ).toEqual([...expected.registers]);
  expect({ begin: live.begin, end: live.end }).toEqual({
    begin: expected.begin,
    end: expected.end,
  });
}

// ---------------------------------------------------------------------------------------------
// Generated readings

interface ReadingPlan {
  from: number;
  to: number;
  periodSeconds: number;
  /** Probability that a boundary has no reading within the tolerance. */
  gapRate: number;
  /** Probability that the reading at a boundary has a critical or fatal status. */
  invalidRate: number;
  /** Boundaries whose reading is forced: "ok", "missing" or "invalid". */
  forced?: ReadonlyMap<number, "ok" | "missing" | "invalid">;
  obis?: string;
}

/**
 * Readings of a cumulative register: around each boundary one or two readings (exactly on it,
 * jittered within the tolerance, at its edges, or just outside it), sometimes one between
 * boundaries. The register grows by random steps, sometimes by nothing.
 */
function generateReadings(rng: () => number, plan: ReadingPlan): LiveReading[] {
  const period = plan.periodSeconds * SECOND;
  const tol = plan.periodSeconds * 10;
  const obis = plan.obis ?? IMPORT;
  const out: LiveReading[] = [];
  let counter = int(rng, 0, 5_000_000);
  const first = Math.ceil(plan.from / period) * period;
  for (let b = first; b <= plan.to; b += period) {
    const forced = plan.forced?.get(b);
    const mark =
      forced ?? (rng() < plan.gapRate ? "missing" : rng() < plan.invalidRate ? "invalid" : "ok");
    const status = mark === "invalid" ? pick(rng, [BZ_MANIPULATION, BZ_FATAL]) : 0x182;
    if (mark === "missing") {
      const outside = rng();
      if (outside < 0.3) out.push(reading(b - tol - int(rng, 1, tol), counter, 0, obis));
      else if (outside < 0.6) out.push(reading(b + tol + int(rng, 1, tol), counter, 0, obis));
    } else {
      const style = rng();
      if (style < 0.4) out.push(reading(b, counter, status, obis));
      else if (style < 0.55) out.push(reading(b - tol, counter, status, obis));
      else if (style < 0.7) out.push(reading(b + tol, counter, status, obis));
      else if (style < 0.85) out.push(reading(b + int(rng, -tol, tol), counter, status, obis));
      else {
        // Two readings within the tolerance: the nearer one is taken.
        out.push(reading(b - int(rng, 1, tol), counter, status, obis));
        out.push(reading(b + int(rng, 1, tol), counter, status, obis));
      }
    }
    const step = rng() < 0.2 ? 0 : int(rng, 1, 400);
    if (rng() < 0.3) {
      out.push(reading(b + period / 2 + int(rng, -period / 8, period / 8), counter + 1, 0, obis));
    }
    counter += step + 1;
  }
  return out.filter((r) => (r.capturedAt as number) >= plan.from);
}

/** Feeds readings through a series; optionally saves and resumes it at random places. */
function seriesPoints(
  rng: () => number,
  readings: readonly LiveReading[],
  periodSeconds: number,
  flushTo: number,
  obis = IMPORT,
): SeriesPoint[] {
  let series = new MeasurementSeries({ obis, periodSeconds });
  const points: SeriesPoint[] = [];
  for (const r of readings) {
    const result = series.add(r);
    if (!result.ok) throw new Error(result.message);
    points.push(...result.points);
    if (rng() < 0.001) series = MeasurementSeries.fromJSON(roundTrip(series));
  }
  points.push(...series.advanceTo(flushTo));
  return points;
}

// ---------------------------------------------------------------------------------------------
// Supplier documents

const GOLDEN_TAF2_SUPPLIERS = [
  "supplier_single_day.xml",
  "supplier_single_day_4.xml",
  "supplier_single_day_dst_oct.xml",
  "supplier_single_day_maxTariffChange.xml",
  "supplier_1_day_4_to_22.xml",
  "supplier_2_day.xml",
  "supplier_5_day.xml",
  "supplier_five_days.xml",
  "supplier_1_month.xml",
  "supplier_1_month_lastTariffChangeAt18.xml",
  "many_gaps_supplier_2017-10-26.xml",
].map((name) => ({
  name,
  supplier: parseSupplier(readFileSync(path.join(TRUDI_TAF_DIR, "data", "taf2", name))),
}));

function entry(secondsOfDay: number, tariffNumber: number) {
  return {
    hour: Math.floor(secondsOfDay / 3600),
    minute: Math.floor((secondsOfDay % 3600) / 60),
    second: secondsOfDay % 60,
    hundreds: 0,
    secondsOfDay,
    tariffNumber,
  };
}

function stage(tariffNumber: number, obisCode: string) {
  const obis = parseObis(obisCode);
  if (obis === undefined) throw new Error(obisCode);
  return { tariffNumber, description: undefined, obisCode, obis };
}

function special(date: number, dayId: string): SpecialDayProfile {
  const p = wallParts(date);
  return { year: p.year, month: p.month, dayOfMonth: p.day, date, dayId };
}

function randomDayProfile(
  rng: () => number,
  dayId: string,
  tariffs: number[],
  kinds = ["quarter", "alternating", "sparse", "sparse", "early"],
): DayProfile {
  const kind = pick(rng, kinds);
  const entries: { secondsOfDay: number; tariff: number }[] = [];
  if (kind === "sparse") {
    const times = new Set<number>();
    if (rng() < 0.8) times.add(0);
    const n = int(rng, 1, 6);
    for (let i = 0; i < n; i++) {
      const minute = int(rng, 0, 1439);
      // Mostly on the quarter-hour grid, sometimes off it (no reading there: a gap).
      times.add(rng() < 0.7 ? Math.floor(minute / 15) * 900 : minute * 60 + int(rng, 0, 59));
    }
    // A last entry after 23:45: the day then closes after midnight.
    if (rng() < 0.3) times.add(23 * 3600 + int(rng, 46, 59) * 60);
    for (const t of [...times].sort((a, b) => a - b)) {
      entries.push({ secondsOfDay: t, tariff: pick(rng, tariffs) });
    }
  } else {
    const last = kind === "early" ? int(rng, 4, 95) : 95;
    let tariff = pick(rng, tariffs);
    for (let q = 0; q <= last; q++) {
      if (rng() < (kind === "alternating" ? 0.5 : 0.08)) tariff = pick(rng, tariffs);
      entries.push({ secondsOfDay: q * 900, tariff });
    }
  }
  return { dayId, dayTimeProfiles: entries.map((e) => entry(e.secondsOfDay, e.tariff)) };
}

/** Days of a DST change: 2017-10-29, 2026-03-29, 2026-10-25, 2027-03-28. */
const DST_DAYS = [
  wallOfDate(2017, 10, 29),
  wallOfDate(2026, 3, 29),
  wallOfDate(2026, 10, 25),
  wallOfDate(2027, 3, 28),
];

const DST_AREAS = [
  "2017-10-26T00:00:00+02:00",
  "2017-11-01T00:00:00+01:00",
  "2026-03-26T00:00:00+01:00",
  "2026-10-22T00:00:00+02:00",
  "2027-03-25T00:00:00+01:00",
];

/**
 * A TAF2 tariff near a DST change: random day profiles, calendar and billing period. With
 * `dst`, the billing period holds a DST change day and the tariff switches often, also in the
 * hour that is skipped or repeated.
 */
function randomTaf2Supplier(rng: () => number, dst = false): SupplierDocument {
  const base = parseDateTime(pick(rng, DST_AREAS)) as Timestamp;
  const startDate = dst
    ? pick(rng, DST_DAYS) - int(rng, 0, 1) * DAY
    : wallDate(base.wall) + int(rng, 0, 4) * DAY;
  const startWall = rng() < 0.8 || dst ? startDate : startDate + int(rng, 0, 95) * 15 * MINUTE;
  const start = timestampOfWall(startWall);
  const days = dst ? 2 : int(rng, 1, 4);
  const kinds = dst ? ["alternating"] : undefined;
  const durationSeconds =
    rng() < 0.8
      ? (timestampOfWall(startWall + days * DAY).instant - start.instant) / SECOND
      : int(rng, 4, days * 96) * 900;
  const stages = [stage(1, "1-0:1.8.1*255"), stage(2, "1-0:1.8.2*255")];
  if (rng() < 0.3) stages.push(stage(5, "1-0:1.8.5*255"));
  if (rng() < 0.3) stages.push(stage(3, "1-0:2.8.1*255"));
  const importTariffs = stages.filter((s) => s.obis.c === 1).map((s) => s.tariffNumber);
  const dayProfiles = [randomDayProfile(rng, "1", importTariffs, kinds)];
  if (rng() < 0.5) dayProfiles.push(randomDayProfile(rng, "2", importTariffs, kinds));
  if (stages.some((s) => s.obis.c === 2)) dayProfiles.push(randomDayProfile(rng, "9", [3]));
  const specialDayProfiles: SpecialDayProfile[] = [];
  for (let d = startDate - 2 * DAY; d <= startDate + 3 * days * DAY + 2 * DAY; d += DAY) {
    const r = rng();
    if (r < 0.08) continue;
    specialDayProfiles.push(special(d, pick(rng, dayProfiles).dayId));
    if (r > 0.95) specialDayProfiles.push(special(d, pick(rng, dayProfiles).dayId));
  }
  if (rng() < 0.5) specialDayProfiles.reverse();
  const profile: AnalysisProfile = {
    tariffUseCase: 2,
    tariffId: "random",
    description: undefined,
    billingPeriod: {
      start,
      durationSeconds,
      end: timestampOfInstant(start.instant + durationSeconds * SECOND),
    },
    tariffStages: stages,
    defaultTariffNumber: 1,
    dayProfiles,
    specialDayProfiles,
  };
  return {
    usagePointId: "TEST",
    tariffName: "random",
    serviceCategoryKind: 0,
    customerId: undefined,
    invoicingPartyId: undefined,
    smgwId: undefined,
    analysisProfile: profile,
  };
}

/** A TAF1 tariff: one stage per list, one SpecialDayProfile per day of the billing period. */
function taf1Supplier(startWall: number, months: number, lists: 1 | 2): SupplierDocument {
  const start = timestampOfWall(startWall);
  const end = timestampOfWall(addMonthsWall(startWall, months));
  const stages = [stage(1, "1-0:1.8.1*255")];
  const dayProfiles: DayProfile[] = [{ dayId: "1", dayTimeProfiles: [entry(0, 1)] }];
  if (lists === 2) {
    stages.push(stage(2, "1-0:2.8.1*255"));
    dayProfiles.push({ dayId: "2", dayTimeProfiles: [entry(0, 2)] });
  }
  return {
    usagePointId: "TEST",
    tariffName: "taf1",
    serviceCategoryKind: 0,
    customerId: undefined,
    invoicingPartyId: undefined,
    smgwId: undefined,
    analysisProfile: {
      tariffUseCase: 1,
      tariffId: "taf1",
      description: undefined,
      billingPeriod: {
        start,
        end,
        durationSeconds: (end.instant - start.instant) / SECOND,
      },
      tariffStages: stages,
      defaultTariffNumber: 1,
      dayProfiles,
      specialDayProfiles: taf1Calendar({ start, end }, lists),
    },
  };
}

function taf1Calendar(
  span: { start: Timestamp; end: Timestamp },
  lists: 1 | 2,
): SpecialDayProfile[] {
  const out: SpecialDayProfile[] = [];
  for (let d = wallDate(span.start.wall); d < span.end.wall; d += DAY) {
    out.push(special(d, "1"));
    if (lists === 2) out.push(special(d, "2"));
  }
  return out;
}

// =============================================================================================
// MeasurementSeries

describe("MeasurementSeries", () => {
  const T0 = at("2026-01-15T10:00:00+01:00");
  const Q = 15 * MINUTE;
  const TOL = 9 * SECOND;

  test("the tolerance is 1 % of the period; the period must divide an hour", () => {
    expect(new MeasurementSeries({ obis: IMPORT }).toleranceMs).toBe(9000);
    expect(new MeasurementSeries({ obis: IMPORT, periodSeconds: 10 }).toleranceMs).toBe(100);
    for (const bad of [0, 7, 7200, 86400, 1.5, -900]) {
      expect(() => new MeasurementSeries({ obis: IMPORT, periodSeconds: bad })).toThrow(RangeError);
    }
    expect(() => new MeasurementSeries({ obis: "nonsense" })).toThrow(RangeError);
  });

  test("points at each quarter hour from readings every few seconds", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    const points: SeriesPoint[] = [];
    // A reading every 7 s from 09:59:53 to 10:31:00, value = seconds since T0.
    for (let t = T0 - 7 * SECOND; t <= T0 + 31 * MINUTE; t += 7 * SECOND) {
      const r = series.add(reading(t, (t - T0) / SECOND + 1000));
      expect(r.ok).toBe(true);
      if (r.ok) points.push(...r.points);
    }
    expect(points.map((p) => p.time)).toEqual([T0, T0 + Q, T0 + 2 * Q]);
    // 10:00:00 is a reading time; of 10:14:56 and 10:15:03 the later one is nearer to 10:15;
    // of 10:29:59 and 10:30:06 the earlier one to 10:30.
    expect(points.map((p) => p.value)).toEqual([1000, 1000 + 903, 1000 + 1799]);
    expect(points.every((p) => p.quality === "ok" && p.statusPTB === 0)).toBe(true);
    expect(points[1]?.capturedAt).toBe(T0 + 903 * SECOND);
    // Boundaries are Berlin quarter hours.
    expect(new Date(T0 + Q).toISOString()).toBe("2026-01-15T09:15:00.000Z");
  });

  test("the first point is the first boundary the first reading can be registered for", () => {
    const a = new MeasurementSeries({ obis: IMPORT });
    const r = a.add(reading(T0 + TOL, 5));
    expect(r.ok && r.points.map((p) => [p.time, p.value])).toEqual([[T0, 5]]);
    const b = new MeasurementSeries({ obis: IMPORT });
    const s = b.add(reading(T0 + TOL + 1, 5));
    expect(s.ok && s.points).toEqual([]);
    expect(b.pendingBoundary).toBe(T0 + Q);
  });

  test("tolerance edges: exactly ±1 % is in, 1 ms more is out", () => {
    const cases: [number, "ok" | "missing"][] = [
      [-TOL, "ok"],
      [TOL, "ok"],
      [-TOL - 1, "missing"],
      [TOL + 1, "missing"],
      [0, "ok"],
    ];
    for (const [offset, quality] of cases) {
      const series = new MeasurementSeries({ obis: IMPORT });
      const b = T0 + Q;
      series.add(reading(T0, 1));
      const r = series.add(reading(b + offset, 2));
      const flushed = series.advanceTo(b + Q);
      const points = [...(r.ok ? r.points : []), ...flushed];
      const point = points.find((p) => p.time === b);
      expect({ offset, quality: point?.quality }).toEqual({ offset, quality });
      expect(point?.value).toBe(quality === "ok" ? 2 : undefined);
    }
  });

  test("the nearest reading wins; of two at the same distance the earlier", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    const b = T0 + Q;
    series.add(reading(T0, 0));
    series.add(reading(b - 3 * SECOND, 10));
    const r1 = series.add(reading(b + 2 * SECOND, 20));
    expect(r1.ok && r1.points.map((p) => p.value)).toEqual([20]);
    series.add(reading(b + Q - 2 * SECOND, 30));
    const r2 = series.add(reading(b + Q + 2 * SECOND, 40));
    expect(r2.ok && r2.points.map((p) => p.value)).toEqual([30]);
  });

  test("a boundary waits until no later reading can be nearer", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    const b = T0 + Q;
    series.add(reading(T0, 0));
    const r = series.add(reading(b - 4 * SECOND, 10));
    expect(r.ok && r.points).toEqual([]);
    // A reading 3 s after b is nearer: it is taken.
    const r2 = series.add(reading(b + 3 * SECOND, 11));
    expect(r2.ok && r2.points.map((p) => p.value)).toEqual([11]);
  });

  test("a missing point is emitted once it is known to be missing", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    const b = T0 + Q;
    series.add(reading(T0, 0));
    series.add(reading(b - 20 * SECOND, 10));
    // Not yet known: a reading may still come within b + 9 s.
    expect(series.advanceTo(b + TOL)).toEqual([]);
    const missing = series.advanceTo(b + TOL + 1);
    expect(missing).toEqual([
      {
        obis: IMPORT,
        unit: "Wh",
        time: b,
        value: undefined,
        quality: "missing",
        statusPTB: undefined,
        status: undefined,
        capturedAt: undefined,
      },
    ]);
    // After advanceTo, earlier readings are refused.
    const late = series.add(reading(b + 5 * SECOND, 11));
    expect(late).toMatchObject({ ok: false, reason: "out-of-order" });
    // A later reading far away: each skipped boundary is emitted as missing, in order.
    const r = series.add(reading(b + 3 * Q + SECOND, 40));
    expect(r.ok && r.points.map((p) => [p.time - b, p.quality])).toEqual([
      [Q, "missing"],
      [2 * Q, "missing"],
      [3 * Q, "ok"],
    ]);
  });

  test("advanceTo before the first reading emits nothing", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    expect(series.advanceTo(T0 + DAY)).toEqual([]);
    expect(series.add(reading(T0, 1))).toMatchObject({ ok: false, reason: "out-of-order" });
    expect(series.add(reading(T0 + DAY, 1))).toMatchObject({ ok: true });
  });

  test("critical and fatal meter status words give invalid points", () => {
    expect(meterStatusToPtb(0)).toBe(0);
    expect(meterStatusToPtb(0x182)).toBe(0);
    expect(meterStatusToPtb(BZ_MANIPULATION)).toBe(3);
    expect(meterStatusToPtb(1 << 9)).toBe(3);
    expect(meterStatusToPtb(BZ_FATAL | BZ_MANIPULATION)).toBe(4);
    const series = new MeasurementSeries({ obis: IMPORT });
    const points: SeriesPoint[] = [];
    for (const [i, status] of [0x182, BZ_MANIPULATION, BZ_FATAL, 0].entries()) {
      const r = series.add(reading(T0 + i * Q, 100 + i, status));
      if (r.ok) points.push(...r.points);
    }
    points.push(...series.advanceTo(T0 + 4 * Q));
    expect(points.map((p) => [p.quality, p.statusPTB, p.value])).toEqual([
      ["ok", 0, 100],
      ["invalid", 3, 101],
      ["invalid", 4, 102],
      ["ok", 0, 103],
    ]);
    expect(points[2]?.status).toBe(BZ_FATAL);
    // Invalid points are written with their status, missing ones left out.
    expect(toIntervalReadings(points).map((r) => r.statusPTB)).toEqual([0, 3, 4, 0]);
  });

  test("a custom status mapping; results outside 0..4 count as fatal", () => {
    const series = new MeasurementSeries({
      obis: IMPORT,
      statusToPtb: (s) => (s === 1 ? 2 : s === 2 ? 99 : 0),
    });
    const points: SeriesPoint[] = [];
    for (const [i, status] of [1, 2].entries()) {
      const r = series.add(reading(T0 + i * Q, i, status));
      if (r.ok) points.push(...r.points);
    }
    points.push(...series.advanceTo(T0 + 2 * Q));
    expect(points.map((p) => [p.quality, p.statusPTB])).toEqual([
      ["ok", 2],
      ["invalid", 4],
    ]);
  });

  test("out-of-order, duplicate and malformed readings are refused without harm", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    series.add(reading(T0 - 2 * SECOND, 1));
    const decided = series.add(reading(T0 + 3 * SECOND, 2));
    expect(decided.ok && decided.points.map((p) => [p.time, p.value])).toEqual([[T0, 1]]);
    const before = JSON.stringify(series.toJSON());
    const refusals = [
      [series.add(reading(T0 + 3 * SECOND, 2)), "duplicate"],
      [series.add(reading(T0 + 3 * SECOND, 5)), "duplicate"],
      [series.add(reading(T0, 3)), "out-of-order"],
      [series.add(reading(T0 + 4 * SECOND, 3, 0, EXPORT)), "wrong-register"],
      [series.add({ ...reading(T0 + 4 * SECOND, 3), unit: "kWh" }), "wrong-unit"],
      [series.add(reading(T0 + 4 * SECOND, Number.NaN)), "invalid-value"],
      [series.add(reading(Number.NaN, 3)), "invalid-time"],
      [series.add({ ...reading(T0 + 4 * SECOND, 3), capturedAt: new Date("x") }), "invalid-time"],
      [series.add(reading(T0 + 4 * SECOND, 3, -1)), "invalid-status"],
    ] as const;
    for (const [result, reason] of refusals) {
      expect(result).toMatchObject({ ok: false, reason });
      if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
    }
    expect(JSON.stringify(series.toJSON())).toBe(before);
    // The series goes on as if nothing happened; the hex OBIS form and Dates are accepted.
    const r = series.add({
      obis: "0100010800FF",
      value: 9,
      unit: "Wh",
      capturedAt: new Date(T0 + Q),
      status: 0,
    });
    expect(r.ok && r.points.map((p) => [p.time, p.value])).toEqual([[T0 + Q, 9]]);
  });

  test("saved mid-period and resumed, the series gives the same points", () => {
    const rng = random(7);
    const readings = generateReadings(rng, {
      from: T0,
      to: T0 + 6 * HOUR,
      periodSeconds: 900,
      gapRate: 0.1,
      invalidRate: 0.1,
    });
    const straight = seriesPoints(random(1), readings, 900, T0 + 7 * HOUR);
    for (const cut of [1, 5, Math.floor(readings.length / 2), readings.length - 1]) {
      let series = new MeasurementSeries({ obis: IMPORT });
      const points: SeriesPoint[] = [];
      readings.forEach((r, i) => {
        if (i === cut) {
          const saved = JSON.stringify(series.toJSON());
          series = MeasurementSeries.fromJSON(JSON.parse(saved));
          expect(JSON.stringify(series.toJSON())).toBe(saved);
        }
        const result = series.add(r);
        if (result.ok) points.push(...result.points);
      });
      points.push(...series.advanceTo(T0 + 7 * HOUR));
      expect(points).toEqual(straight);
    }
  });

  test("a damaged saved state is refused", () => {
    const series = new MeasurementSeries({ obis: IMPORT });
    series.add(reading(T0, 1));
    const good = series.toJSON();
    for (const bad of [
      null,
      { ...good, version: 99 },
      { ...good, kind: "taf2" },
      { ...good, next: "x" },
      { ...good, next: (good.next as number) + 1 },
      { ...good, last: null },
      { ...good, next: T0 - 900 * SECOND },
    ]) {
      expect(() => MeasurementSeries.fromJSON(bad)).toThrow(LiveStateError);
    }
    expect(() => MeasurementSeries.fromJSON({ ...good, periodSeconds: 7 })).toThrow(RangeError);
  });

  test("host mode: 10 s periods with 100 ms tolerance", () => {
    const series = new MeasurementSeries({ obis: IMPORT, periodSeconds: 10 });
    const points: SeriesPoint[] = [];
    for (const [t, v] of [
      [T0 + 100, 1],
      [T0 + 4_000, 2],
      [T0 + 10_050, 3],
      [T0 + 19_850, 4],
      [T0 + 30_101, 5],
    ] as const) {
      const r = series.add(reading(t, v));
      if (r.ok) points.push(...r.points);
    }
    expect(points.map((p) => [p.time - T0, p.value ?? null])).toEqual([
      [0, 1],
      [10_000, 3],
      [20_000, null],
      [30_000, null],
    ]);
  });

  test(
    "property: each point is the nearest reading within ±1 % of its boundary",
    () => {
      fc.assert(
        fc.property(
          fc.integer(),
          fc.constantFrom(10, 60, 900),
          fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 300 }),
          (seed, periodSeconds, steps) => {
            const rng = random(seed);
            const period = periodSeconds * SECOND;
            const tol = periodSeconds * 10;
            // Gaps between readings: mostly small, sometimes around the tolerance, sometimes long.
            const readings: LiveReading[] = [];
            let t = T0 + int(rng, -period, period);
            for (const [i, s] of steps.entries()) {
              t +=
                rng() < 0.1
                  ? int(rng, period, 4 * period)
                  : Math.max(1, Math.floor((s * tol) / 500));
              readings.push(reading(t, i, rng() < 0.1 ? BZ_FATAL : 0));
            }
            const series = new MeasurementSeries({ obis: IMPORT, periodSeconds });
            const points: SeriesPoint[] = [];
            for (const r of readings) {
              const result = series.add(r);
              expect(result.ok).toBe(true);
              if (result.ok) points.push(...result.points);
            }
            const end = t + 3 * period;
            points.push(...series.advanceTo(end));
            const times = readings.map((r) => r.capturedAt as number);
            const first = Math.ceil(((times[0] as number) - tol) / period) * period;
            const expected = [];
            for (let b = first; b + tol < end; b += period) {
              let best: number | undefined;
              times.forEach((c, i) => {
                const d = Math.abs(c - b);
                if (d <= tol && (best === undefined || d < Math.abs((times[best] as number) - b))) {
                  best = i;
                }
              });
              expected.push([b, best ?? null, best === undefined ? "missing" : null]);
            }
            expect(
              points.map((p) => [
                p.time,
                p.value ?? null,
                p.quality === "missing" ? "missing" : null,
              ]),
            ).toEqual(expected);
            for (const p of points) {
              if (p.value !== undefined) {
                const r = readings[p.value] as LiveReading;
                expect(p.quality).toBe(r.status === BZ_FATAL ? "invalid" : "ok");
              }
            }
          },
        ),
        { numRuns: 150, seed: 20260815 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});

// =============================================================================================
// Taf2Accumulator

/** Points of a golden meter-data document (its first original value list), at target times. */
function goldenPoints(file: string, obis = IMPORT): SeriesPoint[] {
  const doc = parseMeterData(readFileSync(path.join(TRUDI_TAF_DIR, "data", file)));
  const wanted = parseObis(obis);
  const list = doc.meterReadings.find(
    (m) => isOriginalValueList(m) && m.readingType.obis.c === wanted?.c,
  ) as MeterReading;
  const blocks = [...list.intervalBlocks].sort(
    (a, b) => a.intervalStart.instant - b.intervalStart.instant,
  );
  const period = measurementPeriodOf(list, blocks);
  const byTime = new Map<number, SeriesPoint>();
  for (const r of blocks.flatMap((b) => b.intervalReadings)) {
    const target = r.targetTime ?? alignToGrid(r.timePeriodStart, period, 3);
    if (byTime.has(target.instant)) continue;
    const bad = r.statusPTB === 3 || r.statusPTB === 4;
    byTime.set(target.instant, {
      obis,
      unit: "Wh",
      time: target.instant,
      value: r.value,
      quality: bad ? "invalid" : "ok",
      statusPTB: r.statusPTB ?? 0,
      status: 0,
      capturedAt: r.timePeriodStart.instant,
    });
  }
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

function feed(acc: Taf2Accumulator | Taf1Accumulator, points: readonly SeriesPoint[]) {
  const closed: PeriodResult[] = [];
  for (const p of points) {
    const r = acc.add(p);
    if (!r.ok) throw new Error(r.message);
    closed.push(...r.closed);
  }
  return closed;
}

function missingAt(time: number, obis = IMPORT): SeriesPoint {
  return {
    obis,
    unit: "Wh",
    time,
    value: undefined,
    quality: "missing",
    statusPTB: undefined,
    status: undefined,
    capturedAt: undefined,
  };
}

function point(time: number, value: number, quality: "ok" | "invalid" = "ok"): SeriesPoint {
  return {
    obis: IMPORT,
    unit: "Wh",
    time,
    value,
    quality,
    statusPTB: quality === "ok" ? 0 : 4,
    status: 0,
    capturedAt: time,
  };
}

interface GoldenCase {
  name: string;
  meterData: string;
  supplier: string;
  expect: { registers?: { obis: string; amount: number; tariffId: number }[]; error?: string };
}

function goldenCase(name: string): GoldenCase {
  return JSON.parse(readFileSync(path.join(TRUDI_TAF_DIR, "cases", `${name}.json`), "utf8"));
}

describe("Taf2Accumulator", () => {
  const single = GOLDEN_TAF2_SUPPLIERS.find((s) => s.name === "supplier_single_day.xml")
    ?.supplier as SupplierDocument;
  const dayStart = single.analysisProfile.billingPeriod.start.instant;

  test("the golden TAF2 cases, fed as points, give the golden registers", () => {
    const names = [
      "taf2_TestSingleDayWithoutGaps",
      "taf2_TestSingleDayWithGap",
      "taf2_TestSingleDayWithGapOnTariffChange",
      "taf2_TestSingleDayMaxTarifChangeWithoutGaps",
      "taf2_TestSingleDay_SummerToWinterTime",
      "taf2_Test3DayData2DayTariffFile",
      "taf2_Test3DayData2DayTariffFileGap1",
      "taf2_Test3DayData2DayTariffFileGap4",
      "taf2_Test3DayData2DayTariffFileGapAndPTBStatus3",
      "taf2_Test3DayDataFirstDayTariffFile",
      "taf2_TestSingleDay30MinPeriodWithoutGaps",
      "taf2_TestSingleDay30MinPeriodWithGapAtTariffChange2",
      "taf2_TestFiveDays30MinPeriodWithGap2",
      "taf2_TestFiveDays45MinPeriodWithoutGap",
      "taf2_TestMissingDataOnEnd",
      "taf2_TestSingleMonth1DayPeriodWithoutGap",
      "taf2_TestSingleMonth1HourPeriodWithGap1",
      "taf2_TestSingleMonth3HourPeriodWithManyGaps",
      "taf2_TestSingleMonth6HourPeriodWithoutGap",
      "taf2_Test3DayData2DayTariffFile18Hours",
    ];
    for (const name of names) {
      const c = goldenCase(name);
      const supplier = parseSupplier(readFileSync(path.join(TRUDI_TAF_DIR, "data", c.supplier)));
      const acc = new Taf2Accumulator(supplier, { obis: IMPORT });
      const points = goldenPoints(c.meterData);
      const closed = feed(acc, points);
      const result = closed[0] ?? acc.registers();
      expect({ name, registers: result.registers.map((r) => [r.obis, r.amount]) }).toEqual({
        name,
        registers: (c.expect.registers ?? []).map((r) => [r.obis, r.amount]),
      });
    }
  });

  test("a day is booked once it is final; registers() includes the pending days", () => {
    const acc = new Taf2Accumulator(single, { obis: IMPORT });
    const points: SeriesPoint[] = [];
    for (let q = 0; q <= 96; q++) points.push(point(dayStart + q * 15 * MINUTE, q * 10));
    feed(acc, points.slice(0, 40));
    const partial = acc.registers();
    expect(partial.final).toBe(false);
    expect(partial.registers.map((r) => r.amount)).toEqual([240, 150, 0]);
    expectSame(
      partial,
      batch(() =>
        calculateTaf2(
          meterDataOf([{ obis: IMPORT, points: points.slice(0, 40), periodSeconds: 900 }]),
          single,
        ),
      ),
    );
    const closed = feed(acc, points.slice(40));
    expect(closed).toHaveLength(1);
    expect(closed[0]?.final).toBe(true);
    expect(closed[0]?.registers.map((r) => [r.obis, r.tariffStage, r.amount, r.unit])).toEqual([
      ["1-0:1.8.1*255", 1, 360, "Wh"],
      ["1-0:1.8.2*255", 2, 600, "Wh"],
      ["1-0:1.8.63*255", 63, 0, "Wh"],
    ]);
    expect(closed[0]?.billingPeriod).toEqual({
      start: "2017-11-04T00:00:00+01:00",
      end: "2017-11-05T00:00:00+01:00",
    });
    // The next period (same length) has no SpecialDayProfile: nothing can be billed in it.
    expect(acc.billingPeriod.start.instant).toBe(dayStart + DAY);
    feed(acc, [point(dayStart + DAY + 15 * MINUTE, 980)]);
    expect(acc.registers().error?.kind).toBe("NO_MATCHING_TARIFF_STAGE");
  });

  test("periods the batch engine refuses give an error result, and the next period goes on", () => {
    const day1 = { start: timestampOfInstant(dayStart), end: timestampOfInstant(dayStart + DAY) };
    const date = wallDate(day1.start.wall);
    const calendar = [special(date, "1"), special(date + DAY, "1")];
    const cases: [string, SpecialDayProfile[], SeriesPoint[]][] = [
      [
        "NO_READINGS_IN_BILLING_PERIOD",
        calendar,
        [point(dayStart + HOUR, 5), missingAt(dayStart + DAY)],
      ],
      [
        "NO_USABLE_READINGS",
        calendar,
        [
          point(dayStart, 1, "invalid"),
          point(dayStart + HOUR, 5, "invalid"),
          missingAt(dayStart + DAY),
        ],
      ],
      [
        "NO_MATCHING_TARIFF_STAGE",
        calendar.slice(1),
        [point(dayStart, 1), point(dayStart + HOUR, 5), missingAt(dayStart + DAY)],
      ],
    ];
    for (const [kind, specialDays, points] of cases) {
      const supplier = withPeriod(single, day1, specialDays);
      const acc = new Taf2Accumulator(supplier, { obis: IMPORT });
      const closed = feed(acc, points);
      expect(closed).toHaveLength(1);
      const result = closed[0] as PeriodResult;
      expect({ kind, error: result.error?.kind }).toEqual({ kind, error: kind as never });
      const list = { obis: IMPORT, points: within(points, day1), periodSeconds: 900 };
      expectSame(
        result,
        batch(() => calculateTaf2(meterDataOf([list]), supplier)),
      );
      // The following day has its own SpecialDayProfile and is billed normally; its 00:00
      // value is missing, so it starts at 00:15.
      const day2: SeriesPoint[] = [];
      for (let q = 1; q <= 96; q++) day2.push(point(dayStart + DAY + q * 15 * MINUTE, 90 + q * 10));
      const next = feed(acc, day2);
      expect(next[0]?.registers.map((r) => r.amount)).toEqual([350, 600, 0]);
      const day2Span = { start: day1.end, end: timestampOfInstant(dayStart + 2 * DAY) };
      expectSame(
        next[0] as PeriodResult,
        batch(() =>
          calculateTaf2(
            meterDataOf([{ obis: IMPORT, points: day2, periodSeconds: 900 }]),
            withPeriod(supplier, day2Span),
          ),
        ),
      );
    }
  });

  test("a day without a usable value at its switching times is bridged 15 minutes after its last entry", () => {
    const date = wallDate(single.analysisProfile.billingPeriod.start.wall);
    const span = {
      start: timestampOfInstant(dayStart),
      end: timestampOfInstant(dayStart + 2 * DAY),
    };
    const sparse = {
      ...withPeriod(single, span, [special(date, "1"), special(date + DAY, "1")]),
    };
    const supplier: SupplierDocument = {
      ...sparse,
      analysisProfile: {
        ...sparse.analysisProfile,
        dayProfiles: [
          { dayId: "1", dayTimeProfiles: [entry(0, 1), entry(12 * 3600, 2), entry(18 * 3600, 1)] },
        ],
      },
    };
    const gaps = new Set([DAY, DAY + 12 * HOUR, DAY + 18 * HOUR].map((t) => dayStart + t));
    const points: SeriesPoint[] = [];
    for (let q = 0; q <= 2 * 96; q++) {
      const t = dayStart + q * 15 * MINUTE;
      points.push(gaps.has(t) ? missingAt(t) : point(t, q * 10));
    }
    const acc = new Taf2Accumulator(supplier, { obis: IMPORT });
    const closed = feed(acc, points);
    const expected = calculateTaf2(
      meterDataOf([{ obis: IMPORT, points, periodSeconds: 900 }]),
      supplier,
    );
    expectSame(closed[0] as PeriodResult, expected);
    // Day 1 closes at its last entry, 18:00. Day 2 has no usable value at 00:00, 12:00 and
    // 18:00: TRuDI bridges from the last usable value (day 1, 18:00) to 18:15 of day 2 and,
    // as the tariff switches in between, books that to the error register.
    expect(expected.registers.map((r) => r.amount)).toEqual([480, 240, 970]);
  });

  test("clock-time semantics: a period ending in the repeated hour of October", () => {
    const oct = GOLDEN_TAF2_SUPPLIERS.find((s) => s.name === "supplier_single_day_dst_oct.xml")
      ?.supplier as SupplierDocument;
    const start = oct.analysisProfile.billingPeriod.start;
    // 00:00+02:00 to 02:30+01:00; the data ends at 02:45+02:00, whose clock time lies after
    // the end, so the batch engine's calculated period ends at 02:30+02:00.
    const span = { start, end: timestampOfInstant(at("2017-10-29T02:30:00+01:00")) };
    const supplier = withPeriod(oct, span);
    const points: SeriesPoint[] = [];
    for (let q = 0; q <= 11; q++) points.push(point(start.instant + q * 15 * MINUTE, q * 10));
    points.push(missingAt(at("2017-10-29T02:00:00+01:00")));
    points.push(missingAt(at("2017-10-29T02:15:00+01:00")));
    points.push(missingAt(at("2017-10-29T02:30:00+01:00")));
    const acc = new Taf2Accumulator(supplier, { obis: IMPORT });
    const closed = feed(acc, points);
    const expected = calculateTaf2(
      meterDataOf([{ obis: IMPORT, points: within(points, span), periodSeconds: 900 }]),
      supplier,
    );
    expect(expected.end).toBe("2017-10-29T02:30:00+02:00");
    expectSame(closed[0] as PeriodResult, expected);
  });

  test("TRuDI's bridge: an unusable first value books the meter reading to the error register", () => {
    const acc = new Taf2Accumulator(single, { obis: IMPORT });
    const points = [point(dayStart, 50_000, "invalid")];
    for (let q = 1; q <= 96; q++) points.push(point(dayStart + q * 15 * MINUTE, 50_000 + q * 10));
    const closed = feed(acc, points);
    expectSame(
      closed[0] as PeriodResult,
      batch(() =>
        calculateTaf2(meterDataOf([{ obis: IMPORT, points, periodSeconds: 900 }]), single),
      ),
    );
    expect(closed[0]?.registers.map((r) => r.amount)).toEqual([350, 600, 50_010]);
  });

  test("the constructor refuses a tariff that cannot bill the list", () => {
    const exportOnly = {
      ...single,
      analysisProfile: {
        ...single.analysisProfile,
        tariffStages: [stage(1, "1-0:2.8.1*255"), stage(2, "1-0:2.8.2*255")],
      },
    };
    expect(() => new Taf2Accumulator(exportOnly, { obis: IMPORT })).toThrow(TafError);
    const empty = withPeriod(single, {
      start: single.analysisProfile.billingPeriod.start,
      end: single.analysisProfile.billingPeriod.start,
    });
    expect(() => new Taf2Accumulator(empty, { obis: IMPORT })).toThrow(TafError);
  });

  test("points out of order, duplicates and foreign points are refused without harm", () => {
    const acc = new Taf2Accumulator(single, { obis: IMPORT });
    feed(acc, [point(dayStart, 0), point(dayStart + HOUR, 40)]);
    const before = JSON.stringify(acc.toJSON());
    expect(acc.add(point(dayStart + HOUR, 40))).toMatchObject({ ok: false, reason: "duplicate" });
    expect(acc.add(point(dayStart, 0))).toMatchObject({ ok: false, reason: "out-of-order" });
    expect(acc.add({ ...point(dayStart + 2 * HOUR, 80), obis: EXPORT })).toMatchObject({
      ok: false,
      reason: "wrong-register",
    });
    expect(acc.add({ ...point(dayStart + 2 * HOUR, 80), unit: "kWh" })).toMatchObject({
      ok: false,
      reason: "wrong-unit",
    });
    expect(acc.add({ ...missingAt(dayStart + 2 * HOUR), value: 3 })).toMatchObject({
      ok: false,
      reason: "invalid-point",
    });
    expect(acc.add({ ...point(dayStart + 2 * HOUR, 80), value: undefined })).toMatchObject({
      ok: false,
      reason: "invalid-value",
    });
    expect(JSON.stringify(acc.toJSON())).toBe(before);
  });

  test("setNextTariff: the next tariff must start where the running period ends", () => {
    const acc = new Taf2Accumulator(single, { obis: IMPORT });
    expect(acc.setNextTariff(single)).toMatchObject({ ok: false, reason: "tariff-mismatch" });
    const nextDay = single.analysisProfile.billingPeriod.end;
    const nextWall = wallDate(nextDay.wall);
    const next = withPeriod(single, { start: nextDay, end: timestampOfWall(nextWall + 2 * DAY) }, [
      special(nextWall, "1"),
      special(nextWall + DAY, "1"),
    ]);
    expect(acc.setNextTariff(next)).toEqual({ ok: true });
    const restored = Taf2Accumulator.fromJSON(roundTrip(acc));
    const points: SeriesPoint[] = [];
    for (let q = 0; q <= 3 * 96; q++) points.push(point(dayStart + q * 15 * MINUTE, q * 10));
    const closed = feed(restored, points);
    expect(closed.map((c) => c.billingPeriod.end)).toEqual([
      "2017-11-05T00:00:00+01:00",
      "2017-11-07T00:00:00+01:00",
    ]);
    expect(closed[1]?.registers.map((r) => r.amount)).toEqual([720, 1200, 0]);
  });

  test("10 s periods keep only the readings at switching times", () => {
    const acc = new Taf2Accumulator(single, { obis: IMPORT });
    const points: SeriesPoint[] = [];
    for (let t = dayStart; t <= dayStart + DAY; t += 10 * SECOND) {
      points.push(point(t, (t - dayStart) / 10_000));
    }
    let largest = 0;
    const closed: PeriodResult[] = [];
    for (const [i, p] of points.entries()) {
      if (i === points.length - 1) {
        // Just before the period's end: what the batch engine gives for the points so far.
        expectSame(
          acc.registers(),
          batch(() =>
            calculateTaf2(
              meterDataOf([{ obis: IMPORT, points: points.slice(0, i), periodSeconds: 10 }]),
              single,
            ),
          ),
        );
      }
      const r = acc.add(p);
      if (r.ok) closed.push(...r.closed);
      largest = Math.max(largest, (acc.toJSON().period.lookup as unknown[]).length);
    }
    expect(largest).toBeLessThanOrEqual(2 * 96 + 1);
    expect(JSON.stringify(acc.toJSON()).length).toBeLessThan(60_000);
    expect(closed).toHaveLength(1);
    expectSame(
      closed[0] as PeriodResult,
      batch(() =>
        calculateTaf2(meterDataOf([{ obis: IMPORT, points, periodSeconds: 10 }]), single),
      ),
    );
    expect(closed[0]?.registers.map((r) => r.amount)).toEqual([3240, 5400, 0]);
  });

  test("import and export lists: one accumulator each, the registers add up", () => {
    const supplier = GOLDEN_TAF2_SUPPLIERS.find((s) => s.name.startsWith("many_gaps"))
      ?.supplier as SupplierDocument;
    const span = supplier.analysisProfile.billingPeriod;
    const rng = random(42);
    const lists = [IMPORT, EXPORT].map((obis) => {
      const readings = generateReadings(rng, {
        from: span.start.instant,
        to: span.end.instant,
        periodSeconds: 900,
        gapRate: 0,
        invalidRate: 0,
        obis,
      });
      return {
        obis,
        points: seriesPoints(rng, readings, 900, span.end.instant + HOUR, obis),
        periodSeconds: 900,
      };
    });
    const results = lists.map((l) => {
      const acc = new Taf2Accumulator(supplier, { obis: l.obis });
      return feed(acc, l.points)[0] as PeriodResult;
    });
    const expected = calculateTaf2(
      meterDataOf(lists.map((l) => ({ ...l, points: within(l.points, span) }))),
      supplier,
    );
    const sums = (results[0] as PeriodResult).registers.map((r, i) => ({
      obis: r.obis,
      tariffId: r.tariffStage,
      amount: r.amount + ((results[1] as PeriodResult).registers[i]?.amount ?? 0),
    }));
    expect(sums).toEqual([...expected.registers]);
    expect(expected.registers.filter((r) => r.amount > 0).length).toBeGreaterThanOrEqual(4);
  });

  test("the document written by lib/ar2418 gives the same registers as the model", () => {
    for (const seed of [1, 2, 3]) {
      const rng = random(seed);
      const supplier = randomTaf2Supplier(rng);
      const span = supplier.analysisProfile.billingPeriod;
      const readings = generateReadings(rng, {
        from: span.start.instant - HOUR,
        to: span.end.instant + HOUR,
        periodSeconds: 900,
        gapRate: 0.1,
        invalidRate: 0.05,
      });
      const points = within(seriesPoints(rng, readings, 900, span.end.instant + 2 * HOUR), span);
      const list = [{ obis: IMPORT, points, periodSeconds: 900 }];
      const fromModel = batch(() => calculateTaf2(meterDataOf(list), supplier));
      const fromXml = batch(() => calculateTaf2(meterDataXmlOf(list), supplier));
      expect(fromXml).toEqual(fromModel);
      const acc = new Taf2Accumulator(supplier, { obis: IMPORT });
      expectSame(
        feed(acc, [...points, missingAt(span.end.instant + 15 * MINUTE)])[0] as PeriodResult,
        fromXml,
      );
    }
  });

  test(
    "property: live registers equal calculateTaf2 on the equivalent document",
    () => {
      let billed = 0;
      let refused = 0;
      let errorBooked = 0;
      fc.assert(
        fc.property(
          fc.integer(),
          fc.constantFrom(
            ...GOLDEN_TAF2_SUPPLIERS.map((s) => s.name),
            ...Array<string>(8).fill("random"),
            ...Array<string>(6).fill("dst"),
          ),
          fc.constantFrom(0, 0.01, 0.05, 0.2, 0.6, 0.97),
          fc.constantFrom(0, 0, 0.02, 0.1, 0.5, 1),
          fc.constantFrom(900, 900, 900, 300, 60, 10),
          (seed, which, gapRate, invalidRate, requestedPeriod) => {
            const rng = random(seed);
            const supplier =
              which === "random" || which === "dst"
                ? randomTaf2Supplier(rng, which === "dst")
                : (GOLDEN_TAF2_SUPPLIERS.find((s) => s.name === which)
                    ?.supplier as SupplierDocument);
            const span = supplier.analysisProfile.billingPeriod;
            const length = span.end.instant - span.start.instant;
            // Data from before (or after) the period's start to into the next period(s).
            const from = span.start.instant + int(rng, -DAY, length / 4);
            const to = span.end.instant + int(rng, -length / 4, 2 * length);
            const periodSeconds =
              (to - from) / (requestedPeriod * SECOND) > 20_000 ? 900 : requestedPeriod;
            const forced = new Map<number, "ok" | "missing" | "invalid">();
            for (const edge of [span.start.instant, span.end.instant]) {
              forced.set(edge, pick(rng, ["ok", "ok", "missing", "invalid"]));
            }
            const readings = generateReadings(rng, {
              from,
              to,
              periodSeconds,
              gapRate,
              invalidRate,
              forced,
            });
            const flushTo = Math.max(to, span.end.instant) + length + HOUR;
            const points = seriesPoints(rng, readings, periodSeconds, flushTo);

            let acc = new Taf2Accumulator(supplier, { obis: IMPORT });
            const closed: PeriodResult[] = [];
            const spans: { start: Timestamp; end: Timestamp }[] = [acc.billingPeriod];
            const checks = new Set([int(rng, 0, points.length), int(rng, 0, points.length)]);
            points.forEach((p, i) => {
              if (checks.has(i)) {
                // registers() = the batch result for the points received so far.
                const current = acc.billingPeriod;
                const sofar = within(points.slice(0, i), current);
                expectSame(
                  acc.registers(),
                  batch(() =>
                    calculateTaf2(
                      meterDataOf([{ obis: IMPORT, points: sofar, periodSeconds }]),
                      withPeriod(supplier, current),
                    ),
                  ),
                );
              }
              if (rng() < 0.01) acc = Taf2Accumulator.fromJSON(roundTrip(acc));
              const r = acc.add(p);
              if (!r.ok) throw new Error(r.message);
              closed.push(...r.closed);
              if (r.closed.length > 0) spans.push(acc.billingPeriod);
            });
            expect(closed.length).toBeGreaterThanOrEqual(1);
            closed.forEach((result, k) => {
              const s = spans[k] as { start: Timestamp; end: Timestamp };
              const expected = batch(() =>
                calculateTaf2(
                  meterDataOf([{ obis: IMPORT, points: within(points, s), periodSeconds }]),
                  withPeriod(supplier, s),
                ),
              );
              expectSame(result, expected);
              if (k === 0) {
                if (expected instanceof TafError) refused++;
                else {
                  billed++;
                  if ((expected.registers.find((r) => r.tariffId === 63)?.amount ?? 0) !== 0)
                    errorBooked++;
                }
              }
            });
          },
        ),
        { numRuns: 150, seed: 4242 },
      );
      // The generator reaches the interesting cases.
      expect(billed).toBeGreaterThan(40);
      expect(refused).toBeGreaterThan(3);
      expect(errorBooked).toBeGreaterThan(10);
    },
    PROPERTY_TIMEOUT,
  );
});

// =============================================================================================
// Taf1Accumulator

describe("accumulator state and choice", () => {
  const single = GOLDEN_TAF2_SUPPLIERS.find((s) => s.name === "supplier_single_day.xml")
    ?.supplier as SupplierDocument;
  const dayStart = single.analysisProfile.billingPeriod.start.instant;

  test("saved mid-day and resumed, the TAF2 accumulator books the same", () => {
    const points: SeriesPoint[] = [];
    for (let q = 0; q <= 96; q++) {
      const t = dayStart + q * 15 * MINUTE;
      points.push(q % 7 === 3 ? missingAt(t) : point(t, q * q, q % 11 === 5 ? "invalid" : "ok"));
    }
    const straight = feed(new Taf2Accumulator(single, { obis: IMPORT }), points);
    for (const cut of [0, 1, 30, 95, 96]) {
      const first = new Taf2Accumulator(single, { obis: IMPORT });
      feed(first, points.slice(0, cut));
      const saved = JSON.stringify(first.toJSON());
      const resumed = accumulatorFromJSON(JSON.parse(saved));
      expect(resumed).toBeInstanceOf(Taf2Accumulator);
      expect(JSON.stringify(resumed.toJSON())).toBe(saved);
      expect(resumed.registers()).toEqual(first.registers());
      expect(feed(resumed, points.slice(cut))).toEqual(straight);
    }
  });

  test("a damaged saved state is refused", () => {
    const acc = new Taf2Accumulator(single, { obis: IMPORT });
    feed(acc, [point(dayStart, 0), point(dayStart + HOUR, 10)]);
    const good = roundTrip(acc) as Record<string, unknown> & { period: Record<string, unknown> };
    for (const bad of [
      null,
      [],
      { ...good, kind: "taf3" },
      { ...good, version: 2 },
      { ...good, lastTime: "soon" },
      { ...good, tariff: { analysisProfile: {} } },
      { ...good, period: { ...good.period, amounts: [1, 2] } },
      { ...good, period: { ...good.period, dayIndex: -1 } },
      { ...good, period: { ...good.period, lookup: [{ time: 1, value: "x", usable: true }] } },
      { ...good, period: { ...good.period, walk: null } },
    ]) {
      expect(() => accumulatorFromJSON(bad)).toThrow(LiveStateError);
    }
    const taf1 = new Taf1Accumulator(taf1Supplier(wallOfDate(2026, 3, 1), 1, 1), { obis: IMPORT });
    const saved = roundTrip(taf1) as Record<string, unknown>;
    expect(accumulatorFromJSON(saved)).toBeInstanceOf(Taf1Accumulator);
    expect(() => Taf2Accumulator.fromJSON(saved)).toThrow(LiveStateError);
    expect(() => Taf1Accumulator.fromJSON({ ...saved, period: { start: 1 } })).toThrow(
      LiveStateError,
    );
  });

  test("createAccumulator chooses by the supplier's tariff use case", () => {
    expect(createAccumulator(single, { obis: IMPORT })).toBeInstanceOf(Taf2Accumulator);
    const taf1 = taf1Supplier(wallOfDate(2026, 3, 1), 1, 1);
    expect(createAccumulator(taf1, { obis: IMPORT })).toBeInstanceOf(Taf1Accumulator);
    const taf7 = { ...single, analysisProfile: { ...single.analysisProfile, tariffUseCase: 7 } };
    expect(() => createAccumulator(taf7, { obis: IMPORT })).toThrow(TafError);
  });

  test("following billing periods: calendar months, wall-clock days, or seconds", () => {
    const ts = (text: string) => timestampOfInstant(at(text));
    const next = (start: string, end: string) => {
      const n = followingBillingPeriod({ start: ts(start), end: ts(end) });
      return [formatBerlin(n.start.instant), formatBerlin(n.end.instant)];
    };
    expect(next("2026-01-01T00:00:00+01:00", "2026-02-01T00:00:00+01:00")).toEqual([
      "2026-02-01T00:00:00+01:00",
      "2026-03-01T00:00:00+01:00",
    ]);
    expect(next("2026-02-01T00:00:00+01:00", "2026-05-01T00:00:00+02:00")).toEqual([
      "2026-05-01T00:00:00+02:00",
      "2026-08-01T00:00:00+02:00",
    ]);
    expect(next("2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00")).toEqual([
      "2026-10-25T00:00:00+02:00",
      "2026-10-26T00:00:00+01:00",
    ]);
    expect(next("2017-10-26T08:45:00+02:00", "2017-10-27T10:00:00+02:00")).toEqual([
      "2017-10-27T10:00:00+02:00",
      "2017-10-28T11:15:00+02:00",
    ]);
  });

  test("TAF1 setNextTariff: checked like the first tariff, and must follow on", () => {
    const march = taf1Supplier(wallOfDate(2026, 3, 1), 1, 1);
    const acc = new Taf1Accumulator(march, { obis: IMPORT });
    expect(acc.setNextTariff(march)).toMatchObject({ ok: false, reason: "tariff-mismatch" });
    const bad = taf1Supplier(wallOfDate(2026, 4, 1), 1, 1);
    const odd = withPeriod(bad, bad.analysisProfile.billingPeriod, []);
    expect(
      acc.setNextTariff({ ...odd, analysisProfile: { ...odd.analysisProfile, dayProfiles: [] } }),
    ).toMatchObject({
      ok: false,
      reason: "invalid-tariff",
    });
    const quarter = taf1Supplier(wallOfDate(2026, 4, 1), 3, 1);
    expect(acc.setNextTariff(quarter)).toEqual({ ok: true });
    const april = at("2026-04-01T00:00:00+02:00");
    feed(acc, [point(april - DAY, 1), point(april, 2)]);
    expect(acc.billingPeriod.end.instant).toBe(at("2026-07-01T00:00:00+02:00"));
  });
});

describe("Taf1Accumulator", () => {
  const taf1 = (file: string) =>
    parseSupplier(readFileSync(path.join(TRUDI_TAF_DIR, "data", "taf1", file)));

  test("the golden TAF1 cases, fed as points", () => {
    // supplier_1_month.xml's tariff: supplier_1_month_start_at_10_2.xml with the billing period
    // October 2017 (see the golden case taf1_TestTaf1ExceptionInvalidBillingPeriodStart).
    const supplier = withPeriod(taf1("supplier_1_month_start_at_10_2.xml"), {
      start: timestampOfInstant(at("2017-10-01T00:00:00+02:00")),
      end: timestampOfInstant(at("2017-11-01T00:00:00+01:00")),
    });
    const run = (file: string) => {
      const acc = new Taf1Accumulator(supplier, { obis: IMPORT });
      const points = goldenPoints(`taf1/${file}`);
      const end = supplier.analysisProfile.billingPeriod.end.instant;
      return feed(
        acc,
        points.some((p) => p.time > end) ? points : [...points, missingAt(end + HOUR)],
      )[0];
    };
    expect(run("result_1_month.xml")?.registers.map((r) => [r.obis, r.amount])).toEqual([
      ["1-0:1.8.1*255", 29800],
    ]);
    expect(run("result_1_month_end_statusPTB4.xml")?.error?.kind).toBe(
      "NO_VALID_VALUE_AT_BILLING_PERIOD_END",
    );
    expect(run("result_1_month_without_start.xml")?.error?.kind).toBe(
      "NO_VALID_VALUE_AT_BILLING_PERIOD_START",
    );
    // Two lists, two stages: one accumulator per list.
    const two = taf1("supplier_1_month_2_DayProfiles.xml");
    const amounts = [IMPORT, EXPORT].map((obis) => {
      const acc = new Taf1Accumulator(two, { obis });
      const points = goldenPoints("taf1/result_1_month_2_ovl.xml", obis);
      return feed(acc, points)[0]?.registers.map((r) => r.amount);
    });
    expect(amounts).toEqual([
      [29800, 0],
      [0, 27800],
    ]);
  });

  test("the constructor makes the tariff checks of taf1.ts", () => {
    expect(
      () => new Taf1Accumulator(taf1("supplier_1_month_start_at_10_2.xml"), { obis: IMPORT }),
    ).toThrow(TafError);
    const supplier = taf1Supplier(wallOfDate(2026, 3, 1), 1, 1);
    expect(() => new Taf1Accumulator(supplier, { obis: EXPORT })).toThrow(TafError);
    const odd = withPeriod(
      supplier,
      supplier.analysisProfile.billingPeriod,
      supplier.analysisProfile.specialDayProfiles.slice(1),
    );
    expect(() => new Taf1Accumulator(odd, { obis: IMPORT })).toThrow(TafError);
  });

  test("registers() gives the consumption so far; the period rolls over by calendar months", () => {
    const supplier = taf1Supplier(wallOfDate(2026, 3, 1), 1, 1);
    const acc = new Taf1Accumulator(supplier, { obis: IMPORT });
    const start = supplier.analysisProfile.billingPeriod.start.instant;
    expect(acc.registers().error?.kind).toBe("NO_VALID_VALUE_AT_BILLING_PERIOD_START");
    feed(acc, [
      point(start - HOUR, 900),
      point(start, 1000),
      point(start + DAY, 1500),
      point(start + 2 * DAY, 1700, "invalid"),
    ]);
    const running = acc.registers();
    expect(running.final).toBe(false);
    expect(running.registers.map((r) => r.amount)).toEqual([500]);
    expect(running.end).toBe("2026-03-02T00:00:00+01:00");
    const april = at("2026-04-01T00:00:00+02:00");
    const saved = Taf1Accumulator.fromJSON(roundTrip(acc));
    const closed = feed(saved, [point(april, 9000), point(april + 1, 9001)]);
    expect(
      closed.map((c) => [c.billingPeriod.start, c.billingPeriod.end, c.registers[0]?.amount]),
    ).toEqual([["2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00", 8000]]);
    expect(saved.billingPeriod.end.instant).toBe(at("2026-05-01T00:00:00+02:00"));
    expect(saved.registers().registers[0]?.amount).toBe(1);
  });

  test(
    "property: live registers equal calculateTaf1 on the equivalent document",
    () => {
      let billed = 0;
      let refused = 0;
      fc.assert(
        fc.property(
          fc.integer(),
          fc.constantFrom(1, 2),
          fc.constantFrom(1, 1, 2, 3),
          fc.constantFrom(0, 0.05, 0.3),
          (seed, lists, months, gapRate) => {
            const rng = random(seed);
            const month = pick(rng, [1, 3, 4, 9, 10, 11]);
            const startWall = wallOfDate(pick(rng, [2017, 2026, 2027]), month, 1);
            const supplier = taf1Supplier(startWall, months, lists as 1 | 2);
            const span = supplier.analysisProfile.billingPeriod;
            const periodSeconds = months === 1 ? pick(rng, [900, 3600]) : 3600;
            const second = {
              start: span.end,
              end: timestampOfWall(addMonthsWall(span.end.wall, months)),
            };
            const obisList = lists === 1 ? [IMPORT] : [IMPORT, EXPORT];
            const runs = obisList.map((obis) => {
              const forced = new Map<number, "ok" | "missing" | "invalid">();
              for (const edge of [span.start.instant, span.end.instant, second.end.instant]) {
                forced.set(edge, pick(rng, ["ok", "ok", "ok", "missing", "invalid"]));
              }
              const from = span.start.instant - int(rng, 0, 2) * HOUR;
              const to = second.end.instant + HOUR;
              const readings = generateReadings(rng, {
                from,
                to,
                periodSeconds,
                gapRate,
                invalidRate: 0.05,
                forced,
                obis,
              });
              const points = seriesPoints(rng, readings, periodSeconds, to + HOUR, obis);
              let acc = new Taf1Accumulator(supplier, { obis });
              const closed: PeriodResult[] = [];
              for (const p of points) {
                if (rng() < 0.002) acc = Taf1Accumulator.fromJSON(roundTrip(acc));
                const r = acc.add(p);
                if (!r.ok) throw new Error(r.message);
                closed.push(...r.closed);
              }
              return { obis, points, closed };
            });
            [span, second].forEach((s, k) => {
              const expected = batch(() =>
                calculateTaf1(
                  meterDataOf(
                    runs.map((r) => ({ obis: r.obis, points: within(r.points, s), periodSeconds })),
                  ),
                  withPeriod(supplier, s, taf1Calendar(s, lists as 1 | 2)),
                ),
              );
              const results = runs.map((r) => r.closed[k] as PeriodResult);
              // One accumulator per list: the first list's error is the batch engine's error.
              const failed = results.find((r) => r.error !== undefined);
              const combined: PeriodResult = failed ?? {
                ...(results[0] as PeriodResult),
                registers: (results[0] as PeriodResult).registers.map((r, i) => ({
                  ...r,
                  amount: results.reduce((sum, x) => sum + (x.registers[i]?.amount ?? 0), 0),
                })),
              };
              expectSame(combined, expected);
              if (expected instanceof TafError) refused++;
              else billed++;
            });
          },
        ),
        { numRuns: 40, seed: 1717 },
      );
      expect(billed).toBeGreaterThan(10);
      expect(refused).toBeGreaterThan(5);
    },
    PROPERTY_TIMEOUT,
  );
});
