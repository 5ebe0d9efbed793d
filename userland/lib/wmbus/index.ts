export { aesCbcDecrypt, aesCbcEncrypt, aesCtr } from "./aes.ts";
export { runDecode, USAGE } from "./cli.ts";
export { aesCmac } from "./cmac.ts";
export { expandCompactFrame, FormatCache, formatSignature } from "./compact.ts";
export { crc16En13757 } from "./crc.ts";
export { decodeTimePoint, decodeTypeF, decodeTypeG, decodeTypeI, decodeTypeJ } from "./datetime.ts";
export {
  type AflFragment,
  type DecodedFrame,
  type DecodeOptions,
  decodeFrame,
  decodeReassembled,
  decodeTelegram,
  decodeTelegramHex,
  type MessageLayers,
} from "./decode.ts";
export { deviceTypeName } from "./device-type.ts";
export { WmbusError, type WmbusErrorKind } from "./errors.ts";
export { type DataLinkFrame, unwrapFrame } from "./frame.ts";
export { hexToBytes, parseHex, toHex } from "./hex.ts";
export { manufacturerCode, manufacturerField } from "./manufacturer.ts";
export {
  AFL_REASSEMBLY_DEFAULTS,
  AflFragmentError,
  AflReassembler,
  type AflReassemblerOptions,
  type DroppedMessage,
  type FragmentRefusal,
  fragmentKey,
  type PartialMessage,
  type ReassembledMessage,
  type ReassemblyResult,
} from "./reassembly.ts";
export { type ApplicationLayer, parseRecords } from "./records.ts";
export { computeAflMac, deriveMode7Keys, securityModeName } from "./security.ts";
export type {
  AuthenticationLayer,
  DataRecord,
  ExtendedLinkLayer,
  FrameFormat,
  FunctionField,
  LinkLayer,
  RecordValue,
  Telegram,
  TelegramHeaders,
  TransportLayer,
} from "./types.ts";
