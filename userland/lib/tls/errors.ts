/** Why a TLS operation failed. */
export type TlsErrorKind =
  /** libssl or libcrypto could not be loaded, or a needed feature is missing. */
  | "unavailable"
  /** A context could not be set up: unreadable file, key not matching the certificate, bad list. */
  | "config"
  /** The handshake was refused by either side (protocol, cipher, group, alert from the peer). */
  | "handshake"
  /** The peer's certificate chain failed verification (unknown CA, expired, revoked, purpose). */
  | "verify"
  /** The peer authenticated but is not the expected one, or a profile check after the handshake failed. */
  | "peer"
  /** An established session received something it cannot accept (bad record, bad MAC, alert). */
  | "protocol"
  /** The handshake did not finish in time. */
  | "timeout"
  /** The connection ended: during the handshake, or without a close_notify (truncation). */
  | "closed"
  /** The TCP connection could not be made. */
  | "network"
  /** The caller used a channel or session in a way it does not allow (send after close). */
  | "usage";

/** The verification result OpenSSL reported for the peer's chain. */
export interface VerifyResult {
  /** X509_V_* code; 0 is success. */
  readonly code: number;
  /** OpenSSL's text for the code, e.g. "certificate revoked". */
  readonly text: string;
}

/**
 * The only error class this package throws or reports. `reason` is the short cause (the verify
 * result text or OpenSSL's reason string, e.g. "no shared cipher", "unsupported protocol",
 * "certificate revoked"); `openssl` holds the full lines of OpenSSL's error queue.
 */
export class TlsError extends Error {
  override readonly name = "TlsError";
  readonly kind: TlsErrorKind;
  readonly reason: string;
  readonly openssl: readonly string[];
  readonly verify: VerifyResult | undefined;

  constructor(
    kind: TlsErrorKind,
    reason: string,
    details: { openssl?: readonly string[]; verify?: VerifyResult } = {},
  ) {
    const openssl = details.openssl ?? [];
    const tail = openssl.length > 0 ? ` [${openssl.join("; ")}]` : "";
    super(`${kind}: ${reason}${tail}`);
    this.kind = kind;
    this.reason = reason;
    this.openssl = openssl;
    this.verify = details.verify;
  }
}

export function isTlsError(e: unknown): e is TlsError {
  return e instanceof TlsError;
}
