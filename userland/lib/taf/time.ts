/**
 * Time handling for the tariff engine.
 *
 * Two scales are used side by side:
 * - instant: milliseconds since the Unix epoch (UTC), what the documents' offsets define;
 * - wall: Europe/Berlin local clock time, stored as milliseconds "as if it were UTC".
 *
 * TRuDI compares timestamps as German local clock times (it converts every xs:dateTime to
 * local time and compares those), and the supplier's switching program is written in local
 * clock times. So readings are looked up by wall time; instants are kept for ordering and
 * output. Europe/Berlin follows the EU rule (in force since 1996): summer time (UTC+2) from
 * the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC, else UTC+1.
 */

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A point in time with both scales. */
export interface Timestamp {
  readonly instant: number;
  readonly wall: number;
}

/** Date.UTC that also takes years below 100 literally. */
function utc(year: number, monthIndex: number, day: number, hour = 0): number {
  const d = new Date(Date.UTC(2000, monthIndex, day, hour));
  d.setUTCFullYear(year, monthIndex, day);
  return d.getTime();
}

function lastSundayUtc(year: number, monthIndex: number): number {
  const lastDay = new Date(utc(year, monthIndex + 1, 0));
  return utc(year, monthIndex, lastDay.getUTCDate() - lastDay.getUTCDay(), 1);
}

/** Offset of Europe/Berlin local time from UTC at an instant, in milliseconds. */
export function berlinOffset(instant: number): number {
  const year = new Date(instant).getUTCFullYear();
  const summerStart = lastSundayUtc(year, 2);
  const summerEnd = lastSundayUtc(year, 9);
  return instant >= summerStart && instant < summerEnd ? 2 * HOUR : HOUR;
}

export function wallOf(instant: number): number {
  return instant + berlinOffset(instant);
}

/**
 * Instant of a Berlin wall time. An ambiguous wall time (the repeated hour in October) and a
 * skipped one (the missing hour in March) resolve with the standard offset, as .NET does for
 * local times.
 */
export function instantOfWall(wall: number): number {
  const asSummer = wall - 2 * HOUR;
  const asWinter = wall - HOUR;
  if (berlinOffset(asWinter) === HOUR) return asWinter;
  if (berlinOffset(asSummer) === 2 * HOUR) return asSummer;
  return asWinter;
}

export function timestampOfInstant(instant: number): Timestamp {
  return { instant, wall: wallOf(instant) };
}

export function timestampOfWall(wall: number): Timestamp {
  return { instant: instantOfWall(wall), wall };
}

/** Start of the wall day (local midnight) of a wall time. */
export function wallDate(wall: number): number {
  return Math.floor(wall / DAY) * DAY;
}

/** Milliseconds since local midnight. */
export function wallTimeOfDay(wall: number): number {
  return wall - wallDate(wall);
}

/** Wall time of a calendar date and clock time; month is 1-based. */
export function wallOfDate(year: number, month: number, day: number, seconds = 0): number {
  return utc(year, month - 1, day) + seconds * SECOND;
}

export interface WallParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export function wallParts(wall: number): WallParts {
  const d = new Date(wall);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** Adds calendar months to a wall time; the day is clamped to the target month's length. */
export function addMonthsWall(wall: number, months: number): number {
  const p = wallParts(wall);
  const monthIndex = p.month - 1 + months;
  const year = p.year + Math.floor(monthIndex / 12);
  const month = (((monthIndex % 12) + 12) % 12) + 1;
  const lastDay = daysInMonth(year, month);
  return wallOfDate(year, month, Math.min(p.day, lastDay)) + (wall - wallDate(wall));
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Parses an xs:dateTime. With an offset (or Z) the instant is exact; without one the time is
 * read as Berlin local time, as TRuDI does. Fractions finer than a millisecond are dropped.
 * Returns undefined for anything that is not a valid date and time.
 */
export function parseDateTime(text: string): Timestamp | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, fraction, zone] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = Number(hs);
  const minute = Number(mis);
  const second = Number(ss);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = fraction ? Number(fraction.slice(0, 3).padEnd(3, "0")) : 0;
  const clock = wallOfDate(year, month, day, hour * 3600 + minute * 60 + second) + millis;
  if (zone === undefined) return timestampOfWall(clock);
  let offset = 0;
  if (zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 14 || om > 59) return undefined;
    offset = sign * (oh * HOUR + om * MINUTE);
  }
  return timestampOfInstant(clock - offset);
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** Formats an instant as Berlin local time with its offset: yyyy-MM-ddTHH:mm:ss+hh:mm. */
export function formatBerlin(instant: number): string {
  const offset = berlinOffset(instant);
  const p = wallParts(instant + offset);
  const offsetHours = Math.floor(offset / HOUR);
  const offsetMinutes = Math.floor((offset % HOUR) / MINUTE);
  return (
    `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}` +
    `+${pad(offsetHours)}:${pad(offsetMinutes)}`
  );
}
