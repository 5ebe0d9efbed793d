// The one interface to the gateway's security module (smart card per TR-03109-2, or a
// TPM 2.0). Keys are named by handle; private keys stay inside the module: no call here can
// return one.

/** Curves a key pair can be generated on. The card offers brainpool, the TPM NIST P-256. */
export type Curve = "brainpoolP256r1" | "brainpoolP384r1" | "prime256v1";

export const CURVES: readonly Curve[] = ["brainpoolP256r1", "brainpoolP384r1", "prime256v1"];

/** A key's name: lower-case letters, digits and dashes, as in the IPC contracts. */
export type KeyHandle = string;

export const KEY_HANDLE_PATTERN = /^[a-z0-9-]{1,32}$/;

export interface PublicKeyInfo {
  curve: Curve;
  /** SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
  /** The same key as PEM ("-----BEGIN PUBLIC KEY-----"). */
  pem: string;
  /** Uncompressed point 04 || X || Y. */
  point: Uint8Array;
}

export interface ModuleInfo {
  kind: "card" | "tpm" | "software";
  /** Human-readable description: reader and card version, TPM vendor, … */
  description: string;
  curves: readonly Curve[];
}

export interface SecurityModule {
  readonly kind: ModuleInfo["kind"];
  info(): Promise<ModuleInfo>;
  /** Generate (or replace) the key pair `key` inside the module; returns its public key. */
  generateKeyPair(key: KeyHandle, curve: Curve): Promise<PublicKeyInfo>;
  /** The public key of `key`; KeyNotFoundError when there is none. */
  publicKey(key: KeyHandle): Promise<PublicKeyInfo>;
  /** ECDSA over a digest computed by the caller; the signature is DER (SEQUENCE of r, s). */
  sign(key: KeyHandle, digest: Uint8Array): Promise<Uint8Array>;
  /** ECDH: the shared secret (x coordinate) of `key` with the peer's public key. */
  agree(key: KeyHandle, peer: Uint8Array): Promise<Uint8Array>;
  /** Random bytes from the module's generator. */
  random(length: number): Promise<Uint8Array>;
  /** The certificate stored for `key` (DER), undefined when none is stored. */
  certificate(key: KeyHandle): Promise<Uint8Array | undefined>;
  /** Store a certificate for `key` (certificates are public; the module only keeps them). */
  storeCertificate(key: KeyHandle, der: Uint8Array): Promise<void>;
  /** Create (or replace) the module-held storage key `key` used by wrap/unwrap. */
  generateStorageKey(key: KeyHandle): Promise<void>;
  /** Encrypt a data key under the storage key `key`; the result is integrity-protected. */
  wrap(key: KeyHandle, dataKey: Uint8Array): Promise<Uint8Array>;
  /** Recover a data key; WrapIntegrityError when the blob was changed or belongs elsewhere. */
  unwrap(key: KeyHandle, wrapped: Uint8Array): Promise<Uint8Array>;
  /** The monotonic counter `counter` (0 … COUNTERS-1); it never goes back, across restarts. */
  readCounter(counter: number): Promise<bigint>;
  /** Add one to the counter and return the new value. */
  incrementCounter(counter: number): Promise<bigint>;
  /** Release the module (context, handles); later calls reopen it. */
  close(): Promise<void>;
}

/** Monotonic counters each module offers. */
export const COUNTERS = 16;

/** Data keys wrapped by the module are at most this long. */
export const MAX_DATA_KEY = 64;

/** Base class of everything the security-module layer throws. */
export class SecurityModuleError extends Error {
  override name = "SecurityModuleError";
  /** Stable code for logs and IPC errors. */
  readonly code: string = "secmod";
}

/** A call with arguments the module cannot accept (bad handle, length, curve). */
export class InvalidArgumentError extends SecurityModuleError {
  override name = "InvalidArgumentError";
  override readonly code = "invalid-argument";
}

export class KeyNotFoundError extends SecurityModuleError {
  override name = "KeyNotFoundError";
  override readonly code = "key-not-found";
}

/** A wrapped key that fails its integrity check (tampered, truncated, other key). */
export class WrapIntegrityError extends SecurityModuleError {
  override name = "WrapIntegrityError";
  override readonly code = "wrap-integrity";
}

/** The module answered with something that breaks its protocol (bad length, bad encoding). */
export class ProtocolError extends SecurityModuleError {
  override name = "ProtocolError";
  override readonly code = "protocol";
}

/** The module is not reachable now (no service, card removed, TPM gone); retry later. */
export class UnavailableError extends SecurityModuleError {
  override name = "UnavailableError";
  override readonly code = "unavailable";
}

/** The module refuses for its own reasons (PIN blocked, TPM lockout, not authenticated). */
export class RefusedError extends SecurityModuleError {
  override name = "RefusedError";
  override readonly code = "refused";
}

export function checkKeyHandle(key: KeyHandle): void {
  if (typeof key !== "string" || !KEY_HANDLE_PATTERN.test(key)) {
    throw new InvalidArgumentError(`key handle ${JSON.stringify(key)} is not [a-z0-9-]{1,32}`);
  }
}

export function checkCounter(counter: number): void {
  if (!Number.isInteger(counter) || counter < 0 || counter >= COUNTERS) {
    throw new InvalidArgumentError(`counter ${counter} is not 0…${COUNTERS - 1}`);
  }
}

export function checkDataKey(dataKey: Uint8Array): void {
  if (!(dataKey instanceof Uint8Array) || dataKey.length < 1 || dataKey.length > MAX_DATA_KEY) {
    throw new InvalidArgumentError(`data key must be 1…${MAX_DATA_KEY} bytes`);
  }
}
