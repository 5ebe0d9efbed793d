/** The supplier's switching program: which day profiles apply, and a day's switching points. */
import { TafError } from "./errors.ts";
import type { AnalysisProfile, SpecialDayProfile } from "./model.ts";
import type { Obis } from "./obis.ts";
import { SECOND, type Timestamp, wallDate } from "./time.ts";

/** One entry of a day's switching program: from `wall` on, `tariff` applies. */
export interface SwitchPoint {
  readonly wall: number;
  readonly tariff: number;
}

/**
 * Day profiles usable for a measured quantity: those whose entries all name tariff stages of
 * the same quantity (OBIS C), e.g. only 1.8.x stages for an import list.
 */
export function validDayProfileIds(profile: AnalysisProfile, obis: Obis): string[] {
  if (profile.tariffStages.length === 0 || profile.dayProfiles.length === 0) {
    throw new TafError(
      "NO_TARIFF_STAGES_OR_DAY_PROFILES",
      "calculate",
      "the supplier's tariff has no tariff stages or no day profiles",
    );
  }
  const tariffs = new Set(
    profile.tariffStages.filter((s) => s.obis.c === obis.c).map((s) => s.tariffNumber),
  );
  return profile.dayProfiles
    .filter((p) => p.dayTimeProfiles.every((d) => tariffs.has(d.tariffNumber)))
    .map((p) => p.dayId);
}

/** SpecialDayProfiles of the given day profiles whose dates lie in [begin, end], by date. */
export function specialDaysWithin(
  profile: AnalysisProfile,
  dayIds: readonly string[],
  begin: Timestamp,
  end: Timestamp,
): SpecialDayProfile[] {
  const first = wallDate(begin.wall);
  const last = wallDate(end.wall);
  return profile.specialDayProfiles
    .filter((s) => dayIds.includes(s.dayId) && s.date >= first && s.date <= last)
    .sort((a, b) => a.date - b.date);
}

/**
 * Switching points of one calendar day, in clock-time order. On the first and last day of the
 * calculated period only the entries at or after its begin / at or before its end are kept.
 */
export function switchPointsOfDay(
  profile: AnalysisProfile,
  day: SpecialDayProfile,
  begin: Timestamp,
  end: Timestamp,
): SwitchPoint[] {
  const dayProfile = profile.dayProfiles.find((p) => p.dayId === day.dayId);
  if (dayProfile === undefined) {
    throw new TafError("UNKNOWN_DAY_ID", "calculate", `no DayProfile with dayId ${day.dayId}`);
  }
  const beginDate = wallDate(begin.wall);
  const endDate = wallDate(end.wall);
  const beginTime = begin.wall - beginDate;
  const endTime = end.wall - endDate;
  let entries = dayProfile.dayTimeProfiles;
  if (day.date === beginDate) {
    entries = entries.filter(
      (e) =>
        e.secondsOfDay * SECOND >= beginTime &&
        (day.date !== endDate || e.secondsOfDay * SECOND <= endTime),
    );
  } else if (day.date === endDate) {
    entries = entries.filter((e) => e.secondsOfDay * SECOND <= endTime);
  }
  return [...entries]
    .sort((a, b) => a.secondsOfDay - b.secondsOfDay)
    .map((e) => ({ wall: day.date + e.secondsOfDay * SECOND, tariff: e.tariffNumber }));
}
