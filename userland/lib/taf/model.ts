/**
 * Typed model of the two VDE AR 2418-6 documents the tariff engine reads:
 * IF_Adapter_TRuDI (meter data from the gateway) and IF_Lieferant_TRuDI (the supplier's tariff).
 * Field names follow the schema's element names.
 */
import type { Obis } from "./obis.ts";
import type { Timestamp } from "./time.ts";

export interface BillingPeriod {
  readonly start: Timestamp;
  readonly durationSeconds: number;
  /** start + duration, counted in real seconds (so across a DST change too). */
  readonly end: Timestamp;
}

export interface TariffStage {
  readonly tariffNumber: number;
  readonly description: string | undefined;
  readonly obisCode: string;
  readonly obis: Obis;
}

export interface DayTimeProfile {
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly hundreds: number;
  /** hour, minute and second as seconds after midnight (hundreds are not used for switching). */
  readonly secondsOfDay: number;
  readonly tariffNumber: number;
}

export interface DayProfile {
  /** dayId; numeric ids are normalised ("01" and "1" are the same day profile). */
  readonly dayId: string;
  readonly dayTimeProfiles: readonly DayTimeProfile[];
}

export interface SpecialDayProfile {
  readonly year: number;
  readonly month: number;
  readonly dayOfMonth: number;
  /** Local midnight of the date, on the wall scale. */
  readonly date: number;
  readonly dayId: string;
}

export interface AnalysisProfile {
  readonly tariffUseCase: number;
  readonly tariffId: string | undefined;
  readonly description: string | undefined;
  readonly billingPeriod: BillingPeriod;
  readonly tariffStages: readonly TariffStage[];
  readonly defaultTariffNumber: number | undefined;
  readonly dayProfiles: readonly DayProfile[];
  readonly specialDayProfiles: readonly SpecialDayProfile[];
}

export interface UsagePointHeader {
  readonly usagePointId: string | undefined;
  readonly tariffName: string | undefined;
  readonly serviceCategoryKind: number | undefined;
  readonly customerId: string | undefined;
  readonly invoicingPartyId: string | undefined;
  readonly smgwId: string | undefined;
}

export interface ReadingType {
  readonly obisCode: string;
  readonly obis: Obis;
  readonly qualifiedLogicalName: string | undefined;
  readonly uom: number | undefined;
  readonly scaler: number | undefined;
  readonly powerOfTenMultiplier: number | undefined;
  /** ESPI intervalLength in seconds, if given. */
  readonly intervalLength: number | undefined;
  /** AR 2418-6 measurementPeriod in seconds, if given. */
  readonly measurementPeriod: number | undefined;
}

export interface IntervalReading {
  readonly value: number;
  readonly timePeriodStart: Timestamp;
  readonly timePeriodDuration: number | undefined;
  readonly targetTime: Timestamp | undefined;
  readonly statusPTB: number | undefined;
  readonly statusFNN: string | undefined;
  /** statusFNN mapped to a PTB status (0..4), if statusFNN is given. */
  readonly statusFNNAsPTB: number | undefined;
}

export interface IntervalBlock {
  readonly intervalStart: Timestamp;
  readonly intervalDuration: number;
  readonly intervalReadings: readonly IntervalReading[];
}

export interface MeterReading {
  /** 1-based position among the MeterReading elements, for messages. */
  readonly position: number;
  readonly meterId: string | undefined;
  readonly meterReadingId: string | undefined;
  readonly readingType: ReadingType;
  readonly intervalBlocks: readonly IntervalBlock[];
}

export interface LogEntry {
  readonly recordNumber: number | undefined;
  readonly level: number | undefined;
  readonly text: string | undefined;
  readonly outcome: number | undefined;
  readonly timestamp: Timestamp | undefined;
}

/**
 * A tariff stage as the gateway reports it in its own AnalysisProfile. The gateway's profile is
 * only informational (the supplier's tariff is billed), so its OBIS code is kept as text and
 * parsed only if possible: gateways are known to write malformed codes here.
 */
export interface ReportedTariffStage extends Omit<TariffStage, "obis"> {
  readonly obis: Obis | undefined;
}

export interface ReportedAnalysisProfile extends Omit<AnalysisProfile, "tariffStages"> {
  readonly tariffStages: readonly ReportedTariffStage[];
}

/** IF_Adapter_TRuDI: what the gateway delivers. */
export interface MeterDataDocument extends UsagePointHeader {
  readonly analysisProfile: ReportedAnalysisProfile | undefined;
  readonly logEntries: readonly LogEntry[];
  readonly meterReadings: readonly MeterReading[];
}

/** IF_Lieferant_TRuDI: the supplier's tariff. */
export interface SupplierDocument extends UsagePointHeader {
  readonly analysisProfile: AnalysisProfile;
}

/** PTB status values that make a reading unusable for billing (PTB-A 50.8). */
export const PTB_CRITICAL_TEMPORARY_ERROR = 3;
export const PTB_FATAL_ERROR = 4;
