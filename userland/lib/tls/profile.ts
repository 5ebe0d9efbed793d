// The TLS profile of BSI TR-03116-3 for the Smart Meter Gateway: TLS 1.2 with the four
// ECDHE-ECDSA suites over the brainpool curves, extended master secret, encrypt-then-MAC, no
// renegotiation, no compression, no session resumption; TLS 1.3 only where the OpenSSL in use
// has the brainpool groups for it (RFC 8734, OpenSSL 3.2 and later).
import { TlsError } from "./errors.ts";
import {
  cString,
  freeSslCtx,
  lib,
  newSslCtx,
  openSslVersion,
  SSL_CTRL_SET_GROUPS_LIST,
  SSL_CTRL_SET_SIGALGS_LIST,
  takeErrors,
} from "./ffi.ts";

export type TlsVersion = "TLSv1.2" | "TLSv1.3";

export interface TlsProfile {
  readonly name: string;
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** TLS 1.2 cipher suites in OpenSSL's names, in order of preference. */
  readonly cipherSuites: readonly string[];
  /** TLS 1.3 cipher suites (used only when maxVersion is TLSv1.3). */
  readonly tls13CipherSuites: readonly string[];
  /** Key exchange groups in OpenSSL's names, in order of preference. */
  readonly groups: readonly string[];
  /** Signature algorithms offered and accepted (both for the handshake and for certificates). */
  readonly signatureAlgorithms: readonly string[];
  /** Server side: demand a client certificate (SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT). */
  readonly mutualAuthentication: boolean;
  /** Refuse a TLS 1.2 session without the extended master secret (RFC 7627). */
  readonly requireExtendedMasterSecret: boolean;
  /** Longest time a session (a connection, as resumption is off) may be used, in seconds. */
  readonly sessionLifetimeSeconds: number;
}

export const TR03116_TLS12_SUITES = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES128-SHA256",
  "ECDHE-ECDSA-AES256-SHA384",
] as const;

export const TR03116_TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"] as const;

export const BRAINPOOL_GROUPS = ["brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"] as const;
/** RFC 8734 code points for brainpool in TLS 1.3 (OpenSSL 3.2 and later). */
export const BRAINPOOL_TLS13_GROUPS = [
  "brainpoolP256r1tls13",
  "brainpoolP384r1tls13",
  "brainpoolP512r1tls13",
] as const;
export const NIST_GROUPS = ["prime256v1", "secp384r1"] as const;

const TLS12_SIGNATURE_ALGORITHMS = ["ECDSA+SHA256", "ECDSA+SHA384", "ECDSA+SHA512"];
const TLS13_BRAINPOOL_SIGNATURE_ALGORITHMS = [
  "ecdsa_brainpoolP256r1tls13_sha256",
  "ecdsa_brainpoolP384r1tls13_sha384",
  "ecdsa_brainpoolP512r1tls13_sha512",
];
const TLS13_NIST_SIGNATURE_ALGORITHMS = ["ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384"];

/** What the OpenSSL in use can do for this profile. */
export interface TlsCapabilities {
  readonly openSslVersion: string;
  readonly openSslVersionNumber: number;
  /** TLS 1.3 with the RFC 8734 brainpool groups and signature schemes. */
  readonly tls13Brainpool: boolean;
}

let capabilities: TlsCapabilities | undefined;

function acceptsList(ctrl: number, list: string): boolean {
  const ctx = newSslCtx();
  if (!ctx) return false;
  try {
    return Number(lib().SSL_CTX_ctrl(ctx, ctrl, 0, cString(list))) === 1;
  } finally {
    freeSslCtx(ctx);
    takeErrors(); // an unknown name leaves an expected error behind
  }
}

/** Detects once whether this OpenSSL (≥ 3.2) has brainpool groups and schemes for TLS 1.3. */
export function detectCapabilities(): TlsCapabilities {
  if (capabilities) return capabilities;
  const version = openSslVersion();
  const tls13Brainpool =
    version.number >= 0x30200000 &&
    acceptsList(SSL_CTRL_SET_GROUPS_LIST, BRAINPOOL_TLS13_GROUPS.join(":")) &&
    acceptsList(SSL_CTRL_SET_SIGALGS_LIST, TLS13_BRAINPOOL_SIGNATURE_ALGORITHMS.join(":"));
  capabilities = {
    openSslVersion: version.text,
    openSslVersionNumber: version.number,
    tls13Brainpool,
  };
  return capabilities;
}

export interface Tr03116ProfileOptions {
  /** Also allow NIST P-256 and P-384, where the rules for a connection permit them. Default false. */
  nistCurves?: boolean;
  /** "auto" (default): TLS 1.3 where detectCapabilities() says it works with brainpool. */
  tls13?: "auto" | boolean;
  /** Server side: demand client certificates. Default true (all SMGW WAN connections are mutual). */
  mutualAuthentication?: boolean;
  /** Default 48 hours. */
  sessionLifetimeSeconds?: number;
}

/** The TR-03116-3 profile, adjusted to what the OpenSSL in use supports. */
export function tr03116Profile(options: Tr03116ProfileOptions = {}): TlsProfile {
  const nist = options.nistCurves ?? false;
  const want13 = options.tls13 ?? "auto";
  const caps = detectCapabilities();
  if (want13 === true && !caps.tls13Brainpool) {
    throw new TlsError(
      "unavailable",
      `TLS 1.3 with brainpool groups needs OpenSSL 3.2 or later; this is ${caps.openSslVersion}`,
    );
  }
  const tls13 = want13 === true || (want13 === "auto" && caps.tls13Brainpool);
  const lifetime = options.sessionLifetimeSeconds ?? 48 * 3600;
  if (!Number.isInteger(lifetime) || lifetime <= 0) {
    throw new TlsError(
      "config",
      `session lifetime must be a positive whole number of seconds, not ${lifetime}`,
    );
  }
  const groups: string[] = [...BRAINPOOL_GROUPS];
  const signatureAlgorithms = [...TLS12_SIGNATURE_ALGORITHMS];
  if (tls13) {
    groups.push(...BRAINPOOL_TLS13_GROUPS);
    signatureAlgorithms.push(...TLS13_BRAINPOOL_SIGNATURE_ALGORITHMS);
  }
  if (nist) {
    groups.push(...NIST_GROUPS);
    if (tls13) signatureAlgorithms.push(...TLS13_NIST_SIGNATURE_ALGORITHMS);
  }
  return {
    name: `TR-03116-3${nist ? "+NIST" : ""}${tls13 ? " (TLS 1.2/1.3)" : " (TLS 1.2)"}`,
    minVersion: "TLSv1.2",
    maxVersion: tls13 ? "TLSv1.3" : "TLSv1.2",
    cipherSuites: [...TR03116_TLS12_SUITES],
    tls13CipherSuites: tls13 ? [...TR03116_TLS13_SUITES] : [],
    groups,
    signatureAlgorithms,
    mutualAuthentication: options.mutualAuthentication ?? true,
    requireExtendedMasterSecret: true,
    sessionLifetimeSeconds: lifetime,
  };
}
