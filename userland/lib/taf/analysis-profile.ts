/**
 * Reader for the AnalysisProfile element (tariff use case, billing period, tariff stages and the
 * time-triggered switching program), shared by both documents.
 */
import { TafError } from "./errors.ts";
import type {
  AnalysisProfile,
  BillingPeriod,
  DayProfile,
  DayTimeProfile,
  ReportedAnalysisProfile,
  ReportedTariffStage,
  SpecialDayProfile,
  TariffStage,
} from "./model.ts";
import { parseObis } from "./obis.ts";
import { daysInMonth, SECOND, timestampOfInstant, wallOfDate } from "./time.ts";
import { type ElementReader, UINT8_MAX, UINT16_MAX, UINT32_MAX, type XmlElement } from "./xml.ts";

/** Numeric day ids are compared as numbers (TRuDI reads them as integers); others as text. */
export function normaliseDayId(text: string): string {
  return /^\d+$/.test(text) ? String(Number(text)) : text;
}

/** The supplier's AnalysisProfile: complete, with valid OBIS codes and a switching program. */
export function readAnalysisProfile(r: ElementReader, element: XmlElement): AnalysisProfile {
  return readProfile(r, element, true, readTariffStage);
}

/** The gateway's own AnalysisProfile (informational): switching program optional, OBIS as text. */
export function readReportedAnalysisProfile(
  r: ElementReader,
  element: XmlElement,
): ReportedAnalysisProfile {
  return readProfile(r, element, false, readReportedTariffStage);
}

function readProfile<Stage>(
  r: ElementReader,
  element: XmlElement,
  requireTimeTrigger: boolean,
  readStage: (r: ElementReader, element: XmlElement) => Stage,
): Omit<AnalysisProfile, "tariffStages"> & { tariffStages: Stage[] } {
  const tariffUseCase = r.integer(element, "tariffUseCase", 0, UINT16_MAX);
  const billingPeriod = readBillingPeriod(r, r.required(element, "billingPeriod"));
  const stageElements = r.all(element, "TariffStage");
  if (stageElements.length === 0) r.required(element, "TariffStage");
  const tariffStages = stageElements.map((s) => readStage(r, s));
  const triggers = r.all(element, "TariffChangeTrigger");
  if (triggers.length > 1) {
    throw new TafError(
      "DUPLICATE_ELEMENT",
      r.phase,
      `${element.path}: only one TariffChangeTrigger is supported, found ${triggers.length}`,
      `${element.path}/TariffChangeTrigger`,
    );
  }
  const trigger = triggers[0];
  if (trigger === undefined && requireTimeTrigger) {
    r.required(element, "TariffChangeTrigger");
  }
  let dayProfiles: DayProfile[] = [];
  let specialDayProfiles: SpecialDayProfile[] = [];
  if (trigger !== undefined) {
    for (const other of ["ThresholdTrigger", "ExternalEventTrigger"]) {
      const found = r.optional(trigger, other);
      if (found !== undefined) {
        throw new TafError(
          "UNSUPPORTED_ELEMENT",
          r.phase,
          `${found.path}: only time-triggered tariffs (TimeTrigger) are supported`,
          found.path,
        );
      }
    }
    const timeTrigger = r.required(trigger, "TimeTrigger");
    ({ dayProfiles, specialDayProfiles } = readTimeTrigger(r, timeTrigger));
  }
  return {
    tariffUseCase,
    tariffId: r.optionalText(element, "tariffId"),
    description: r.optionalText(element, "description"),
    billingPeriod,
    tariffStages,
    defaultTariffNumber: r.optionalInteger(element, "defaultTariffNumber", 0, UINT16_MAX),
    dayProfiles,
    specialDayProfiles,
  };
}

function readBillingPeriod(r: ElementReader, element: XmlElement): BillingPeriod {
  const start = r.dateTime(element, "start");
  const durationSeconds = r.integer(element, "duration", 0, UINT32_MAX);
  return {
    start,
    durationSeconds,
    end: timestampOfInstant(start.instant + durationSeconds * SECOND),
  };
}

function readTariffStage(r: ElementReader, element: XmlElement): TariffStage {
  const obisElement = r.required(element, "obisCode");
  const obis = parseObis(obisElement.text);
  if (obis === undefined) throw r.invalid(obisElement, "an OBIS code");
  return {
    tariffNumber: r.integer(element, "tariffNumber", 0, UINT16_MAX),
    description: r.optionalText(element, "description"),
    obisCode: obisElement.text,
    obis,
  };
}

function readReportedTariffStage(r: ElementReader, element: XmlElement): ReportedTariffStage {
  const obisCode = r.text(element, "obisCode");
  return {
    tariffNumber: r.integer(element, "tariffNumber", 0, UINT16_MAX),
    description: r.optionalText(element, "description"),
    obisCode,
    obis: parseObis(obisCode),
  };
}

function readTimeTrigger(
  r: ElementReader,
  element: XmlElement,
): { dayProfiles: DayProfile[]; specialDayProfiles: SpecialDayProfile[] } {
  // Week and season profiles would change the calendar; TRuDI does not evaluate them, and
  // silently ignoring them would give wrong bills.
  for (const unsupported of ["SeasonProfile", "WeekProfile"]) {
    const found = r.all(element, unsupported)[0];
    if (found !== undefined) {
      throw new TafError(
        "UNSUPPORTED_ELEMENT",
        r.phase,
        `${found.path}: ${unsupported} is not supported; the calendar must be given as SpecialDayProfile elements`,
        found.path,
      );
    }
  }
  const dayProfileElements = r.all(element, "DayProfile");
  if (dayProfileElements.length === 0) r.required(element, "DayProfile");
  const dayProfiles = dayProfileElements.map((d) => readDayProfile(r, d));
  const specialDayProfiles = r
    .all(element, "SpecialDayProfile")
    .map((s) => readSpecialDayProfile(r, s, dayProfiles));
  return { dayProfiles, specialDayProfiles };
}

function readDayProfile(r: ElementReader, element: XmlElement): DayProfile {
  const dayIdElement = r.required(element, "dayId");
  if (dayIdElement.text === "") throw r.invalid(dayIdElement, "a day id");
  const dayTimeProfiles = r.all(element, "DayTimeProfile").map((d) => readDayTimeProfile(r, d));
  if (dayTimeProfiles.length === 0) r.required(element, "DayTimeProfile");
  return { dayId: normaliseDayId(dayIdElement.text), dayTimeProfiles };
}

function readDayTimeProfile(r: ElementReader, element: XmlElement): DayTimeProfile {
  const startTime = r.required(element, "startTime");
  // Missing parts of the time mean 0, as in TRuDI.
  const hour = r.optionalInteger(startTime, "hour", 0, 23) ?? 0;
  const minute = r.optionalInteger(startTime, "minute", 0, 59) ?? 0;
  const second = r.optionalInteger(startTime, "second", 0, 59) ?? 0;
  const hundreds = r.optionalInteger(startTime, "hundreds", 0, 99) ?? 0;
  return {
    hour,
    minute,
    second,
    hundreds,
    secondsOfDay: hour * 3600 + minute * 60 + second,
    tariffNumber: r.integer(element, "tariffNumber", 0, UINT16_MAX),
  };
}

function readSpecialDayProfile(
  r: ElementReader,
  element: XmlElement,
  dayProfiles: readonly DayProfile[],
): SpecialDayProfile {
  const dateElement = r.required(element, "specialDayDate");
  const year = r.integer(dateElement, "year", 1, 9999);
  const month = r.integer(dateElement, "month", 1, 12);
  const dayOfMonthElement = r.required(dateElement, "day_of_month");
  const dayOfMonth = r.integerOf(dayOfMonthElement, 1, UINT8_MAX);
  if (dayOfMonth > daysInMonth(year, month)) {
    throw r.invalid(dayOfMonthElement, `a day of ${year}-${String(month).padStart(2, "0")}`);
  }
  const dayIdElement = r.required(element, "dayId");
  if (dayIdElement.text === "") throw r.invalid(dayIdElement, "a day id");
  const dayId = normaliseDayId(dayIdElement.text);
  // The day id must name exactly one DayProfile (TRuDI rejects the file otherwise).
  const matches = dayProfiles.filter((p) => p.dayId === dayId).length;
  if (matches !== 1) {
    throw new TafError(
      matches === 0 ? "UNKNOWN_DAY_ID" : "DUPLICATE_ELEMENT",
      r.phase,
      matches === 0
        ? `${dayIdElement.path}: dayId "${dayIdElement.text}" names no DayProfile`
        : `${dayIdElement.path}: dayId "${dayIdElement.text}" names ${matches} DayProfiles`,
      dayIdElement.path,
    );
  }
  return { year, month, dayOfMonth, date: wallOfDate(year, month, dayOfMonth), dayId };
}
