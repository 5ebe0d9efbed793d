// An SSL_CTX configured from a profile, trust anchors, CRLs and the local certificate and key.
// One context serves any number of sessions; each SSL holds its own reference to the SSL_CTX, so
// freeing the context while sessions run is safe.

import type { Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { loadCrlFile } from "./crl.ts";
import { TlsError } from "./errors.ts";
import {
  cString,
  freeSslCtx,
  lib,
  newSslCtx,
  SSL_CTRL_MODE,
  SSL_CTRL_SET_CLIENT_SIGALGS_LIST,
  SSL_CTRL_SET_GROUPS_LIST,
  SSL_CTRL_SET_MAX_PROTO_VERSION,
  SSL_CTRL_SET_MIN_PROTO_VERSION,
  SSL_CTRL_SET_SESS_CACHE_MODE,
  SSL_CTRL_SET_SIGALGS_LIST,
  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
  SSL_MODE_AUTO_RETRY,
  SSL_MODE_ENABLE_PARTIAL_WRITE,
  SSL_OP_CIPHER_SERVER_PREFERENCE,
  SSL_OP_NO_COMPRESSION,
  SSL_OP_NO_RENEGOTIATION,
  SSL_OP_NO_TICKET,
  SSL_SESS_CACHE_OFF,
  SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
  SSL_VERIFY_PEER,
  TLS1_2_VERSION,
  TLS1_3_VERSION,
  takeErrors,
  X509_V_FLAG_CRL_CHECK,
  X509_V_FLAG_CRL_CHECK_ALL,
} from "./ffi.ts";
import { type KeySource, useKey } from "./keys.ts";
import type { TlsProfile, TlsVersion } from "./profile.ts";

export type TlsRole = "client" | "server";

export interface TlsContextOptions {
  readonly role: TlsRole;
  readonly profile: TlsProfile;
  /** PEM files with the trust anchors (the root CA; sub-CAs may be added). */
  readonly ca: string | readonly string[];
  /** PEM file with the own certificate followed by its CA certificates up to (not incl.) the root. */
  readonly cert: string;
  readonly key: KeySource;
  /** PEM files with CRLs; when given, every certificate of the peer's chain is checked. */
  readonly crl?: string | readonly string[];
  /** Longest accepted peer chain below the trust anchor. Default 4. */
  readonly verifyDepth?: number;
  /**
   * Server: "required" demands a client certificate, "optional" asks for one and verifies what
   * comes (clients without one are let in, with an empty peer subject), "none" asks for none.
   * Default: "required" when the profile demands mutual authentication, else "none".
   */
  readonly clientCertificate?: "required" | "optional" | "none";
}

const VERSION_NUMBER: Record<TlsVersion, number> = {
  "TLSv1.2": TLS1_2_VERSION,
  "TLSv1.3": TLS1_3_VERSION,
};

function list(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === "string" ? [value] : value;
}

function fail(what: string): never {
  const { lines, reason } = takeErrors();
  throw new TlsError("config", reason ? `${what}: ${reason}` : what, { openssl: lines });
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new TlsError("config", `${what} not found: ${path}`);
}

export class TlsContext {
  readonly role: TlsRole;
  readonly profile: TlsProfile;
  #ctx: Pointer | null;

  constructor(options: TlsContextOptions) {
    this.role = options.role;
    this.profile = options.profile;
    const ctx = newSslCtx();
    if (!ctx) fail("SSL_CTX_new failed");
    this.#ctx = ctx;
    try {
      configure(ctx, options);
    } catch (error) {
      this.free();
      throw error;
    }
  }

  /** The SSL_CTX; throws once the context is freed. */
  get handle(): Pointer {
    if (!this.#ctx) throw new TlsError("usage", "the TLS context was freed");
    return this.#ctx;
  }

  get freed(): boolean {
    return this.#ctx === null;
  }

  /** Releases this reference to the SSL_CTX. Idempotent. */
  free(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    this.#ctx = null;
    freeSslCtx(ctx);
  }
}

export function createTlsContext(options: TlsContextOptions): TlsContext {
  return new TlsContext(options);
}

function ctrl(ctx: Pointer, command: number, larg: number, parg: Buffer | null): number {
  return Number(lib().SSL_CTX_ctrl(ctx, command, larg, parg));
}

function configure(ctx: Pointer, o: TlsContextOptions): void {
  const l = lib();
  const p = o.profile;
  l.ERR_clear_error();

  l.SSL_CTX_set_options(
    ctx,
    SSL_OP_NO_RENEGOTIATION |
      SSL_OP_NO_COMPRESSION |
      SSL_OP_NO_TICKET |
      SSL_OP_CIPHER_SERVER_PREFERENCE,
  );
  if (ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, VERSION_NUMBER[p.minVersion], null) !== 1) {
    fail(`minimum protocol ${p.minVersion} not accepted`);
  }
  if (ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, VERSION_NUMBER[p.maxVersion], null) !== 1) {
    fail(`maximum protocol ${p.maxVersion} not accepted`);
  }
  if (l.SSL_CTX_set_cipher_list(ctx, cString(p.cipherSuites.join(":"))) !== 1) {
    fail(`cipher suites ${p.cipherSuites.join(":")} not accepted`);
  }
  if (l.SSL_CTX_set_ciphersuites(ctx, cString(p.tls13CipherSuites.join(":"))) !== 1) {
    fail(`TLS 1.3 cipher suites ${p.tls13CipherSuites.join(":")} not accepted`);
  }
  const groups = p.groups.join(":");
  if (ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0, cString(groups)) !== 1) {
    fail(`groups ${groups} not accepted`);
  }
  const sigalgs = cString(p.signatureAlgorithms.join(":"));
  if (ctrl(ctx, SSL_CTRL_SET_SIGALGS_LIST, 0, sigalgs) !== 1) {
    fail(`signature algorithms ${p.signatureAlgorithms.join(":")} not accepted`);
  }
  if (ctrl(ctx, SSL_CTRL_SET_CLIENT_SIGALGS_LIST, 0, sigalgs) !== 1) {
    fail(`client signature algorithms ${p.signatureAlgorithms.join(":")} not accepted`);
  }
  ctrl(
    ctx,
    SSL_CTRL_MODE,
    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY,
    null,
  );
  // No resumption: every connection is a full, mutually authenticated handshake.
  ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_OFF, null);
  l.SSL_CTX_set_num_tickets(ctx, 0);
  l.SSL_CTX_set_timeout(ctx, p.sessionLifetimeSeconds);

  requireFile(o.cert, "certificate file");
  if (l.SSL_CTX_use_certificate_chain_file(ctx, cString(o.cert)) !== 1) {
    fail(`certificate chain ${o.cert} not usable`);
  }
  useKey(ctx, o.key);
  if (l.SSL_CTX_check_private_key(ctx) !== 1)
    fail(`private key does not match certificate ${o.cert}`);

  const anchors = list(o.ca);
  if (anchors.length === 0) throw new TlsError("config", "no trust anchor (ca) given");
  for (const file of anchors) {
    requireFile(file, "CA file");
    if (l.SSL_CTX_load_verify_locations(ctx, cString(file), null) !== 1)
      fail(`CA file ${file} not usable`);
  }
  const param = l.SSL_CTX_get0_param(ctx) as Pointer | null;
  if (!param) fail("SSL_CTX_get0_param failed");
  const crls = list(o.crl);
  for (const file of crls) {
    requireFile(file, "CRL file");
    // Into the same X509_STORE, each CRL's signature checked once per issuer key (crl.ts).
    const loaded = loadCrlFile(ctx, file);
    if (loaded < 0) fail(`CRL file ${file} not usable`);
    if (loaded === 0) {
      throw new TlsError("config", `CRL file ${file} not usable: no certificate or crl found`);
    }
  }
  if (crls.length > 0) {
    l.X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  l.X509_VERIFY_PARAM_set_depth(param, o.verifyDepth ?? 4);

  const clientCertificate = o.clientCertificate ?? (p.mutualAuthentication ? "required" : "none");
  const mode =
    o.role === "client"
      ? SSL_VERIFY_PEER
      : clientCertificate === "required"
        ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        : clientCertificate === "optional"
          ? SSL_VERIFY_PEER
          : 0;
  l.SSL_CTX_set_verify(ctx, mode, null);
  l.ERR_clear_error();
}
