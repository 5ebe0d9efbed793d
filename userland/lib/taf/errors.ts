/**
 * Errors of the tariff engine. Every failure the engine reports is a TafError with a stable
 * `kind`; nothing else is thrown for bad input.
 *
 * Mapping to the `expect.error` names of the TRuDI golden cases:
 * - NO_ORIGINAL_VALUE_LIST, TOO_MANY_ORIGINAL_VALUE_LISTS, METER_READING_NOT_AN_ORIGINAL_VALUE_LIST,
 *   TARIFF_STAGES_EXCEED_ORIGINAL_VALUE_LISTS, BILLING_PERIOD_NOT_AT_MONTH_START,
 *   INVALID_BILLING_PERIOD_LENGTH, NO_VALID_VALUE_AT_BILLING_PERIOD_START,
 *   NO_VALID_VALUE_AT_BILLING_PERIOD_END, INVALID_SPECIAL_DAY_PROFILE_COUNT: same kind, same name.
 * - SUPPLIER_FILE_PARSE_ERROR: any error of phase "parse-supplier" (TRuDI collects all parse
 *   problems of the supplier file into one exception; we name the first problem precisely, e.g.
 *   UNKNOWN_DAY_ID for a SpecialDayProfile whose dayId names no DayProfile).
 * The other kinds have no counterpart among the golden cases.
 */

export type TafErrorKind =
  // reading the documents
  | "INPUT_TOO_LARGE"
  | "MALFORMED_XML"
  | "UNSUPPORTED_XML"
  | "WRONG_DOCUMENT"
  | "MISSING_ELEMENT"
  | "DUPLICATE_ELEMENT"
  | "INVALID_ELEMENT"
  | "UNSUPPORTED_ELEMENT"
  | "UNKNOWN_DAY_ID"
  // choosing the tariff use case
  | "UNSUPPORTED_TARIFF_USE_CASE"
  // shared by TAF1 and TAF2
  | "NO_ORIGINAL_VALUE_LIST"
  | "NO_TARIFF_STAGES_OR_DAY_PROFILES"
  | "DAY_PROFILE_WITHOUT_SWITCHING_TIMES"
  | "NO_REGISTER_FOR_TARIFF"
  | "AMOUNT_OUT_OF_RANGE"
  // TAF1
  | "TOO_MANY_ORIGINAL_VALUE_LISTS"
  | "METER_READING_NOT_AN_ORIGINAL_VALUE_LIST"
  | "TARIFF_STAGES_EXCEED_ORIGINAL_VALUE_LISTS"
  | "BILLING_PERIOD_NOT_AT_MONTH_START"
  | "INVALID_BILLING_PERIOD_LENGTH"
  | "NO_VALID_VALUE_AT_BILLING_PERIOD_START"
  | "NO_VALID_VALUE_AT_BILLING_PERIOD_END"
  | "INVALID_DAY_PROFILE_COUNT"
  | "INVALID_SPECIAL_DAY_PROFILE_COUNT"
  // TAF2
  | "NO_READINGS_IN_BILLING_PERIOD"
  | "NO_MATCHING_TARIFF_STAGE"
  | "NO_USABLE_READINGS"
  | "ALL_READINGS_INVALID"
  // command line
  | "USAGE"
  | "FILE_NOT_READABLE";

/** Where the error arose: which document was being read, the calculation, or the command line. */
export type TafErrorPhase = "parse-meter-data" | "parse-supplier" | "calculate" | "usage";

export class TafError extends Error {
  override readonly name = "TafError";
  readonly kind: TafErrorKind;
  readonly phase: TafErrorPhase;
  /** Path of the offending element, e.g. "MeterReading[2]/IntervalBlock[1]/interval/start". */
  readonly element: string | undefined;

  constructor(kind: TafErrorKind, phase: TafErrorPhase, message: string, element?: string) {
    super(message);
    this.kind = kind;
    this.phase = phase;
    this.element = element;
  }
}

export function isTafError(value: unknown): value is TafError {
  return value instanceof TafError;
}

/** Golden-case error name for an error, see the mapping at the top of this file. */
export function goldenErrorName(error: TafError): string {
  if (error.phase === "parse-supplier") return "SUPPLIER_FILE_PARSE_ERROR";
  if (error.phase === "parse-meter-data") return "METER_DATA_PARSE_ERROR";
  return error.kind;
}
