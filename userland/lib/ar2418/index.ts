export { fnnStatusWord, uomOf } from "./units.ts";
export {
  AR2418_NAMESPACE,
  type Ar2418Document,
  Ar2418Error,
  berlinOffset,
  chooseScaler,
  ESPI_NAMESPACE,
  escapeText,
  formatDateTime,
  type IntervalReadingInput,
  type LogEntryInput,
  type MeterReadingInput,
  obisToHex,
  type UsagePointInput,
  writeAr2418,
} from "./writer.ts";
export { goldenDir, validateAr2418, type XsdResult, xmllintPath } from "./xsd.ts";
