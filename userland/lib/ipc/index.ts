export { FramedChannel, MAX_QUEUED_BYTES } from "./channel.ts";
export { type DeliveryContext, IpcClient, type IpcClientOptions, IpcError } from "./client.ts";
export {
  type CalibrationEvent,
  CalibrationEventSchema,
  type CalibrationLogEntry,
  CalibrationLogEntrySchema,
  CONTRACTS,
  type ConsumerLogEntry,
  ConsumerLogEntrySchema,
  contractOf,
  type Delivery,
  DeliverySchema,
  isMessageType,
  MESSAGE_TYPES,
  type MessageType,
  ObisSchema,
  type ProfileRegisters,
  ProfileRegistersSchema,
  type Reading,
  ReadingSchema,
  type RequestBody,
  type ResponseBody,
  type TariffRegister,
  TariffRegisterSchema,
} from "./contracts.ts";
export {
  checkDeliver,
  checkRequest,
  checkResponse,
  type Deliver,
  type ErrorCode,
  errorResponse,
  firstError,
  type Request,
  type Response,
  type Scope,
} from "./envelope.ts";
export { DEFAULT_MAX_FRAME, encodeFrame, FrameDecoder, type FrameResult } from "./frame.ts";
