/**
 * TAF1 (datensparsamer Tarif): one register per tariff stage, fed once per billing period with
 * the consumption end value − start value of each original value list.
 *
 * Checks, in TRuDI's order (the first failing one is reported):
 *  1. at least one original value list, at most 3, and no other MeterReadings;
 *  2. no more tariff stages than original value lists;
 *  3. the billing period starts on the 1st of a month (local time) and lasts exactly 1, 2, 3, 6
 *     or 12 calendar months;
 *  4. per list: a usable reading exactly at the start and at the end of the billing period;
 *  5. per list: exactly one day profile uses only the tariffs of the list's measured quantity;
 *     its first switching entry names the tariff stage, and the number of SpecialDayProfiles
 *     with that day profile is a multiple of the billing period's length in days.
 */
import { TafError } from "./errors.ts";
import type { AnalysisProfile, MeterDataDocument, SupplierDocument } from "./model.ts";
import type { Obis } from "./obis.ts";
import { type BillingResult, stageRegisters, toResult } from "./registers.ts";
import { validDayProfileIds } from "./switching.ts";
import { addMonthsWall, DAY, formatBerlin, wallParts } from "./time.ts";
import { isOriginalValueList, OriginalValueList } from "./value-list.ts";

const MAX_ORIGINAL_VALUE_LISTS = 3;
export const ALLOWED_PERIOD_MONTHS: readonly number[] = [1, 2, 3, 6, 12];

function fail(kind: ConstructorParameters<typeof TafError>[0], message: string): never {
  throw new TafError(kind, "calculate", message);
}

export function calculateTaf1(
  meterData: MeterDataDocument,
  supplier: SupplierDocument,
): BillingResult {
  const profile = supplier.analysisProfile;
  const lists = meterData.meterReadings.filter(isOriginalValueList);
  if (lists.length === 0)
    fail("NO_ORIGINAL_VALUE_LIST", "no original value list in the meter data");
  if (lists.length > MAX_ORIGINAL_VALUE_LISTS) {
    fail(
      "TOO_MANY_ORIGINAL_VALUE_LISTS",
      `${lists.length} original value lists; TAF1 supports at most ${MAX_ORIGINAL_VALUE_LISTS}`,
    );
  }
  if (lists.length !== meterData.meterReadings.length) {
    const other = meterData.meterReadings.find((m) => !isOriginalValueList(m));
    fail(
      "METER_READING_NOT_AN_ORIGINAL_VALUE_LIST",
      `MeterReading[${other?.position}] is not an original value list; TAF1 accepts only original value lists`,
    );
  }
  if (profile.tariffStages.length > lists.length) {
    fail(
      "TARIFF_STAGES_EXCEED_ORIGINAL_VALUE_LISTS",
      `${profile.tariffStages.length} tariff stages but only ${lists.length} original value lists`,
    );
  }
  const { start, end } = profile.billingPeriod;
  checkBillingPeriod(profile);

  const registers = stageRegisters(profile.tariffStages);
  for (const meterReading of lists) {
    const list = new OriginalValueList(meterReading);
    const first = list.at(start.wall);
    if (first === undefined || !first.usable) {
      fail(
        "NO_VALID_VALUE_AT_BILLING_PERIOD_START",
        `MeterReading[${meterReading.position}]: no usable value at the billing period start ${formatBerlin(start.instant)} (missing, or PTB status critical or fatal)`,
      );
    }
    const last = list.at(end.wall);
    if (last === undefined || !last.usable) {
      fail(
        "NO_VALID_VALUE_AT_BILLING_PERIOD_END",
        `MeterReading[${meterReading.position}]: no usable value at the billing period end ${formatBerlin(end.instant)} (missing, or PTB status critical or fatal)`,
      );
    }
    const tariffId = tariffOfList(profile, list);
    // TRuDI books by tariff id alone: two lists of the same tariff add up in one register.
    const register = registers.find((r) => r.tariffId === tariffId);
    if (register === undefined) {
      fail("NO_REGISTER_FOR_TARIFF", `no register for tariff ${tariffId}`);
    }
    register.amount += last.value - first.value;
  }
  return toResult(1, start, end, registers);
}

export function checkBillingPeriod(profile: AnalysisProfile): void {
  const { start, end } = profile.billingPeriod;
  if (wallParts(start.wall).day !== 1) {
    fail(
      "BILLING_PERIOD_NOT_AT_MONTH_START",
      `the billing period ${formatBerlin(start.instant)} does not start at the beginning of a month`,
    );
  }
  if (!ALLOWED_PERIOD_MONTHS.some((months) => addMonthsWall(start.wall, months) === end.wall)) {
    const days = (end.wall - start.wall) / DAY;
    fail(
      "INVALID_BILLING_PERIOD_LENGTH",
      `the billing period of ${days} days is not supported; TAF1 allows 1, 2, 3, 6 or 12 months`,
    );
  }
}

/** Tariff stage a list is billed to (the list needs only its OBIS and, for messages, its position). */
export function tariffOfList(
  profile: AnalysisProfile,
  list: { readonly obis: Obis; readonly meterReading: { readonly position: number } },
): number {
  const dayIds = validDayProfileIds(profile, list.obis);
  const dayId = dayIds[0];
  if (dayIds.length !== 1 || dayId === undefined) {
    fail(
      "INVALID_DAY_PROFILE_COUNT",
      `${dayIds.length} day profiles fit the measured quantity ${list.obis.c} of MeterReading[${list.meterReading.position}]; TAF1 needs exactly 1`,
    );
  }
  const dayProfile = profile.dayProfiles.find((p) => p.dayId === dayId);
  const firstEntry = dayProfile?.dayTimeProfiles[0];
  if (firstEntry === undefined) {
    fail("DAY_PROFILE_WITHOUT_SWITCHING_TIMES", `day profile ${dayId} has no DayTimeProfile`);
  }
  const stage = profile.tariffStages.find((s) => s.tariffNumber === firstEntry.tariffNumber);
  if (stage === undefined) {
    fail(
      "NO_REGISTER_FOR_TARIFF",
      `day profile ${dayId} uses tariff ${firstEntry.tariffNumber}, which is no tariff stage`,
    );
  }
  const { start, end } = profile.billingPeriod;
  const days = Math.trunc((end.wall - start.wall) / DAY);
  const count = profile.specialDayProfiles.filter((s) => s.dayId === dayId).length;
  if (count % days !== 0) {
    fail(
      "INVALID_SPECIAL_DAY_PROFILE_COUNT",
      `${count} SpecialDayProfiles use day profile ${dayId}; the count must be a multiple of the ${days} days of the billing period`,
    );
  }
  return stage.tariffNumber;
}
