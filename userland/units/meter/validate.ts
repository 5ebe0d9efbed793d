// Validation of a meter's readings before anything is stored: plausible numbers, known
// units, and cumulative registers that never run backwards.
import type { Reading } from "@smgw/ipc";

export interface MeterEntry {
  obis: string;
  value: number;
  unit: string;
  status: number;
}

export interface Rejection {
  obis: string;
  reason: string;
  /** Set when a cumulative register ran backwards: the last accepted value and the new one. */
  backwards?: { last: number; value: number };
}

/** Largest register value taken as plausible (Wh): 10^12 Wh = 1 TWh. */
const MAX_PLAUSIBLE = 1e12;
const OBIS = /^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})\*(\d{1,3})$/;

/** Energy registers (OBIS D = 8, time integral) only grow. */
export function isCumulative(obis: string): boolean {
  const m = OBIS.exec(obis);
  return m !== null && m[4] === "8";
}

export function validateReadings(
  entries: readonly MeterEntry[],
  last: ReadonlyMap<string, number>,
  capturedAt: string,
): { accepted: Reading[]; rejected: Rejection[] } {
  const accepted: Reading[] = [];
  const rejected: Rejection[] = [];
  for (const e of entries) {
    if (!OBIS.test(e.obis)) {
      rejected.push({ obis: String(e.obis).slice(0, 32), reason: "not an OBIS code" });
    } else if (!Number.isFinite(e.value) || Math.abs(e.value) > MAX_PLAUSIBLE) {
      rejected.push({ obis: e.obis, reason: `implausible value ${e.value}` });
    } else if (isCumulative(e.obis) && e.value < 0) {
      rejected.push({ obis: e.obis, reason: "negative energy register" });
    } else if (isCumulative(e.obis) && (last.get(e.obis) ?? Number.NEGATIVE_INFINITY) > e.value) {
      const before = last.get(e.obis) ?? 0;
      rejected.push({
        obis: e.obis,
        reason: `register ran backwards (${before} -> ${e.value})`,
        backwards: { last: before, value: e.value },
      });
    } else if (!/^[A-Za-z0-9³°/%]{1,16}$/.test(e.unit)) {
      rejected.push({ obis: e.obis, reason: "unknown unit" });
    } else {
      accepted.push({
        obis: e.obis,
        value: e.value,
        unit: e.unit,
        capturedAt,
        status: e.status >>> 0,
      });
    }
  }
  return { accepted, rejected };
}
