export { type CallbackKeySource, liveCallbackKeys, type SignHash } from "./callback-key.ts";
export {
  type ChannelOptions,
  type CloseListener,
  type ConnectOptions,
  type ContextSource,
  connectTls,
  type ListenOptions,
  listenTls,
  TlsChannel,
  type TlsListener,
} from "./channel.ts";
export { createTlsContext, TlsContext, type TlsContextOptions, type TlsRole } from "./context.ts";
export { isTlsError, TlsError, type TlsErrorKind, type VerifyResult } from "./errors.ts";
export { type NativeKind, nativeCounts } from "./ffi.ts";
export type { KeySource } from "./keys.ts";
export {
  type CaFiles,
  type CaSpec,
  type CertificateUsage,
  type CreateTestPkiOptions,
  type Curve,
  createTestPki,
  DEFAULT_CAS,
  DEFAULT_ENTITIES,
  type EntitySpec,
  type IssuedCertificate,
  PkiError,
  revokeCertificate,
  type TestPki,
} from "./pki.ts";
export {
  BRAINPOOL_GROUPS,
  BRAINPOOL_TLS13_GROUPS,
  detectCapabilities,
  NIST_GROUPS,
  type TlsCapabilities,
  type TlsProfile,
  type TlsVersion,
  TR03116_TLS12_SUITES,
  TR03116_TLS13_SUITES,
  type Tr03116ProfileOptions,
  tr03116Profile,
} from "./profile.ts";
export {
  normalizeFingerprint,
  type PeerExpectation,
  type PeerInfo,
  type ReceiveResult,
  type SessionOptions,
  type SessionState,
  TlsSession,
} from "./session.ts";
