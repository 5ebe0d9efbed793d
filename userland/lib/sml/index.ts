export { ATTENTION_OK, attentionText } from "./attention.ts";
export { crc16X25, messageCrcField, swap16 } from "./crc16.ts";
export { isSmlError, SmlError, type SmlErrorKind } from "./errors.ts";
export { decodeSmlFile, encodeSmlFile, type FileDecodeOptions } from "./file.ts";
export {
  type ExtractedFrame,
  type ExtractResult,
  extractFrames,
  type FrameExtractorOptions,
  type FrameExtractorStats,
  SmlFrameExtractor,
} from "./frame-extractor.ts";
export {
  decodeSmlMessages,
  encodeSmlMessages,
  type MessageDecodeOptions,
  readMessage,
  writeMessage,
} from "./message.ts";
export {
  buildMeterReadingFile,
  type MeterEntryInput,
  type MeterReadingFileInput,
  meterReadingMessages,
} from "./meter-file.ts";
export {
  formatObjName,
  fromHex,
  obisEquals,
  obisName,
  obisToString,
  parseObis,
  toHex,
  toObisBytes,
} from "./obis.ts";
export { SmlReader } from "./reader.ts";
export { readingsFromSml, type SmlReading, type SmlReadings, scaleValue } from "./readings.ts";
export {
  type BasicMeterStatus,
  decodeBasicMeterStatus,
  decodeGatewayStatus,
  decodeStatusWord,
  encodeBasicMeterStatus,
  type GatewayStatus,
  type PtbStatus,
  ptbStatusOf,
  type StatusWordInfo,
} from "./status.ts";
export { DEFAULT_MAX_DEPTH, type SmlNode } from "./tl.ts";
export {
  decodeTransportFrame,
  encodeTransportFrame,
  START_SEQUENCE,
  type TransportCheckOptions,
  type TransportFrame,
} from "./transport.ts";
export type * from "./types.ts";
export { MESSAGE_TAGS } from "./types.ts";
export { type DlmsUnit, dlmsUnit, dlmsUnits, UNIT, unitSymbol } from "./units.ts";
export { SmlWriter } from "./writer.ts";
