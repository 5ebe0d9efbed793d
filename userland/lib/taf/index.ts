export { billDocuments, calculateBilling } from "./bill.ts";
export { type CliOutcome, runTafBill, TAF_BILL_USAGE } from "./cli.ts";
export {
  goldenErrorName,
  isTafError,
  TafError,
  type TafErrorKind,
  type TafErrorPhase,
} from "./errors.ts";
export {
  type AccumulatorAddResult,
  type AccumulatorOptions,
  accumulatorFromJSON,
  createAccumulator,
  followingBillingPeriod,
  type LiveError,
  type LiveReading,
  type LiveRegister,
  LiveStateError,
  MeasurementSeries,
  type MeasurementSeriesOptions,
  type MeasurementSeriesState,
  meterStatusToPtb,
  type PeriodResult,
  type PointQuality,
  type Refusal,
  type RefusalReason,
  type SeriesAddResult,
  type SeriesPoint,
  Taf1Accumulator,
  type Taf1AccumulatorState,
  Taf2Accumulator,
  type Taf2AccumulatorState,
  toIntervalReadings,
} from "./live.ts";
export { parseMeterData } from "./meter-data.ts";
export type * from "./model.ts";
export { formatObis, type Obis, parseObis } from "./obis.ts";
export {
  type BillingResult,
  ERROR_TARIFF_ID,
  type RegisterResult,
} from "./registers.ts";
export { parseSupplier } from "./supplier.ts";
export { calculateTaf1 } from "./taf1.ts";
export { calculateTaf2, calculateTaf2Detail, type DayAccount, type Taf2Detail } from "./taf2.ts";
export { formatBerlin, parseDateTime, type Timestamp } from "./time.ts";
export { isOriginalValueList, OriginalValueList, type Reading } from "./value-list.ts";
export { DEFAULT_MAX_DOCUMENT_BYTES, type ReadXmlOptions } from "./xml.ts";
