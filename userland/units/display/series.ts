// Chart series from stored readings: the increase of a cumulative register per bucket
// (consumption), or the mean of an instantaneous value. Days and months are calendar days and
// months of German legal time, as on the consumer's bill.
import { berlinOffset } from "@smgw/ar2418";
import type { Step } from "./schemas.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Largest number of buckets one series may have. */
export const MAX_BUCKETS = 3000;

/** The instant of a Berlin wall-clock time (wall time written as if it were UTC). */
function instantOfWall(wall: number): number {
  const winter = wall - HOUR;
  if (berlinOffset(winter) === HOUR) return winter;
  const summer = wall - 2 * HOUR;
  if (berlinOffset(summer) === 2 * HOUR) return summer;
  return winter;
}

function startOf(instant: number, step: Step): number {
  if (step === "15m") return Math.floor(instant / (15 * MINUTE)) * 15 * MINUTE;
  if (step === "1h") return Math.floor(instant / HOUR) * HOUR;
  const wall = new Date(instant + berlinOffset(instant));
  const y = wall.getUTCFullYear();
  const m = wall.getUTCMonth();
  return instantOfWall(step === "1d" ? Date.UTC(y, m, wall.getUTCDate()) : Date.UTC(y, m, 1));
}

function next(start: number, step: Step): number {
  if (step === "15m") return start + 15 * MINUTE;
  if (step === "1h") return start + HOUR;
  const wall = new Date(start + berlinOffset(start));
  const y = wall.getUTCFullYear();
  const m = wall.getUTCMonth();
  return instantOfWall(
    step === "1d" ? Date.UTC(y, m, wall.getUTCDate() + 1) : Date.UTC(y, m + 1, 1),
  );
}

/** Starts of the buckets covering [from, to), plus the end of the last one. */
export function bucketBounds(from: number, to: number, step: Step): number[] | undefined {
  const bounds: number[] = [];
  for (let t = startOf(from, step); t < to; t = next(t, step)) {
    bounds.push(t);
    if (bounds.length > MAX_BUCKETS) return undefined;
  }
  bounds.push(bounds.length ? next(bounds[bounds.length - 1] as number, step) : to);
  return bounds;
}

/** Rough bucket count, to refuse a too fine step before reading anything. */
export function bucketEstimate(from: number, to: number, step: Step): number {
  const size = { "15m": 15 * MINUTE, "1h": HOUR, "1d": DAY, "1mo": 28 * DAY }[step];
  return Math.ceil((to - from) / size);
}

export type SeriesKind = "consumption" | "average";

/** OBIS value group D: 8 is a time integral (a cumulative register), 7 an instantaneous value. */
export function kindOf(obis: string): SeriesKind {
  const d = /:\d{1,3}\.(\d{1,3})\./.exec(obis)?.[1];
  return d === "8" ? "consumption" : "average";
}

export interface TimedValue {
  t: number;
  v: number;
}

/**
 * Values per bucket. Consumption: the increase between two consecutive readings is what was
 * used in the interval between them, and counts in the bucket where that interval starts (a
 * register that runs backwards, e.g. after a meter change, adds nothing). Average: the mean of
 * the readings in the bucket. Buckets without data are null.
 */
export function aggregate(
  sorted: readonly TimedValue[],
  bounds: readonly number[],
  kind: SeriesKind,
): (number | null)[] {
  const n = bounds.length - 1;
  const sums = new Array<number>(n).fill(0);
  const counts = new Array<number>(n).fill(0);
  let b = 0;
  const last = kind === "average" ? sorted.length : sorted.length - 1;
  for (let i = 0; i < last; i++) {
    const r = sorted[i] as TimedValue;
    if (r.t < (bounds[0] as number)) continue;
    while (b < n && r.t >= (bounds[b + 1] as number)) b++;
    if (b >= n) break;
    if (kind === "average") {
      sums[b] = (sums[b] as number) + r.v;
      counts[b] = (counts[b] as number) + 1;
      continue;
    }
    const delta = (sorted[i + 1] as TimedValue).v - r.v;
    if (delta >= 0) {
      sums[b] = (sums[b] as number) + delta;
      counts[b] = (counts[b] as number) + 1;
    }
  }
  return sums.map((s, i) => {
    const c = counts[i] as number;
    if (c === 0) return null;
    // Rounded to what a display can show; float noise of many small deltas is not information.
    return round(kind === "average" ? s / c : s);
  });
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
