export {
  ApduError,
  type CommandApdu,
  decodeCommand,
  decodeResponse,
  describeSw,
  encodeCommand,
  encodeResponse,
  type ResponseApdu,
  SW,
} from "./apdu.ts";
export {
  CardModule,
  type CardModuleOptions,
  CardStatusError,
  DEFAULT_CARD_SLOTS,
  parseSlots,
} from "./card/backend.ts";
export { AID } from "./card/commands.ts";
export { PcscError, type PcscOptions, PcscTransport } from "./card/pcsc.ts";
export { CardConnectionError, type CardTransport, DirectTransport } from "./card/transport.ts";
export {
  isProduction,
  openSecurityModule,
  readSecmodConfig,
  SecmodConfigError,
  type SecmodSelection,
} from "./config.ts";
export {
  DerError,
  decodeEcdsaSignature,
  decodeSpki,
  encodeEcdsaSignature,
  encodeSpki,
  toPem,
} from "./der.ts";
export {
  COUNTERS,
  CURVES,
  type Curve,
  InvalidArgumentError,
  type KeyHandle,
  KeyNotFoundError,
  MAX_DATA_KEY,
  type ModuleInfo,
  ProtocolError,
  type PublicKeyInfo,
  RefusedError,
  type SecurityModule,
  SecurityModuleError,
  UnavailableError,
  WrapIntegrityError,
} from "./module.ts";
export { EcKey, OpenSslError } from "./ossl.ts";
export {
  createSoftwareModule,
  type SoftwareModuleOptions,
  SoftwareModuleRefused,
} from "./software.ts";
export {
  DEFAULT_TCTI,
  NV_COUNTER_BASE,
  TpmCommandError,
  TpmModule,
  type TpmModuleOptions,
} from "./tpm/backend.ts";
export { type Misbehaviour, VirtualCard } from "./vcard/card.ts";
export { FileCardStore, MemoryCardStore } from "./vcard/state.ts";
