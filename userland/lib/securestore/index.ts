export {
  BadInputError,
  describeProblems,
  KeyServiceError,
  type Problem,
  type ProblemCode,
  QuarantinedError,
  RecordTooLargeError,
  SchemaError,
  SecureStoreError,
  type SecureStoreErrorCode,
  StorageFullError,
  StoreClosedError,
  UnknownDomainError,
} from "./errors.ts";
export {
  type KeyService,
  SoftwareKeyService,
  type SoftwareKeyServiceOptions,
  type WarnLogger,
} from "./keys.ts";
export {
  CalibrationLog,
  type CalibrationLogEntry,
  CalibrationLogEntrySchema,
  type CalibrationLogInput,
  CalibrationLogInputSchema,
  ConsumerLog,
  type ConsumerLogEntry,
  ConsumerLogEntrySchema,
  type ConsumerLogInput,
  ConsumerLogInputSchema,
  type LogOptions,
  type LogPage,
  type LogQuery,
  openCalibrationLog,
  openConsumerLog,
  openSystemLog,
  SystemLog,
  type SystemLogEntry,
  SystemLogEntrySchema,
  type SystemLogInput,
  SystemLogInputSchema,
} from "./logs.ts";
export {
  DEFAULT_RETENTION,
  type MeterStore,
  type MeterStoreOptions,
  type MeterSummary,
  openMeterStore,
  type ReadingQuery,
  type Register,
  type StoredReading,
} from "./meterdata.ts";
export { type PendingDelivery, type ProfileCommit, ProfileData } from "./profiles.ts";
export {
  clearQuarantine,
  type DomainStore,
  type DomainStoreOptions,
  KNOWN_DOMAINS,
  type NewRecord,
  openDomainStore,
  type QuarantineReport,
  type RangeQuery,
  type RecordPage,
  type StoredRecord,
  type StoreLogger,
  type StoreStatus,
} from "./store.ts";
export type { VerifyMode, VerifyReport } from "./verify.ts";
export { runVerifyCli } from "./verify-cli.ts";
export { verifyLog } from "./verify-log.ts";
