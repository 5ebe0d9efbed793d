/**
 * TAF2 (zeitvariabler Tarif): the consumption of each original value list is split at the
 * switching points of the supplier's day profiles and booked into the tariff-stage registers;
 * what cannot be attributed to one tariff goes to the error register *.8.63.
 *
 * The rules are TRuDI's, so that the registers match the consumer-side verifier:
 *
 * Period. The calculated period runs from the first to the last reading (target time) that
 * lies within the supplier's billing period; fewer than two such readings is an error. Days are the
 * SpecialDayProfiles of that period whose day profile fits the list's measured quantity.
 *
 * Day. A day's switching points are its day profile's entries (cut to the period on its first
 * and last day). Readings are only needed at points where the tariff changes and at the day's
 * last point; readings in between do not matter, so a gap inside one tariff span changes
 * nothing. A day whose last point is 23:45 closes with the next day's 00:00 reading (or, if
 * that one is missing or unusable, with the 23:45 reading). A day profile that ends earlier
 * closes at its last point. An entry's tariff applies from its time to the next entry, with
 * one exception: if the 23:45 entry switches, the span from the previous switch is closed with
 * the midnight reading, so 23:45-24:00 still counts for the earlier tariff (golden case
 * taf2_TestSingleDayMaxTarifChangeWithoutGaps: 470/490, not 480/480).
 *
 * Gap at a switching point (no usable reading there):
 *  - the consumption up to the last usable reading before the switch stays with the old tariff;
 *  - from there to the first usable reading after the switch it goes to the error register;
 *  - if no usable reading follows within the day (up to the closing reading), the rest is not
 *    booked on this day; the next day's start bridges it (below).
 *
 * Gap at the start of a day (first point unusable): the day starts at its first usable
 * reading. The consumption since the highest usable reading seen so far goes to the tariff of
 * the last booked span if every point passed in the gap has that tariff, else to the error
 * register (also after a span that could not be booked at all). Without any usable reading in
 * the day, the day counts only if the point 15 minutes after its last entry (the next midnight)
 * has one. Before the first day "the highest usable reading" is 0, as in TRuDI.
 *
 * Where TRuDI fails with an internal error (an index or null fault) on odd input, this engine
 * books nothing for the affected span instead; see the comments at those places.
 */
import { TafError } from "./errors.ts";
import type { MeterDataDocument, SupplierDocument } from "./model.ts";
import {
  type BillingResult,
  ERROR_TARIFF_ID,
  type Register,
  registerIndexFor,
  taf2Registers,
  toResult,
} from "./registers.ts";
import {
  type SwitchPoint,
  specialDaysWithin,
  switchPointsOfDay,
  validDayProfileIds,
} from "./switching.ts";
import { MINUTE, type Timestamp, wallTimeOfDay } from "./time.ts";
import { isOriginalValueList, OriginalValueList, type Reading } from "./value-list.ts";

const QUARTER_HOUR = 15 * MINUTE;
const LAST_QUARTER = 23 * 60 * MINUTE + 45 * MINUTE;

/** A share of consumption booked to one tariff. */
export interface Booking {
  readonly fromWall: number;
  readonly toWall: number;
  tariff: number;
  readonly amount: number;
}

/** Nothing booked; TRuDI's "empty range" marker. */
function nothing(): Booking {
  return {
    fromWall: Number.NEGATIVE_INFINITY,
    toWall: Number.NEGATIVE_INFINITY,
    tariff: 0,
    amount: 0,
  };
}

function isEmpty(b: Booking): boolean {
  return b.fromWall === b.toWall && b.amount === 0;
}

/** A reading found for a switching point, and the clock time it was looked up for. */
interface Found {
  readonly reading: Reading | undefined;
  readonly wall: number;
}

export interface DayAccount {
  readonly date: number;
  /** True if the day had a usable start reading or booked anything (TRuDI keeps such days). */
  readonly counted: boolean;
  readonly bookings: readonly Booking[];
}

/** What the day walk needs of a value list: the reading at a local clock time. */
export interface ReadingLookup {
  at(wall: number): Reading | undefined;
}

/** What a day walk carries from one day to the next. */
export interface DayWalkState {
  /** Highest usable reading value seen so far (TRuDI's bridge over gaps between days). */
  readonly latest: number;
  /** Tariff of the last booked span; the error tariff at the start and after lost spans. */
  readonly carry: number;
}

/** The state a walk starts a calculated period with. */
export const INITIAL_DAY_WALK_STATE: DayWalkState = { latest: 0, carry: ERROR_TARIFF_ID };

/** Walks the days of one original value list, carrying state from day to day. */
export class DayWalk {
  private latest: number;
  private carry: number;
  private points: readonly SwitchPoint[] = [];
  private bookings: Booking[] = [];

  constructor(
    private readonly list: ReadingLookup,
    state: DayWalkState = INITIAL_DAY_WALK_STATE,
  ) {
    this.latest = state.latest;
    this.carry = state.carry;
  }

  /** The state to carry into the next day (a later walk may start from it). */
  get state(): DayWalkState {
    return { latest: this.latest, carry: this.carry };
  }

  account(date: number, points: readonly SwitchPoint[]): DayAccount {
    this.points = points;
    this.bookings = [];
    const n = points.length;
    const first = points[0];
    if (first === undefined) {
      // TRuDI fails on a day without switching points; there is nothing to book.
      return { date, counted: false, bookings: [] };
    }
    let fromWall = first.wall;
    let fromReading = this.list.at(fromWall);
    let i = 1;
    if (!fromReading?.usable) {
      const resumed = this.resumeAfterGapAtDayStart();
      fromReading = resumed.reading;
      i = resumed.next;
      if (fromReading?.usable) fromWall = fromReading.target.wall;
    }
    const counted = fromReading?.usable === true;
    for (; i < n; i++) {
      const before = points[i - 1] as SwitchPoint;
      const point = points[i] as SwitchPoint;
      if (before.tariff === point.tariff && i !== n - 1) continue;
      // Inside the loop the span always starts at a usable reading (see resume and closeSpan).
      if (fromReading === undefined || !fromReading.usable) break;
      const step = this.closeSpan(i, fromWall, fromReading);
      fromReading = step.end.reading ?? fromReading;
      fromWall = fromReading.target.wall;
      if (fromReading.usable) this.latest = Math.max(this.latest, fromReading.value);
      this.carry = step.booking.tariff;
      if (!isEmpty(step.booking)) this.bookings.push(step.booking);
      i = step.next;
    }
    return { date, counted: counted || this.bookings.length > 0, bookings: this.bookings };
  }

  /** Reading that closes the span ending at point k (the 23:45 rule, see the file comment). */
  private closing(k: number): Found {
    const point = this.points[k] as SwitchPoint;
    if (k === this.points.length - 1 && wallTimeOfDay(point.wall) === LAST_QUARTER) {
      const midnight = point.wall + QUARTER_HOUR;
      const reading = this.list.at(midnight);
      if (reading?.usable) return { reading, wall: midnight };
    }
    return { reading: this.list.at(point.wall), wall: point.wall };
  }

  private usableAt(k: number): boolean {
    return this.list.at((this.points[k] as SwitchPoint).wall)?.usable === true;
  }

  /**
   * Books the span from `fromWall` to point i (a tariff change, or the day's last point).
   * Returns the reading the next span starts from and the index to continue after.
   */
  private closeSpan(
    i: number,
    fromWall: number,
    fromReading: Reading,
  ): { booking: Booking; end: Found; next: number } {
    const n = this.points.length;
    const tariffBefore = (this.points[i - 1] as SwitchPoint).tariff;
    let carry = this.carry;
    const closing = this.closing(i);
    if (closing.reading?.usable) {
      const booking = {
        fromWall,
        toWall: closing.wall,
        tariff: tariffBefore,
        amount: closing.reading.value - fromReading.value,
      };
      if (isEmpty(booking)) booking.tariff = carry;
      return { booking, end: closing, next: i };
    }

    // No usable reading at the switch: book up to the last usable reading before it.
    const lastBefore = this.lastUsableBefore(fromWall, i - 1);
    let end = this.closing(lastBefore);
    let booking: Booking;
    const switchWall = (this.points[i] as SwitchPoint).wall;
    if ((this.points[lastBefore] as SwitchPoint).wall < switchWall && end.reading !== undefined) {
      booking = {
        fromWall,
        toWall: end.wall,
        tariff: (this.points[lastBefore] as SwitchPoint).tariff,
        amount: end.reading.value - fromReading.value,
      };
    } else if (end.reading?.usable) {
      // The next usable reading lies beyond the switch: the whole span is an error.
      booking = {
        fromWall,
        toWall: end.wall,
        tariff: ERROR_TARIFF_ID,
        amount: end.reading.value - fromReading.value,
      };
    } else {
      // No usable reading up to the end of the day: nothing is booked, the span is lost.
      carry = ERROR_TARIFF_ID;
      end = { reading: fromReading, wall: end.wall };
      booking = nothing();
    }
    let next = lastBefore;
    if (lastBefore === i - 1) {
      // The reading just before the switch is usable: book the old tariff up to it, and the
      // time from it to the next usable reading after the switch as an error.
      const endReading = end.reading as Reading;
      if (endReading.usable) this.latest = Math.max(this.latest, endReading.value);
      carry = booking.tariff;
      if (!isEmpty(booking)) this.bookings.push(booking);
      let j = i - 1;
      let after = this.closing(j + 1);
      while (!after.reading?.usable) {
        j++;
        if (j < n - 1) {
          after = this.closing(j + 1);
        } else {
          // Nothing usable until the day's end. (TRuDI fails with an index fault if the
          // closing reading exists but is unusable; we book nothing in both cases.)
          after = end;
          break;
        }
      }
      const afterReading = after.reading as Reading;
      booking = {
        fromWall: end.wall,
        toWall: after.wall,
        tariff: ERROR_TARIFF_ID,
        amount: afterReading.value - endReading.value,
      };
      end = after;
      next = j + 1;
    }
    if (isEmpty(booking)) booking.tariff = carry;
    // At the day's last point the loop ends anyway; TRuDI keeps i there.
    return { booking, end, next: i === n - 1 ? i : next };
  }

  /**
   * Searching backwards from `index`, the last point with a usable reading after the span's
   * start. If the search reaches the span's start, it turns round: the first usable point at or
   * after `index`, or the day's last point if there is none.
   */
  private lastUsableBefore(fromWall: number, index: number): number {
    const n = this.points.length;
    let k = index;
    for (;;) {
      if ((this.points[k] as SwitchPoint).wall === fromWall) {
        k = this.firstUsableFrom(index);
        if (k === n - 1) return k;
      }
      if (this.usableAt(k)) return k;
      k--;
      if (k < 0) {
        throw new TafError(
          "ALL_READINGS_INVALID",
          "calculate",
          "no usable reading for the day: every PTB or FNN status is critical or fatal",
        );
      }
    }
  }

  private firstUsableFrom(index: number): number {
    for (let k = index; k < this.points.length; k++) if (this.usableAt(k)) return k;
    return this.points.length - 1;
  }

  /** The day's first point has no usable reading: find where the day can start. */
  private resumeAfterGapAtDayStart(): { reading: Reading | undefined; next: number } {
    const points = this.points;
    const n = points.length;
    const dayStart = (points[0] as SwitchPoint).wall;
    let tariff = this.carry;
    for (let k = 1; k < n; k++) {
      const point = points[k] as SwitchPoint;
      // A switch inside the gap makes the bridged consumption an error.
      if (point.tariff !== tariff && tariff !== ERROR_TARIFF_ID) tariff = ERROR_TARIFF_ID;
      const reading = this.list.at(point.wall);
      if (reading?.usable) {
        this.bookings.push({
          fromWall: dayStart,
          toWall: point.wall,
          tariff,
          amount: reading.value - this.latest,
        });
        this.latest = Math.max(this.latest, reading.value);
        this.carry = point.tariff;
        return { reading, next: k };
      }
    }
    this.carry = tariff;
    if (n < 2) {
      // A single point without a usable reading (TRuDI fails on a null here).
      return { reading: undefined, next: n };
    }
    const afterLast = (points[n - 1] as SwitchPoint).wall + QUARTER_HOUR;
    const reading = this.list.at(afterLast);
    if (reading?.usable) {
      this.bookings.push({
        fromWall: dayStart,
        toWall: afterLast,
        tariff,
        amount: reading.value - this.latest,
      });
    }
    return { reading, next: n };
  }
}

export interface Taf2Detail {
  readonly result: BillingResult;
  /** Per original value list (in document order) the accounted days. */
  readonly days: readonly { readonly position: number; readonly days: readonly DayAccount[] }[];
}

export function calculateTaf2(
  meterData: MeterDataDocument,
  supplier: SupplierDocument,
): BillingResult {
  return calculateTaf2Detail(meterData, supplier).result;
}

export function calculateTaf2Detail(
  meterData: MeterDataDocument,
  supplier: SupplierDocument,
): Taf2Detail {
  const profile = supplier.analysisProfile;
  const lists = meterData.meterReadings.filter(isOriginalValueList);
  if (lists.length === 0) {
    throw new TafError(
      "NO_ORIGINAL_VALUE_LIST",
      "calculate",
      "no original value list in the meter data",
    );
  }
  const registers = taf2Registers(profile.tariffStages);
  const { start, end } = profile.billingPeriod;
  let begin: Timestamp | undefined;
  let finish: Timestamp | undefined;
  let anyDayCounted = false;
  let anyListAccounted = false;
  const details: { position: number; days: DayAccount[] }[] = [];

  for (const meterReading of lists) {
    const list = new OriginalValueList(meterReading);
    const first = list.firstWithin(start.wall, end.wall);
    const last = list.lastWithin(start.wall, end.wall);
    if (first === undefined || last === undefined || first.target.wall === last.target.wall) {
      throw new TafError(
        "NO_READINGS_IN_BILLING_PERIOD",
        "calculate",
        `MeterReading[${meterReading.position}] has no readings within the billing period`,
      );
    }
    begin = first.target;
    finish = last.target;
    const dayIds = validDayProfileIds(profile, list.obis);
    const specialDays = specialDaysWithin(profile, dayIds, begin, finish);
    // A list that no day profile fits is skipped, as in TRuDI.
    if (dayIds.length === 0 || specialDays.length === 0) continue;
    anyListAccounted = true;

    const walk = new DayWalk(list);
    const days: DayAccount[] = [];
    for (const special of specialDays) {
      const day = walk.account(special.date, switchPointsOfDay(profile, special, begin, finish));
      days.push(day);
      if (day.counted) bookDay(registers, day, list.obis.c);
    }
    details.push({ position: meterReading.position, days });
    anyDayCounted ||= days.some((d) => d.counted);
    if (!anyDayCounted) {
      throw new TafError(
        "NO_USABLE_READINGS",
        "calculate",
        `MeterReading[${meterReading.position}]: no day of the billing period has a usable reading`,
      );
    }
  }
  if (!anyListAccounted || begin === undefined || finish === undefined) {
    // TRuDI would report all registers as 0 here; a bill without any matching tariff stage is
    // more likely a mismatch of meter data and tariff, so we say so.
    throw new TafError(
      "NO_MATCHING_TARIFF_STAGE",
      "calculate",
      "no original value list matches a tariff stage and day profile of the supplier's tariff",
    );
  }
  return { result: toResult(2, begin, finish, registers), days: details };
}

/**
 * Adds a day's bookings to the registers. Bookings go to the first register of their tariff
 * and measured quantity; a later register with the same tariff and quantity receives the same
 * day sums again (TRuDI's summing, relevant only for duplicate tariff stages).
 */
export function bookDay(registers: Register[], day: DayAccount, c: number): void {
  const daySums = registers.map(() => 0);
  for (const b of day.bookings) {
    const index = registerIndexFor(registers, b.tariff, c);
    daySums[index] = (daySums[index] as number) + b.amount;
  }
  for (const register of registers) {
    const index = registers.findIndex(
      (r) => r.tariffId === register.tariffId && r.obis.c === register.obis.c,
    );
    register.amount += daySums[index] as number;
  }
}
