/**
 * Live tariff use cases: TAF7 measurement series and TAF1/TAF2 registers computed while the
 * readings arrive, with the same results as the batch engine (taf1.ts, taf2.ts) gives for the
 * AR 2418-6 meter-data document of the same points.
 *
 * Pure: no I/O and no clock; every time is passed in (milliseconds since the epoch, gateway
 * clock). All state can be saved with toJSON() and resumed with fromJSON().
 *
 * ## MeasurementSeries (TAF7)
 *
 * Turns the readings of one cumulative register (e.g. 1-0:1.8.0*255 in Wh, arriving every few
 * seconds at any time) into one point per period boundary. Boundaries are the multiples of the
 * period since the epoch. The period must divide one hour, so that the boundaries are also on
 * the Berlin wall-clock grid in summer and winter (900 s: the quarter hours).
 *
 * - A point carries the value of the reading nearest to its boundary t, if that reading was
 *   captured within t ± 1 % of the period (PTB-A 50.8; 9 s for 900 s; both limits included).
 *   Of two readings at the same distance the earlier one is taken.
 * - A boundary is decided once no later reading can be nearer: when the first reading after t
 *   arrives, or when `advanceTo(now)` says no reading captured before `now` will come and
 *   now > t + tolerance. Points are emitted in boundary order, each exactly once.
 * - Missing value: if no reading lies within the tolerance, the point is emitted with
 *   `quality: "missing"` and `value: undefined` (no substitute value). In the meter-data
 *   document it is left out, i.e. it is a gap, which the tariff engines book as TRuDI does (to
 *   the error register or not at all, never to a tariff stage by itself).
 * - Meter status: the reading's raw status word is mapped to a PTB status (default: the FNN
 *   meter status word mapping of status.ts; a custom mapping may be given). A PTB status of 3
 *   (critical) or 4 (fatal) gives `quality: "invalid"`: the value is kept for information and
 *   written with its statusPTB, and the engines treat it as unusable. PTB 1 and 2 (warnings)
 *   stay "ok". A mapping result outside 0..4 counts as 4.
 * - Refused (returned, not thrown; the state is unchanged): readings of another register or
 *   unit, non-finite values or times, a capture time equal to the last reading's (duplicate) or
 *   earlier than it or than the last `advanceTo` (out of order).
 * - The series starts at the first boundary the first reading can be registered for; before
 *   the first reading `advanceTo` emits nothing.
 *
 * ## Taf2Accumulator (TAF2, time-variable tariff)
 *
 * Configured with the supplier document (IF_Lieferant_TRuDI) and the OBIS code of the value
 * list; fed the series' points in order. It books each day with taf2.ts's own day walk, so the
 * registers are those of `calculateTaf2` on the meter-data document of the points received in
 * the billing period: one original value list with the series' period as measurementPeriod,
 * holding the points whose boundary lies in [start, end] (both included), missing points left
 * out, invalid ones with their PTB status (see toIntervalReadings). As in TRuDI, the calculated
 * period runs from the first to the last such point whose Berlin clock time lies within the
 * billing period, and readings are looked up by clock time (in the repeated hour of October the
 * summer-time one counts). In particular the error register *.8.63 gets
 * what TRuDI books there: consumption across a gap or an invalid value at a tariff switch, the
 * bridged span after a day that starts with a gap, and (as in TRuDI) if the period's first
 * value is unusable, the whole meter reading up to the first usable value.
 *
 * - A day is booked once its readings are final: when a usable or invalid point 15 minutes or
 *   more after the day's end has arrived (the 23:45 entry is closed with the next midnight).
 *   Until then only the points at the day profiles' switching times (and 15 minutes after them)
 *   are kept, so the state stays small even for 10 s periods.
 * - `registers()` gives the current period's registers as `calculateTaf2` would compute them
 *   on the points received so far (pending days included), marked `final: false`.
 * - Period roll-over: a point at or after the billing period's end closes the period (a point
 *   exactly at the end belongs to both periods: it ends one and starts the next). `add` returns
 *   the closed period's result (`final: true`) so that it can be delivered. The next billing
 *   period starts at the end of the previous one; with a tariff set by `setNextTariff` it is
 *   that tariff's billing period, otherwise it is as long as the previous one (the same number
 *   of calendar months if the period starts on the 1st and spans whole months, the same number
 *   of wall-clock days if it spans whole days, else the same number of seconds) and keeps the
 *   switching program: days without a SpecialDayProfile are not booked, as in TRuDI.
 * - Where `calculateTaf2` throws a TafError for the period's data (NO_READINGS_IN_BILLING_PERIOD,
 *   NO_MATCHING_TARIFF_STAGE when no SpecialDayProfile lies in the period, NO_USABLE_READINGS,
 *   or an error of the day walk), the period's result carries `error` with the same kind and all
 *   registers at 0: nothing of such a period can be billed. Later periods are not affected.
 *   Errors of the configuration (no tariff stage or day profile fits the list's quantity, an
 *   empty billing period) are thrown by the constructor instead, as TafError.
 * - One accumulator books one value list. For several lists (e.g. import and export) use one
 *   accumulator each: each books only its own quantity's registers, so without errors the
 *   registers add up to the batch result of the document with all lists. (The batch engine
 *   fails such a document with the first failing list's error, where NO_USABLE_READINGS
 *   counts only if no list before has a usable day either, and reports the last list's
 *   begin and end.)
 *
 * ## Taf1Accumulator (TAF1, data-saving tariff)
 *
 * Keeps only the register values at the billing period's start and end boundary (and the
 * latest usable value, for the provisional `registers()`); the consumption is end − start,
 * booked to the tariff stage of the list's day profile, as `calculateTaf1` does. A missing or
 * invalid value at the start or end gives the period error NO_VALID_VALUE_AT_BILLING_PERIOD_START
 * or _END. The tariff checks of taf1.ts (period starts on the 1st, lasts 1, 2, 3, 6 or 12
 * months, exactly one day profile fits, SpecialDayProfile count) are made by the constructor
 * and throw TafError. The following period lasts as many calendar months (the SpecialDayProfile
 * count is not checked again for it; the tariff stage stays the same). One accumulator per
 * list, as for TAF2.
 *
 * Amounts are in the readings' unit (Wh). With integer readings they are exact; fractional
 * readings (e.g. 0.1 Wh resolution) are summed as numbers and rounded to 15 significant digits.
 */
import { TafError, type TafErrorKind } from "./errors.ts";
import type { IntervalReading, SpecialDayProfile, SupplierDocument } from "./model.ts";
import { formatObis, type Obis, parseObis } from "./obis.ts";
import { type Register, stageRegisters, taf2Registers } from "./registers.ts";
import { fnnStatusToPtb, isUsableStatus, reverseBits32 } from "./status.ts";
import { specialDaysWithin, switchPointsOfDay, validDayProfileIds } from "./switching.ts";
import { ALLOWED_PERIOD_MONTHS, checkBillingPeriod, tariffOfList } from "./taf1.ts";
import { bookDay, DayWalk, type DayWalkState, INITIAL_DAY_WALK_STATE } from "./taf2.ts";
import {
  addMonthsWall,
  DAY,
  formatBerlin,
  MINUTE,
  SECOND,
  type Timestamp,
  timestampOfInstant,
  timestampOfWall,
  wallDate,
  wallOf,
  wallParts,
} from "./time.ts";
import type { Reading } from "./value-list.ts";

const QUARTER_HOUR = 15 * MINUTE;
const STATE_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Shared types

/** A reading as the meter unit delivers it. */
export interface LiveReading {
  readonly obis: string;
  readonly value: number;
  readonly unit: string;
  /** Gateway time of capture: a Date or milliseconds since the epoch. */
  readonly capturedAt: Date | number;
  /** The meter's raw status word. */
  readonly status: number;
}

/** ok: billable; invalid: PTB status critical or fatal; missing: no reading within tolerance. */
export type PointQuality = "ok" | "invalid" | "missing";

/** A point of a measurement series: the register at one period boundary. */
export interface SeriesPoint {
  readonly obis: string;
  readonly unit: string;
  /** The boundary, milliseconds since the epoch. */
  readonly time: number;
  /** The register value; undefined if missing. */
  readonly value: number | undefined;
  readonly quality: PointQuality;
  /** PTB status (0..4) of the reading taken; undefined if missing. */
  readonly statusPTB: number | undefined;
  /** Raw status word of the reading taken; undefined if missing. */
  readonly status: number | undefined;
  /** Capture time of the reading taken; undefined if missing. */
  readonly capturedAt: number | undefined;
}

export type RefusalReason =
  | "wrong-register"
  | "wrong-unit"
  | "invalid-value"
  | "invalid-time"
  | "invalid-status"
  | "invalid-point"
  | "duplicate"
  | "out-of-order"
  | "invalid-tariff"
  | "tariff-mismatch";

/** Why an input was not taken. The object it was offered to is unchanged. */
export interface Refusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  readonly message: string;
}

export type SeriesAddResult =
  | { readonly ok: true; readonly points: readonly SeriesPoint[] }
  | Refusal;

export type AccumulatorAddResult =
  | { readonly ok: true; readonly closed: readonly PeriodResult[] }
  | Refusal;

export interface LiveRegister {
  /** Decimal OBIS, e.g. "1-0:1.8.1*255". */
  readonly obis: string;
  /** Tariff stage number; 63 for the error register. */
  readonly tariffStage: number;
  /** In the readings' unit. */
  readonly amount: number;
  readonly unit: string;
}

export interface LiveError {
  readonly kind: TafErrorKind;
  readonly message: string;
}

/** The registers of one billing period. */
export interface PeriodResult {
  readonly tariffUseCase: 1 | 2;
  /** The billing period, Berlin local time with offset. */
  readonly billingPeriod: { readonly start: string; readonly end: string };
  /** True once the period has ended; false for the running period's provisional registers. */
  readonly final: boolean;
  /** First and last value of the calculated period, as BillingResult.begin/end; undefined on error. */
  readonly begin: string | undefined;
  readonly end: string | undefined;
  /** Tariff stages (and for TAF2 the error registers) in the batch engine's order. */
  readonly registers: readonly LiveRegister[];
  /** Set if the batch engine would refuse the period's data; the registers are then all 0. */
  readonly error: LiveError | undefined;
}

/** A saved state that cannot be resumed. */
export class LiveStateError extends Error {
  override readonly name = "LiveStateError";
}

function refuse(reason: RefusalReason, message: string): Refusal {
  return { ok: false, reason, message };
}

function normaliseObis(text: string): string | undefined {
  if (typeof text !== "string") return undefined;
  const obis = parseObis(text);
  return obis === undefined ? undefined : formatObis(obis);
}

function requireObis(text: string): { text: string; obis: Obis } {
  const obis = typeof text === "string" ? parseObis(text) : undefined;
  if (obis === undefined) throw new RangeError(`"${text}" is not an OBIS code`);
  return { text: formatObis(obis), obis };
}

function timeOf(value: Date | number): number {
  return value instanceof Date ? value.getTime() : value;
}

/** Amounts of integer readings stay exact; sums of fractional ones lose the float noise. */
function cleanAmount(amount: number): number {
  return Number.isInteger(amount) ? amount : Number(amount.toPrecision(15));
}

/**
 * PTB status of a meter's raw status word, read as the meter (BZ) part of an FNN status word:
 * fatal error → 4; manipulation or magnetic influence → 3; else 0.
 */
export function meterStatusToPtb(status: number): number {
  const bz = reverseBits32(status >>> 0)
    .toString(16)
    .toUpperCase()
    .padStart(8, "0");
  return fnnStatusToPtb(`00000000${bz}`);
}

/**
 * The points as readings of an AR 2418-6 value list (matching lib/ar2418's IntervalReadingInput):
 * missing points are left out, the others keep their PTB status.
 */
export function toIntervalReadings(
  points: readonly SeriesPoint[],
): { time: number; value: number; statusPTB: number }[] {
  const out: { time: number; value: number; statusPTB: number }[] = [];
  for (const p of points) {
    if (p.quality === "missing" || p.value === undefined) continue;
    out.push({ time: p.time, value: p.value, statusPTB: p.statusPTB ?? 0 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MeasurementSeries

export interface MeasurementSeriesOptions {
  /** The register, e.g. "1-0:1.8.0*255". */
  readonly obis: string;
  /** Unit of the readings; others are refused. Default "Wh". */
  readonly unit?: string;
  /** Period in seconds; must divide 3600. Default 900. */
  readonly periodSeconds?: number;
  /** Maps a raw status word to a PTB status 0..4. Default: meterStatusToPtb. */
  readonly statusToPtb?: (status: number) => number;
}

interface KeptReading {
  readonly capturedAt: number;
  readonly value: number;
  readonly status: number;
}

export interface MeasurementSeriesState {
  readonly version: number;
  readonly kind: "measurement-series";
  readonly obis: string;
  readonly unit: string;
  readonly periodSeconds: number;
  /** Next boundary to decide; null before the first reading. */
  readonly next: number | null;
  /** Last reading taken. */
  readonly last: KeptReading | null;
  /** No reading captured before this time is taken any more. */
  readonly advancedTo: number | null;
}

export class MeasurementSeries {
  readonly obis: string;
  readonly unit: string;
  readonly periodSeconds: number;
  /** 1 % of the period, in milliseconds. */
  readonly toleranceMs: number;
  private readonly periodMs: number;
  private readonly statusToPtb: (status: number) => number;
  private next: number | undefined;
  private last: KeptReading | undefined;
  private advancedTo: number | undefined;

  constructor(options: MeasurementSeriesOptions) {
    this.obis = requireObis(options.obis).text;
    this.unit = options.unit ?? "Wh";
    const period = options.periodSeconds ?? 900;
    if (!Number.isInteger(period) || period < 1 || 3600 % period !== 0) {
      throw new RangeError(
        `periodSeconds ${period} must be a whole number of seconds dividing 3600`,
      );
    }
    this.periodSeconds = period;
    this.periodMs = period * SECOND;
    this.toleranceMs = period * 10;
    this.statusToPtb = options.statusToPtb ?? meterStatusToPtb;
  }

  /** Takes a reading; returns the points it decides, or why it was refused. */
  add(reading: LiveReading): SeriesAddResult {
    if (normaliseObis(reading.obis) !== this.obis) {
      return refuse("wrong-register", `reading of ${reading.obis}, the series is ${this.obis}`);
    }
    if (reading.unit !== this.unit) {
      return refuse("wrong-unit", `reading in ${reading.unit}, the series is in ${this.unit}`);
    }
    if (typeof reading.value !== "number" || !Number.isFinite(reading.value)) {
      return refuse("invalid-value", `value ${reading.value} is not a finite number`);
    }
    const t = timeOf(reading.capturedAt);
    if (typeof t !== "number" || !Number.isFinite(t)) {
      return refuse("invalid-time", "capturedAt is not a valid time");
    }
    const status = reading.status;
    if (!Number.isInteger(status) || status < 0 || status > 0xffffffff) {
      return refuse("invalid-status", `status ${status} is not a 32-bit status word`);
    }
    if (this.last !== undefined && t === this.last.capturedAt) {
      return refuse("duplicate", `a reading captured at ${new Date(t).toISOString()} was taken`);
    }
    if (this.last !== undefined && t < this.last.capturedAt) {
      return refuse(
        "out-of-order",
        `captured at ${new Date(t).toISOString()}, before the last reading (${new Date(this.last.capturedAt).toISOString()})`,
      );
    }
    if (this.advancedTo !== undefined && t < this.advancedTo) {
      return refuse(
        "out-of-order",
        `captured at ${new Date(t).toISOString()}, before ${new Date(this.advancedTo).toISOString()}, which the series was advanced to`,
      );
    }
    const current: KeptReading = { capturedAt: t, value: reading.value, status };
    let next = this.next ?? Math.ceil((t - this.toleranceMs) / this.periodMs) * this.periodMs;
    const points: SeriesPoint[] = [];
    for (; next <= t; next += this.periodMs) points.push(this.decide(next, current));
    this.next = next;
    this.last = current;
    return { ok: true, points };
  }

  /**
   * Declares that no reading captured before `now` will be added (later ones are refused as out
   * of order), and emits the points this decides: boundaries t with t + tolerance < now.
   */
  advanceTo(now: Date | number): readonly SeriesPoint[] {
    const t = timeOf(now);
    if (!Number.isFinite(t) || (this.advancedTo !== undefined && t <= this.advancedTo)) return [];
    this.advancedTo = t;
    const points: SeriesPoint[] = [];
    if (this.next === undefined) return points;
    let next = this.next;
    for (; next + this.toleranceMs < t; next += this.periodMs) {
      points.push(this.decide(next, undefined));
    }
    this.next = next;
    return points;
  }

  /** The boundary the series waits for, if it has started. */
  get pendingBoundary(): number | undefined {
    return this.next;
  }

  /** Point at boundary b from the reading before it (this.last) and the one after it, if any. */
  private decide(b: number, after: KeptReading | undefined): SeriesPoint {
    const before = this.last;
    const dBefore = before === undefined ? Number.POSITIVE_INFINITY : b - before.capturedAt;
    const dAfter = after === undefined ? Number.POSITIVE_INFINITY : after.capturedAt - b;
    let taken: KeptReading | undefined;
    if (dBefore <= this.toleranceMs && dBefore <= dAfter) taken = before;
    else if (dAfter <= this.toleranceMs) taken = after;
    if (taken === undefined) {
      return {
        obis: this.obis,
        unit: this.unit,
        time: b,
        value: undefined,
        quality: "missing",
        statusPTB: undefined,
        status: undefined,
        capturedAt: undefined,
      };
    }
    const mapped = this.statusToPtb(taken.status);
    const statusPTB = Number.isInteger(mapped) && mapped >= 0 && mapped <= 4 ? mapped : 4;
    return {
      obis: this.obis,
      unit: this.unit,
      time: b,
      value: taken.value,
      quality: isUsableStatus(statusPTB, undefined) ? "ok" : "invalid",
      statusPTB,
      status: taken.status,
      capturedAt: taken.capturedAt,
    };
  }

  toJSON(): MeasurementSeriesState {
    return {
      version: STATE_VERSION,
      kind: "measurement-series",
      obis: this.obis,
      unit: this.unit,
      periodSeconds: this.periodSeconds,
      next: this.next ?? null,
      last: this.last ?? null,
      advancedTo: this.advancedTo ?? null,
    };
  }

  /** Resumes a saved series; the status mapping is not saved and is given again. */
  static fromJSON(
    state: unknown,
    options: Pick<MeasurementSeriesOptions, "statusToPtb"> = {},
  ): MeasurementSeries {
    const s = record(state, "series");
    header(s, "measurement-series");
    const series = new MeasurementSeries({
      obis: str(s.obis, "series.obis"),
      unit: str(s.unit, "series.unit"),
      periodSeconds: num(s.periodSeconds, "series.periodSeconds"),
      ...options,
    });
    const next = optionalNum(s.next, "series.next");
    const lastRecord = s.last === null ? undefined : record(s.last, "series.last");
    const last =
      lastRecord === undefined
        ? undefined
        : {
            capturedAt: num(lastRecord.capturedAt, "series.last.capturedAt"),
            value: num(lastRecord.value, "series.last.value"),
            status: num(lastRecord.status, "series.last.status"),
          };
    if (next !== undefined && next % series.periodMs !== 0) {
      throw new LiveStateError("series.next is not a period boundary");
    }
    if ((next === undefined) !== (last === undefined)) {
      throw new LiveStateError("series.next and series.last must be set together");
    }
    if (next !== undefined && last !== undefined && next <= last.capturedAt) {
      throw new LiveStateError("series.next must lie after the last reading");
    }
    series.next = next;
    series.last = last;
    series.advancedTo = optionalNum(s.advancedTo, "series.advancedTo");
    return series;
  }
}

// ---------------------------------------------------------------------------------------------
// Accumulators: shared parts

export interface AccumulatorOptions {
  /** OBIS code of the value list, e.g. "1-0:1.8.0*255". */
  readonly obis: string;
  /** Unit of the points; others are refused. Default "Wh". */
  readonly unit?: string;
}

/** A point as an accumulator keeps it. */
interface PointRecord {
  readonly time: number;
  readonly value: number;
  readonly usable: boolean;
}

interface BillingSpan {
  readonly start: Timestamp;
  readonly end: Timestamp;
}

/**
 * The billing period after one: it starts at the end of the previous one and is as long (whole
 * calendar months from the 1st, else whole wall-clock days, else seconds).
 */
export function followingBillingPeriod(previous: BillingSpan): BillingSpan {
  const { start, end } = previous;
  if (wallParts(start.wall).day === 1) {
    for (let months = 1; months <= 120; months++) {
      const wall = addMonthsWall(start.wall, months);
      if (wall === end.wall) {
        return { start: end, end: timestampOfWall(addMonthsWall(end.wall, months)) };
      }
      if (wall > end.wall) break;
    }
  }
  const wallLength = end.wall - start.wall;
  if (wallLength > 0 && wallLength % DAY === 0) {
    return { start: end, end: timestampOfWall(end.wall + wallLength) };
  }
  return { start: end, end: timestampOfInstant(end.instant + (end.instant - start.instant)) };
}

function checkPoint(
  point: SeriesPoint,
  obis: string,
  unit: string,
  lastTime: number | undefined,
): Refusal | PointRecord | "missing" {
  if (point === null || typeof point !== "object") return refuse("invalid-point", "not a point");
  if (normaliseObis(point.obis) !== obis) {
    return refuse("wrong-register", `point of ${point.obis}, the accumulator books ${obis}`);
  }
  if (point.unit !== unit) {
    return refuse("wrong-unit", `point in ${point.unit}, the accumulator books ${unit}`);
  }
  if (typeof point.time !== "number" || !Number.isFinite(point.time)) {
    return refuse("invalid-time", "the point's time is not a valid time");
  }
  if (lastTime !== undefined && point.time === lastTime) {
    return refuse("duplicate", `a point at ${new Date(point.time).toISOString()} was taken`);
  }
  if (lastTime !== undefined && point.time < lastTime) {
    return refuse(
      "out-of-order",
      `point at ${new Date(point.time).toISOString()}, before the last one (${new Date(lastTime).toISOString()})`,
    );
  }
  if (point.quality === "missing") {
    if (point.value !== undefined) {
      return refuse("invalid-point", "a missing point must not carry a value");
    }
    return "missing";
  }
  if (point.quality !== "ok" && point.quality !== "invalid") {
    return refuse("invalid-point", `unknown quality ${String(point.quality)}`);
  }
  if (typeof point.value !== "number" || !Number.isFinite(point.value)) {
    return refuse("invalid-value", `value ${point.value} is not a finite number`);
  }
  return { time: point.time, value: point.value, usable: point.quality === "ok" };
}

function spanText(span: BillingSpan): { start: string; end: string } {
  return { start: formatBerlin(span.start.instant), end: formatBerlin(span.end.instant) };
}

function liveRegisters(registers: readonly Register[], unit: string): LiveRegister[] {
  return registers.map((r) => ({
    obis: formatObis(r.obis),
    tariffStage: r.tariffId,
    amount: cleanAmount(r.amount),
    unit,
  }));
}

function zeroed(registers: readonly Register[], unit: string): LiveRegister[] {
  return liveRegisters(
    registers.map((r) => ({ ...r, amount: 0 })),
    unit,
  );
}

function unsafeAmount(registers: readonly Register[]): LiveError | undefined {
  const bad = registers.find((r) => Number.isInteger(r.amount) && !Number.isSafeInteger(r.amount));
  return bad === undefined
    ? undefined
    : {
        kind: "AMOUNT_OUT_OF_RANGE",
        message: `register ${formatObis(bad.obis)} overflows: the readings' values are out of range`,
      };
}

function asLiveError(error: unknown): LiveError {
  if (error instanceof TafError) return { kind: error.kind, message: error.message };
  throw error;
}

// ---------------------------------------------------------------------------------------------
// Taf2Accumulator

/** A supplier's tariff prepared for one value list. */
class Taf2Tariff {
  readonly dayIds: readonly string[];
  /** Clock times (ms after midnight) at which the day walk may look up a reading. */
  readonly lookupTimes: ReadonlySet<number>;
  readonly c: number;

  constructor(
    readonly supplier: SupplierDocument,
    obis: Obis,
  ) {
    const profile = supplier.analysisProfile;
    if (!(profile.billingPeriod.end.instant > profile.billingPeriod.start.instant)) {
      throw new TafError(
        "NO_READINGS_IN_BILLING_PERIOD",
        "calculate",
        "the supplier's billing period is empty",
      );
    }
    this.c = obis.c;
    this.dayIds = validDayProfileIds(profile, obis);
    if (this.dayIds.length === 0) {
      throw new TafError(
        "NO_MATCHING_TARIFF_STAGE",
        "calculate",
        `no day profile of the supplier's tariff uses only tariff stages of the measured quantity C=${obis.c}`,
      );
    }
    const times = new Set<number>();
    for (const p of profile.dayProfiles) {
      if (!this.dayIds.includes(p.dayId)) continue;
      for (const e of p.dayTimeProfiles) {
        times.add(e.secondsOfDay * SECOND);
        times.add((e.secondsOfDay * SECOND + QUARTER_HOUR) % DAY);
      }
    }
    this.lookupTimes = times;
  }

  registers(): Register[] {
    return taf2Registers(this.supplier.analysisProfile.tariffStages);
  }
}

interface Taf2Booking {
  dayIndex: number;
  walk: DayWalkState;
  amounts: number[];
  counted: boolean;
  error: LiveError | undefined;
}

const FAR_FUTURE: Timestamp = { instant: 8.64e15, wall: 8.64e15 };

interface Taf2PeriodState {
  readonly start: Timestamp;
  readonly end: Timestamp;
  readonly begin: PointRecord | null;
  readonly latest: PointRecord | null;
  readonly lookup: readonly PointRecord[];
  readonly dayIndex: number;
  readonly walk: DayWalkState;
  readonly amounts: readonly number[];
  readonly counted: boolean;
  readonly error: LiveError | null;
}

/** One billing period of a TAF2 value list. */
class Taf2Period {
  private begin: PointRecord | undefined;
  private latest: PointRecord | undefined;
  /** Points at the lookup times of days not yet booked, first per clock time, in time order. */
  private lookup: PointRecord[] = [];
  private byWall = new Map<number, PointRecord>();
  private booked: Taf2Booking;
  private days: SpecialDayProfile[] | undefined;

  constructor(
    readonly tariff: Taf2Tariff,
    readonly span: BillingSpan,
    private readonly unit: string,
  ) {
    this.booked = {
      dayIndex: 0,
      walk: INITIAL_DAY_WALK_STATE,
      amounts: tariff.registers().map(() => 0),
      counted: false,
      error: undefined,
    };
  }

  add(p: PointRecord): void {
    const wall = wallOf(p.time);
    // The batch engine's period runs from the first to the last reading whose clock time lies
    // within the billing period.
    if (wall >= this.span.start.wall && wall <= this.span.end.wall) {
      this.begin ??= p;
      this.latest = p;
    }
    if (this.tariff.lookupTimes.has(wall - wallDate(wall)) && !this.byWall.has(wall)) {
      this.lookup.push(p);
      this.byWall.set(wall, p);
    }
    this.bookFinalDays();
  }

  /** The reading at a clock time, as the day walk sees it. */
  at(wall: number): Reading | undefined {
    const p = this.byWall.get(wall);
    if (p === undefined) return undefined;
    const target = timestampOfInstant(p.time);
    const source: IntervalReading = {
      value: p.value,
      timePeriodStart: target,
      timePeriodDuration: undefined,
      targetTime: undefined,
      statusPTB: undefined,
      statusFNN: undefined,
      statusFNNAsPTB: undefined,
    };
    return { value: p.value, target, usable: p.usable, source };
  }

  /** SpecialDayProfiles from the calculated period's first day on, in the batch engine's order. */
  private specialDays(): SpecialDayProfile[] {
    if (this.begin === undefined) return [];
    this.days ??= specialDaysWithin(
      this.tariff.supplier.analysisProfile,
      this.tariff.dayIds,
      timestampOfInstant(this.begin.time),
      FAR_FUTURE,
    );
    return this.days;
  }

  /** Books the days that no later point can change any more. */
  private bookFinalDays(): void {
    const latest = this.latest;
    if (this.booked.error !== undefined || latest === undefined) return;
    const days = this.specialDays();
    const latestWall = wallOf(latest.time);
    let n = this.booked.dayIndex;
    while (
      n < days.length &&
      latestWall >= (days[n] as SpecialDayProfile).date + DAY + QUARTER_HOUR
    ) {
      n++;
    }
    if (n > this.booked.dayIndex)
      this.book(this.booked, days.slice(this.booked.dayIndex, n), latest);
    // Points before the next day to book are not looked up any more.
    const keepFrom = days[this.booked.dayIndex]?.date ?? Number.POSITIVE_INFINITY;
    let drop = 0;
    while (
      drop < this.lookup.length &&
      wallOf((this.lookup[drop] as PointRecord).time) < keepFrom
    ) {
      const p = this.lookup[drop] as PointRecord;
      const wall = wallOf(p.time);
      if (this.byWall.get(wall) === p) this.byWall.delete(wall);
      drop++;
    }
    if (drop > 0) this.lookup = this.lookup.slice(drop);
  }

  /** Runs the day walk over days (in order), as calculateTaf2 does. */
  private book(state: Taf2Booking, days: readonly SpecialDayProfile[], finish: PointRecord): void {
    const begin = this.begin;
    if (begin === undefined || state.error !== undefined) return;
    const profile = this.tariff.supplier.analysisProfile;
    const registers = this.tariff.registers();
    registers.forEach((r, i) => {
      r.amount = state.amounts[i] as number;
    });
    const beginAt = timestampOfInstant(begin.time);
    const finishAt = timestampOfInstant(finish.time);
    try {
      for (const day of days) {
        const walk = new DayWalk(this, state.walk);
        const account = walk.account(day.date, switchPointsOfDay(profile, day, beginAt, finishAt));
        if (account.counted) {
          bookDay(registers, account, this.tariff.c);
          state.counted = true;
        }
        state.walk = walk.state;
        state.dayIndex++;
      }
    } catch (error) {
      state.error = asLiveError(error);
    }
    state.amounts = registers.map((r) => r.amount);
  }

  /** The registers as calculateTaf2 gives them for the points so far (nothing is changed). */
  result(final: boolean): PeriodResult {
    const registers = this.tariff.registers();
    const failed = (error: LiveError): PeriodResult => ({
      tariffUseCase: 2,
      billingPeriod: spanText(this.span),
      final,
      begin: undefined,
      end: undefined,
      registers: zeroed(registers, this.unit),
      error,
    });
    if (this.booked.error !== undefined) return failed(this.booked.error);
    const begin = this.begin;
    const finish = this.latest;
    if (begin === undefined || finish === undefined || wallOf(begin.time) === wallOf(finish.time)) {
      return failed({
        kind: "NO_READINGS_IN_BILLING_PERIOD",
        message: "fewer than two readings within the billing period",
      });
    }
    const finishDate = wallDate(wallOf(finish.time));
    const within = this.specialDays().filter((d) => d.date <= finishDate);
    if (within.length === 0) {
      return failed({
        kind: "NO_MATCHING_TARIFF_STAGE",
        message: "no SpecialDayProfile of the supplier's tariff lies within the calculated period",
      });
    }
    const state: Taf2Booking = { ...this.booked, amounts: [...this.booked.amounts] };
    this.book(state, within.slice(state.dayIndex), finish);
    if (state.error !== undefined) return failed(state.error);
    if (!state.counted) {
      return failed({
        kind: "NO_USABLE_READINGS",
        message: "no day of the billing period has a usable reading",
      });
    }
    registers.forEach((r, i) => {
      r.amount = state.amounts[i] as number;
    });
    const overflow = unsafeAmount(registers);
    if (overflow !== undefined) return failed(overflow);
    return {
      tariffUseCase: 2,
      billingPeriod: spanText(this.span),
      final,
      begin: formatBerlin(begin.time),
      end: formatBerlin(finish.time),
      registers: liveRegisters(registers, this.unit),
      error: undefined,
    };
  }

  toJSON(): Taf2PeriodState {
    return {
      start: this.span.start,
      end: this.span.end,
      begin: this.begin ?? null,
      latest: this.latest ?? null,
      lookup: this.lookup,
      dayIndex: this.booked.dayIndex,
      walk: this.booked.walk,
      amounts: this.booked.amounts,
      counted: this.booked.counted,
      error: this.booked.error ?? null,
    };
  }

  static fromJSON(tariff: Taf2Tariff, unit: string, state: unknown): Taf2Period {
    const s = record(state, "period");
    const period = new Taf2Period(
      tariff,
      { start: timestamp(s.start, "period.start"), end: timestamp(s.end, "period.end") },
      unit,
    );
    period.begin = s.begin === null ? undefined : pointRecord(s.begin, "period.begin");
    period.latest = s.latest === null ? undefined : pointRecord(s.latest, "period.latest");
    period.lookup = array(s.lookup, "period.lookup").map((p, i) =>
      pointRecord(p, `period.lookup[${i}]`),
    );
    for (const p of period.lookup) {
      const wall = wallOf(p.time);
      if (!period.byWall.has(wall)) period.byWall.set(wall, p);
    }
    const walk = record(s.walk, "period.walk");
    const amounts = array(s.amounts, "period.amounts").map((a, i) =>
      num(a, `period.amounts[${i}]`),
    );
    if (amounts.length !== period.booked.amounts.length) {
      throw new LiveStateError("period.amounts does not match the tariff's registers");
    }
    const dayIndex = num(s.dayIndex, "period.dayIndex");
    if (!Number.isInteger(dayIndex) || dayIndex < 0) {
      throw new LiveStateError("period.dayIndex is not a day count");
    }
    period.booked = {
      dayIndex,
      walk: {
        latest: num(walk.latest, "period.walk.latest"),
        carry: num(walk.carry, "period.walk.carry"),
      },
      amounts,
      counted: bool(s.counted, "period.counted"),
      error: s.error === null ? undefined : liveError(s.error, "period.error"),
    };
    return period;
  }
}

export interface Taf2AccumulatorState {
  readonly version: number;
  readonly kind: "taf2";
  readonly obis: string;
  readonly unit: string;
  readonly lastTime: number | null;
  readonly tariff: SupplierDocument;
  readonly nextTariff: SupplierDocument | null;
  readonly period: Taf2PeriodState;
}

/** TAF2 registers of one value list, booked live. See the file comment. */
export class Taf2Accumulator {
  readonly obis: string;
  readonly unit: string;
  private readonly obisValue: Obis;
  private period: Taf2Period;
  private nextTariff: Taf2Tariff | undefined;
  private lastTime: number | undefined;

  /** Throws a TafError if the supplier's tariff cannot bill this value list. */
  constructor(supplier: SupplierDocument, options: AccumulatorOptions) {
    const { text, obis } = requireObis(options.obis);
    this.obis = text;
    this.obisValue = obis;
    this.unit = options.unit ?? "Wh";
    const tariff = new Taf2Tariff(supplier, obis);
    const { start, end } = supplier.analysisProfile.billingPeriod;
    this.period = new Taf2Period(tariff, { start, end }, this.unit);
  }

  /** The running billing period. */
  get billingPeriod(): { readonly start: Timestamp; readonly end: Timestamp } {
    return this.period.span;
  }

  /** Takes the next point of the series; returns the billing periods it closed. */
  add(point: SeriesPoint): AccumulatorAddResult {
    const checked = checkPoint(point, this.obis, this.unit, this.lastTime);
    if (checked !== "missing" && "ok" in checked) return checked;
    const time = point.time;
    this.lastTime = time;
    const closed: PeriodResult[] = [];
    while (time >= this.period.span.end.instant) {
      if (time === this.period.span.end.instant && checked !== "missing") this.period.add(checked);
      closed.push(this.period.result(true));
      this.rollOver();
    }
    if (time >= this.period.span.start.instant && checked !== "missing") this.period.add(checked);
    return { ok: true, closed };
  }

  /** The running period's registers so far (final: false). */
  registers(): PeriodResult {
    return this.period.result(false);
  }

  /**
   * The tariff for the next billing period: its billing period must start where the running
   * one ends. Replaces an earlier next tariff.
   */
  setNextTariff(supplier: SupplierDocument): { readonly ok: true } | Refusal {
    let tariff: Taf2Tariff;
    try {
      tariff = new Taf2Tariff(supplier, this.obisValue);
    } catch (error) {
      return refuse("invalid-tariff", asLiveError(error).message);
    }
    const start = supplier.analysisProfile.billingPeriod.start;
    if (start.instant !== this.period.span.end.instant) {
      return refuse(
        "tariff-mismatch",
        `the tariff's billing period starts ${formatBerlin(start.instant)}, the running one ends ${formatBerlin(this.period.span.end.instant)}`,
      );
    }
    this.nextTariff = tariff;
    return { ok: true };
  }

  private rollOver(): void {
    const next = this.nextTariff;
    this.nextTariff = undefined;
    if (next !== undefined) {
      const { start, end } = next.supplier.analysisProfile.billingPeriod;
      this.period = new Taf2Period(next, { start, end }, this.unit);
    } else {
      this.period = new Taf2Period(
        this.period.tariff,
        followingBillingPeriod(this.period.span),
        this.unit,
      );
    }
  }

  toJSON(): Taf2AccumulatorState {
    return {
      version: STATE_VERSION,
      kind: "taf2",
      obis: this.obis,
      unit: this.unit,
      lastTime: this.lastTime ?? null,
      tariff: this.period.tariff.supplier,
      nextTariff: this.nextTariff?.supplier ?? null,
      period: this.period.toJSON(),
    };
  }

  static fromJSON(state: unknown): Taf2Accumulator {
    const s = record(state, "state");
    header(s, "taf2");
    const supplier = supplierDocument(s.tariff, "tariff");
    const acc = new Taf2Accumulator(supplier, {
      obis: str(s.obis, "obis"),
      unit: str(s.unit, "unit"),
    });
    acc.lastTime = optionalNum(s.lastTime, "lastTime");
    acc.period = Taf2Period.fromJSON(new Taf2Tariff(supplier, acc.obisValue), acc.unit, s.period);
    if (s.nextTariff !== null) {
      acc.nextTariff = new Taf2Tariff(supplierDocument(s.nextTariff, "nextTariff"), acc.obisValue);
    }
    return acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Taf1Accumulator

class Taf1Tariff {
  readonly tariffId: number;
  readonly months: number;

  constructor(
    readonly supplier: SupplierDocument,
    obis: Obis,
  ) {
    const profile = supplier.analysisProfile;
    checkBillingPeriod(profile);
    const { start, end } = profile.billingPeriod;
    this.months = ALLOWED_PERIOD_MONTHS.find((m) => addMonthsWall(start.wall, m) === end.wall) ?? 0;
    this.tariffId = tariffOfList(profile, { obis, meterReading: { position: 1 } });
  }

  registers(): Register[] {
    return stageRegisters(this.supplier.analysisProfile.tariffStages);
  }
}

interface Taf1PeriodState {
  readonly start: Timestamp;
  readonly end: Timestamp;
  readonly first: PointRecord | null;
  readonly last: PointRecord | null;
  readonly latestUsable: PointRecord | null;
}

export interface Taf1AccumulatorState {
  readonly version: number;
  readonly kind: "taf1";
  readonly obis: string;
  readonly unit: string;
  readonly lastTime: number | null;
  readonly tariff: SupplierDocument;
  readonly nextTariff: SupplierDocument | null;
  readonly period: Taf1PeriodState;
}

/** TAF1 register of one value list: the consumption from period start to end. */
export class Taf1Accumulator {
  readonly obis: string;
  readonly unit: string;
  private readonly obisValue: Obis;
  private tariff: Taf1Tariff;
  private nextTariff: Taf1Tariff | undefined;
  private span: BillingSpan;
  /** The values at the period's start and end boundary (the first point at that clock time). */
  private first: PointRecord | undefined;
  private last: PointRecord | undefined;
  private latestUsable: PointRecord | undefined;
  private lastTime: number | undefined;

  /** Throws a TafError if the supplier's tariff cannot bill this value list with TAF1. */
  constructor(supplier: SupplierDocument, options: AccumulatorOptions) {
    const { text, obis } = requireObis(options.obis);
    this.obis = text;
    this.obisValue = obis;
    this.unit = options.unit ?? "Wh";
    this.tariff = new Taf1Tariff(supplier, obis);
    const { start, end } = supplier.analysisProfile.billingPeriod;
    this.span = { start, end };
  }

  get billingPeriod(): { readonly start: Timestamp; readonly end: Timestamp } {
    return this.span;
  }

  add(point: SeriesPoint): AccumulatorAddResult {
    const checked = checkPoint(point, this.obis, this.unit, this.lastTime);
    if (checked !== "missing" && "ok" in checked) return checked;
    const time = point.time;
    this.lastTime = time;
    const closed: PeriodResult[] = [];
    while (time >= this.span.end.instant) {
      if (time === this.span.end.instant && checked !== "missing") this.take(checked);
      closed.push(this.result(true));
      this.rollOver();
    }
    if (time >= this.span.start.instant && checked !== "missing") this.take(checked);
    return { ok: true, closed };
  }

  /** The running period: consumption from its start to the latest usable value (final: false). */
  registers(): PeriodResult {
    return this.result(false);
  }

  setNextTariff(supplier: SupplierDocument): { readonly ok: true } | Refusal {
    let tariff: Taf1Tariff;
    try {
      tariff = new Taf1Tariff(supplier, this.obisValue);
    } catch (error) {
      return refuse("invalid-tariff", asLiveError(error).message);
    }
    const start = supplier.analysisProfile.billingPeriod.start;
    if (start.instant !== this.span.end.instant) {
      return refuse(
        "tariff-mismatch",
        `the tariff's billing period starts ${formatBerlin(start.instant)}, the running one ends ${formatBerlin(this.span.end.instant)}`,
      );
    }
    this.nextTariff = tariff;
    return { ok: true };
  }

  private take(p: PointRecord): void {
    const wall = wallOf(p.time);
    if (wall === this.span.start.wall) this.first ??= p;
    if (wall === this.span.end.wall) this.last ??= p;
    if (p.usable) this.latestUsable = p;
  }

  private result(final: boolean): PeriodResult {
    const registers = this.tariff.registers();
    const { start, end } = this.span;
    const failed = (kind: TafErrorKind, at: Timestamp, which: string): PeriodResult => ({
      tariffUseCase: 1,
      billingPeriod: spanText(this.span),
      final,
      begin: undefined,
      end: undefined,
      registers: zeroed(registers, this.unit),
      error: {
        kind,
        message: `no usable value at the billing period ${which} ${formatBerlin(at.instant)} (missing, or PTB status critical or fatal)`,
      },
    });
    const first = this.first;
    if (first === undefined || !first.usable) {
      return failed("NO_VALID_VALUE_AT_BILLING_PERIOD_START", start, "start");
    }
    let last = this.last;
    if (final && (last === undefined || !last.usable)) {
      return failed("NO_VALID_VALUE_AT_BILLING_PERIOD_END", end, "end");
    }
    if (!final) last = this.latestUsable ?? first;
    const register = registers.find((r) => r.tariffId === this.tariff.tariffId) as Register;
    register.amount += (last as PointRecord).value - first.value;
    return {
      tariffUseCase: 1,
      billingPeriod: spanText(this.span),
      final,
      begin: formatBerlin(start.instant),
      end: formatBerlin(final ? end.instant : (last as PointRecord).time),
      registers: liveRegisters(registers, this.unit),
      error: undefined,
    };
  }

  private rollOver(): void {
    const next = this.nextTariff;
    this.nextTariff = undefined;
    if (next !== undefined) {
      this.tariff = next;
      const { start, end } = next.supplier.analysisProfile.billingPeriod;
      this.span = { start, end };
    } else {
      const start = this.span.end;
      this.span = {
        start,
        end: timestampOfWall(addMonthsWall(start.wall, this.tariff.months)),
      };
    }
    this.first = undefined;
    this.last = undefined;
    this.latestUsable = undefined;
  }

  toJSON(): Taf1AccumulatorState {
    return {
      version: STATE_VERSION,
      kind: "taf1",
      obis: this.obis,
      unit: this.unit,
      lastTime: this.lastTime ?? null,
      tariff: this.tariff.supplier,
      nextTariff: this.nextTariff?.supplier ?? null,
      period: {
        start: this.span.start,
        end: this.span.end,
        first: this.first ?? null,
        last: this.last ?? null,
        latestUsable: this.latestUsable ?? null,
      },
    };
  }

  static fromJSON(state: unknown): Taf1Accumulator {
    const s = record(state, "state");
    header(s, "taf1");
    const acc = new Taf1Accumulator(supplierDocument(s.tariff, "tariff"), {
      obis: str(s.obis, "obis"),
      unit: str(s.unit, "unit"),
    });
    acc.lastTime = optionalNum(s.lastTime, "lastTime");
    if (s.nextTariff !== null) {
      acc.nextTariff = new Taf1Tariff(supplierDocument(s.nextTariff, "nextTariff"), acc.obisValue);
    }
    const p = record(s.period, "period");
    acc.span = { start: timestamp(p.start, "period.start"), end: timestamp(p.end, "period.end") };
    const optionalPoint = (v: unknown, path: string) =>
      v === null ? undefined : pointRecord(v, path);
    acc.first = optionalPoint(p.first, "period.first");
    acc.last = optionalPoint(p.last, "period.last");
    acc.latestUsable = optionalPoint(p.latestUsable, "period.latestUsable");
    return acc;
  }
}

/** The accumulator for the supplier's tariff use case (1 or 2), as calculateBilling chooses. */
export function createAccumulator(
  supplier: SupplierDocument,
  options: AccumulatorOptions,
): Taf1Accumulator | Taf2Accumulator {
  const useCase = supplier.analysisProfile.tariffUseCase;
  if (useCase === 1) return new Taf1Accumulator(supplier, options);
  if (useCase === 2) return new Taf2Accumulator(supplier, options);
  throw new TafError(
    "UNSUPPORTED_TARIFF_USE_CASE",
    "calculate",
    `tariff use case ${useCase} is not supported; only TAF1 and TAF2 are`,
  );
}

/** Resumes a saved TAF1 or TAF2 accumulator. */
export function accumulatorFromJSON(state: unknown): Taf1Accumulator | Taf2Accumulator {
  const kind = record(state, "state").kind;
  if (kind === "taf1") return Taf1Accumulator.fromJSON(state);
  if (kind === "taf2") return Taf2Accumulator.fromJSON(state);
  throw new LiveStateError(`unknown accumulator kind ${String(kind)}`);
}

// ---------------------------------------------------------------------------------------------
// Checks of saved state

type Json = Record<string, unknown>;

function record(v: unknown, path: string): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new LiveStateError(`${path} is not an object`);
  }
  return v as Json;
}

function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new LiveStateError(`${path} is not an array`);
  return v;
}

function num(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new LiveStateError(`${path} is not a number`);
  }
  return v;
}

function optionalNum(v: unknown, path: string): number | undefined {
  return v === null ? undefined : num(v, path);
}

function str(v: unknown, path: string): string {
  if (typeof v !== "string") throw new LiveStateError(`${path} is not a string`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") throw new LiveStateError(`${path} is not a boolean`);
  return v;
}

function header(s: Json, kind: string): void {
  if (s.kind !== kind) throw new LiveStateError(`state of a ${String(s.kind)}, expected ${kind}`);
  if (s.version !== STATE_VERSION) {
    throw new LiveStateError(`state version ${String(s.version)} is not supported`);
  }
}

function timestamp(v: unknown, path: string): Timestamp {
  const t = record(v, path);
  return { instant: num(t.instant, `${path}.instant`), wall: num(t.wall, `${path}.wall`) };
}

function pointRecord(v: unknown, path: string): PointRecord {
  const p = record(v, path);
  return {
    time: num(p.time, `${path}.time`),
    value: num(p.value, `${path}.value`),
    usable: bool(p.usable, `${path}.usable`),
  };
}

function liveError(v: unknown, path: string): LiveError {
  const e = record(v, path);
  return {
    kind: str(e.kind, `${path}.kind`) as TafErrorKind,
    message: str(e.message, `${path}.message`),
  };
}

/** A saved supplier document: the parts the accumulators use are checked for their shape. */
function supplierDocument(v: unknown, path: string): SupplierDocument {
  const doc = record(v, path);
  const profile = record(doc.analysisProfile, `${path}.analysisProfile`);
  num(profile.tariffUseCase, `${path}.analysisProfile.tariffUseCase`);
  const period = record(profile.billingPeriod, `${path}.analysisProfile.billingPeriod`);
  timestamp(period.start, `${path}.analysisProfile.billingPeriod.start`);
  timestamp(period.end, `${path}.analysisProfile.billingPeriod.end`);
  num(period.durationSeconds, `${path}.analysisProfile.billingPeriod.durationSeconds`);
  array(profile.tariffStages, `${path}.analysisProfile.tariffStages`).forEach((s, i) => {
    const stage = record(s, `${path}.analysisProfile.tariffStages[${i}]`);
    num(stage.tariffNumber, `${path}.analysisProfile.tariffStages[${i}].tariffNumber`);
    const obis = record(stage.obis, `${path}.analysisProfile.tariffStages[${i}].obis`);
    for (const g of ["a", "b", "c", "d", "e", "f"]) {
      num(obis[g], `${path}.analysisProfile.tariffStages[${i}].obis.${g}`);
    }
  });
  array(profile.dayProfiles, `${path}.analysisProfile.dayProfiles`).forEach((d, i) => {
    const day = record(d, `${path}.analysisProfile.dayProfiles[${i}]`);
    str(day.dayId, `${path}.analysisProfile.dayProfiles[${i}].dayId`);
    array(day.dayTimeProfiles, `${path}.analysisProfile.dayProfiles[${i}].dayTimeProfiles`).forEach(
      (e, j) => {
        const entry = record(e, `${path}.analysisProfile.dayProfiles[${i}].dayTimeProfiles[${j}]`);
        num(entry.secondsOfDay, `${path}...dayTimeProfiles[${j}].secondsOfDay`);
        num(entry.tariffNumber, `${path}...dayTimeProfiles[${j}].tariffNumber`);
      },
    );
  });
  array(profile.specialDayProfiles, `${path}.analysisProfile.specialDayProfiles`).forEach(
    (s, i) => {
      const special = record(s, `${path}.analysisProfile.specialDayProfiles[${i}]`);
      num(special.date, `${path}.analysisProfile.specialDayProfiles[${i}].date`);
      str(special.dayId, `${path}.analysisProfile.specialDayProfiles[${i}].dayId`);
    },
  );
  return doc as unknown as SupplierDocument;
}
