// bun:ffi binding to the system OpenSSL 3 (libcrypto, then libssl). Bun's own TLS (BoringSSL)
// lacks the brainpool curves BSI TR-03116-3 requires, so the TLS state machine runs in the system
// libssl over memory BIOs. Only what the TLS library needs is bound. Functions that create or
// release a native object go through counting wrappers so tests can prove that every allocation
// is freed exactly once.
import { type CString, dlopen, FFIType, type Pointer } from "bun:ffi";
import { TlsError } from "./errors.ts";

const { ptr, i32, i64, u64, void: voidType, cstring } = FFIType;

const cryptoSymbols = {
  OpenSSL_version_num: { args: [], returns: u64 },
  OpenSSL_version: { args: [i32], returns: cstring },
  ERR_get_error: { args: [], returns: u64 },
  ERR_peek_error: { args: [], returns: u64 },
  ERR_clear_error: { args: [], returns: voidType },
  ERR_set_mark: { args: [], returns: i32 },
  ERR_pop_to_mark: { args: [], returns: i32 },
  ERR_error_string_n: { args: [u64, ptr, u64], returns: voidType },
  ERR_reason_error_string: { args: [u64], returns: cstring },
  BIO_s_mem: { args: [], returns: ptr },
  BIO_new: { args: [ptr], returns: ptr },
  BIO_free: { args: [ptr], returns: i32 },
  BIO_read: { args: [ptr, ptr, i32], returns: i32 },
  BIO_write: { args: [ptr, ptr, i32], returns: i32 },
  BIO_ctrl: { args: [ptr, i32, i64, ptr], returns: i64 },
  BIO_ctrl_pending: { args: [ptr], returns: u64 },
  X509_free: { args: [ptr], returns: voidType },
  X509_get_subject_name: { args: [ptr], returns: ptr },
  X509_get_issuer_name: { args: [ptr], returns: ptr },
  X509_NAME_print_ex: { args: [ptr, ptr, i32, u64], returns: i32 },
  X509_digest: { args: [ptr, ptr, ptr, ptr], returns: i32 },
  X509_get_extended_key_usage: { args: [ptr], returns: FFIType.u32 },
  X509_verify_cert_error_string: { args: [i64], returns: cstring },
  X509_VERIFY_PARAM_set_flags: { args: [ptr, u64], returns: i32 },
  X509_VERIFY_PARAM_set_depth: { args: [ptr, i32], returns: voidType },
  EVP_sha256: { args: [], returns: ptr },
  EVP_PKEY_free: { args: [ptr], returns: voidType },
  OBJ_nid2sn: { args: [i32], returns: cstring },
  OSSL_PROVIDER_load: { args: [ptr, ptr], returns: ptr },
  OSSL_STORE_open: { args: [ptr, ptr, ptr, ptr, ptr], returns: ptr },
  OSSL_STORE_expect: { args: [ptr, i32], returns: i32 },
  OSSL_STORE_load: { args: [ptr], returns: ptr },
  OSSL_STORE_eof: { args: [ptr], returns: i32 },
  OSSL_STORE_close: { args: [ptr], returns: i32 },
  OSSL_STORE_INFO_get_type: { args: [ptr], returns: i32 },
  OSSL_STORE_INFO_get1_PKEY: { args: [ptr], returns: ptr },
  OSSL_STORE_INFO_free: { args: [ptr], returns: voidType },
  // Callback keys (keys.ts): an EC_KEY whose ECDSA sign runs in JavaScript.
  EC_KEY_OpenSSL: { args: [], returns: ptr },
  EC_KEY_METHOD_new: { args: [ptr], returns: ptr },
  EC_KEY_METHOD_set_sign: { args: [ptr, ptr, ptr, ptr], returns: voidType },
  EC_KEY_METHOD_get_sign: { args: [ptr, ptr, ptr, ptr], returns: voidType },
  EC_KEY_METHOD_set_init: { args: [ptr, ptr, ptr, ptr, ptr, ptr, ptr], returns: voidType },
  EC_KEY_set_method: { args: [ptr, ptr], returns: i32 },
  EC_KEY_free: { args: [ptr], returns: voidType },
  d2i_EC_PUBKEY: { args: [ptr, ptr, i64], returns: ptr },
  i2d_PUBKEY: { args: [ptr, ptr], returns: i32 },
  X509_get0_pubkey: { args: [ptr], returns: ptr },
  EVP_PKEY_new: { args: [], returns: ptr },
  EVP_PKEY_assign: { args: [ptr, i32, ptr], returns: i32 },
  ECDSA_size: { args: [ptr], returns: i32 },
  // CRLs whose signature is verified once per issuer key (crl.ts).
  BIO_new_file: { args: [ptr, ptr], returns: ptr },
  PEM_X509_INFO_read_bio: { args: [ptr, ptr, ptr, ptr], returns: ptr },
  X509_INFO_free: { args: [ptr], returns: voidType },
  OPENSSL_sk_num: { args: [ptr], returns: i32 },
  OPENSSL_sk_value: { args: [ptr, i32], returns: ptr },
  OPENSSL_sk_free: { args: [ptr], returns: voidType },
  X509_STORE_add_cert: { args: [ptr, ptr], returns: i32 },
  X509_STORE_add_crl: { args: [ptr, ptr], returns: i32 },
  X509_CRL_METHOD_new: { args: [ptr, ptr, ptr, ptr], returns: ptr },
  X509_CRL_set_default_method: { args: [ptr], returns: voidType },
  X509_CRL_dup: { args: [ptr], returns: ptr },
  X509_CRL_free: { args: [ptr], returns: voidType },
  X509_CRL_up_ref: { args: [ptr], returns: i32 },
  X509_CRL_verify: { args: [ptr, ptr], returns: i32 },
  X509_CRL_get0_by_serial: { args: [ptr, ptr, ptr], returns: i32 },
  X509_CRL_get_issuer: { args: [ptr], returns: ptr },
  X509_CRL_get_REVOKED: { args: [ptr], returns: ptr },
  X509_REVOKED_new: { args: [], returns: ptr },
  X509_REVOKED_get_ext_by_NID: { args: [ptr, i32, i32], returns: i32 },
  X509_NAME_cmp: { args: [ptr, ptr], returns: i32 },
  EVP_PKEY_get_octet_string_param: { args: [ptr, ptr, ptr, u64, ptr], returns: i32 },
  EVP_PKEY_get_group_name: { args: [ptr, ptr, u64, ptr], returns: i32 },
} as const;

const sslSymbols = {
  TLS_method: { args: [], returns: ptr },
  SSL_CTX_new: { args: [ptr], returns: ptr },
  SSL_CTX_free: { args: [ptr], returns: voidType },
  SSL_CTX_ctrl: { args: [ptr, i32, i64, ptr], returns: i64 },
  SSL_CTX_set_options: { args: [ptr, u64], returns: u64 },
  SSL_CTX_set_cipher_list: { args: [ptr, ptr], returns: i32 },
  SSL_CTX_set_ciphersuites: { args: [ptr, ptr], returns: i32 },
  SSL_CTX_use_certificate_chain_file: { args: [ptr, ptr], returns: i32 },
  SSL_CTX_use_PrivateKey_file: { args: [ptr, ptr, i32], returns: i32 },
  SSL_CTX_use_PrivateKey: { args: [ptr, ptr], returns: i32 },
  SSL_CTX_check_private_key: { args: [ptr], returns: i32 },
  SSL_CTX_load_verify_locations: { args: [ptr, ptr, ptr], returns: i32 },
  SSL_CTX_set_verify: { args: [ptr, i32, ptr], returns: voidType },
  SSL_CTX_get0_param: { args: [ptr], returns: ptr },
  SSL_CTX_get_cert_store: { args: [ptr], returns: ptr },
  SSL_CTX_set_timeout: { args: [ptr, i64], returns: i64 },
  SSL_CTX_set_num_tickets: { args: [ptr, u64], returns: i32 },
  SSL_new: { args: [ptr], returns: ptr },
  SSL_free: { args: [ptr], returns: voidType },
  SSL_set_bio: { args: [ptr, ptr, ptr], returns: voidType },
  SSL_set_accept_state: { args: [ptr], returns: voidType },
  SSL_set_connect_state: { args: [ptr], returns: voidType },
  SSL_do_handshake: { args: [ptr], returns: i32 },
  SSL_read: { args: [ptr, ptr, i32], returns: i32 },
  SSL_write: { args: [ptr, ptr, i32], returns: i32 },
  SSL_shutdown: { args: [ptr], returns: i32 },
  SSL_get_error: { args: [ptr, i32], returns: i32 },
  SSL_ctrl: { args: [ptr, i32, i64, ptr], returns: i64 },
  SSL_set1_host: { args: [ptr, ptr], returns: i32 },
  SSL_set_hostflags: { args: [ptr, FFIType.u32], returns: voidType },
  SSL_get1_peer_certificate: { args: [ptr], returns: ptr },
  SSL_get_verify_result: { args: [ptr], returns: i64 },
  SSL_get_version: { args: [ptr], returns: cstring },
  SSL_get_current_cipher: { args: [ptr], returns: ptr },
  SSL_CIPHER_get_name: { args: [ptr], returns: cstring },
  SSL_is_init_finished: { args: [ptr], returns: i32 },
  SSL_CTX_get0_certificate: { args: [ptr], returns: ptr },
} as const;

function openLibraries() {
  // libcrypto first: libssl resolves its symbols against the already loaded copy.
  const crypto = dlopen("libcrypto.so.3", cryptoSymbols);
  const ssl = dlopen("libssl.so.3", sslSymbols);
  return { ...crypto.symbols, ...ssl.symbols };
}

export type OpenSsl = ReturnType<typeof openLibraries>;

let openssl: OpenSsl | undefined;
let loadError: string | undefined;

/** The bound OpenSSL functions; throws TlsError("unavailable") when the libraries are missing. */
export function lib(): OpenSsl {
  if (openssl) return openssl;
  if (loadError !== undefined) throw new TlsError("unavailable", loadError);
  try {
    openssl = openLibraries();
    return openssl;
  } catch (error) {
    loadError = `system OpenSSL 3 (libssl.so.3, libcrypto.so.3) could not be loaded: ${String(error)}`;
    throw new TlsError("unavailable", loadError);
  }
}

// Constants from OpenSSL 3's public headers (stable ABI across 3.x).
export const SSL_ERROR_NONE = 0;
export const SSL_ERROR_SSL = 1;
export const SSL_ERROR_WANT_READ = 2;
export const SSL_ERROR_WANT_WRITE = 3;
export const SSL_ERROR_SYSCALL = 5;
export const SSL_ERROR_ZERO_RETURN = 6;

export const SSL_CTRL_MODE = 33;
export const SSL_CTRL_SET_READ_AHEAD = 41;
export const SSL_CTRL_SET_SESS_CACHE_MODE = 44;
export const SSL_CTRL_SET_TLSEXT_HOSTNAME = 55;
export const SSL_CTRL_SET_GROUPS_LIST = 92;
export const SSL_CTRL_SET_SIGALGS_LIST = 98;
export const SSL_CTRL_SET_CLIENT_SIGALGS_LIST = 102;
export const SSL_CTRL_GET_EXTMS_SUPPORT = 122;
export const SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
export const SSL_CTRL_SET_MAX_PROTO_VERSION = 124;
export const SSL_CTRL_GET_NEGOTIATED_GROUP = 134;
export const BIO_C_SET_BUF_MEM_EOF_RETURN = 130;
export const BIO_CTRL_INFO = 3;
export const BIO_C_SET_BUF_MEM = 114;
export const BIO_C_FILE_SEEK = 128;
export const BIO_C_FILE_TELL = 133;
export const BIO_NOCLOSE = 0;

export const TLS1_VERSION = 0x0301;
export const TLS1_1_VERSION = 0x0302;
export const TLS1_2_VERSION = 0x0303;
export const TLS1_3_VERSION = 0x0304;

export const SSL_OP_NO_TICKET = 1n << 14n;
export const SSL_OP_NO_COMPRESSION = 1n << 17n;
export const SSL_OP_CIPHER_SERVER_PREFERENCE = 1n << 22n;
export const SSL_OP_NO_RENEGOTIATION = 1n << 30n;

export const SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1;
export const SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2;
export const SSL_MODE_AUTO_RETRY = 0x4;
export const SSL_SESS_CACHE_OFF = 0;

export const SSL_VERIFY_PEER = 0x1;
export const SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x2;
export const SSL_FILETYPE_PEM = 1;

export const X509_V_OK = 0;
export const X509_V_FLAG_CRL_CHECK = 0x4n;
export const X509_V_FLAG_CRL_CHECK_ALL = 0x8n;
export const X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4;
/** RFC 2253 rendering of a distinguished name (XN_FLAG_RFC2253). */
export const XN_FLAG_RFC2253 = 0x1110317n;
export const OSSL_STORE_INFO_PKEY = 4;
export const EVP_PKEY_EC = 408;
const OPENSSL_VERSION_TEXT = 0;

/** Native objects whose allocations and frees are counted. */
export type NativeKind = "SSL_CTX" | "SSL" | "BIO" | "X509" | "X509_CRL" | "EVP_PKEY";

function zeroCounts(): Record<NativeKind, number> {
  return { SSL_CTX: 0, SSL: 0, BIO: 0, X509: 0, X509_CRL: 0, EVP_PKEY: 0 };
}
const allocated = zeroCounts();
const freed = zeroCounts();

/** How many native objects of each kind were created and released so far in this process. */
export function nativeCounts(): {
  allocated: Record<NativeKind, number>;
  freed: Record<NativeKind, number>;
  live: number;
} {
  let live = 0;
  for (const kind of Object.keys(allocated) as NativeKind[]) live += allocated[kind] - freed[kind];
  return { allocated: { ...allocated }, freed: { ...freed }, live };
}

export function countAllocation(kind: NativeKind): void {
  allocated[kind]++;
}

export function countFree(kind: NativeKind): void {
  freed[kind]++;
}

export function newSslCtx(): Pointer | null {
  const l = lib();
  const ctx = l.SSL_CTX_new(l.TLS_method()) as Pointer | null;
  if (ctx) allocated.SSL_CTX++;
  return ctx;
}

export function freeSslCtx(ctx: Pointer): void {
  lib().SSL_CTX_free(ctx);
  freed.SSL_CTX++;
}

export function newSsl(ctx: Pointer): Pointer | null {
  const ssl = lib().SSL_new(ctx) as Pointer | null;
  if (ssl) allocated.SSL++;
  return ssl;
}

/** Frees the SSL and the memory BIOs it owns (SSL_set_bio hands both over). */
export function freeSsl(ssl: Pointer, ownedBios: 0 | 2): void {
  lib().SSL_free(ssl);
  freed.SSL++;
  freed.BIO += ownedBios;
}

export function newMemBio(): Pointer | null {
  const l = lib();
  const bio = l.BIO_new(l.BIO_s_mem()) as Pointer | null;
  if (bio) allocated.BIO++;
  return bio;
}

export function freeBio(bio: Pointer): void {
  lib().BIO_free(bio);
  freed.BIO++;
}

export function peerCertificate(ssl: Pointer): Pointer | null {
  const x = lib().SSL_get1_peer_certificate(ssl) as Pointer | null;
  if (x) allocated.X509++;
  return x;
}

export function freeX509(x: Pointer): void {
  lib().X509_free(x);
  freed.X509++;
}

export function freePkey(pkey: Pointer): void {
  lib().EVP_PKEY_free(pkey);
  freed.EVP_PKEY++;
}

/** A NUL-terminated copy of a string, for `const char *` parameters. */
export function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`, "utf8");
}

/** Reads a C string returned by OpenSSL; empty when NULL. */
export function readCString(value: CString | string | null): string {
  return value === null ? "" : String(value);
}

const errorText = Buffer.alloc(256);

/** One error code as OpenSSL's full line ("error:0A000086:SSL routines::certificate verify failed"). */
function errorLine(code: bigint): string {
  lib().ERR_error_string_n(code, errorText, BigInt(errorText.length));
  const end = errorText.indexOf(0);
  return errorText.toString("latin1", 0, end < 0 ? errorText.length : end);
}

const ERR_LIB_SSL = 20n;

/**
 * Empties the thread's error queue. `reason` is the reason text of the last libssl entry (the
 * TLS-level cause, e.g. "decryption failed or bad record mac" after a provider's "cipher
 * operation failed"), else of the first entry.
 */
export function takeErrors(): { lines: string[]; reason: string | undefined } {
  const l = lib();
  const lines: string[] = [];
  let first: string | undefined;
  let ssl: string | undefined;
  for (let i = 0; i < 32; i++) {
    const code = l.ERR_get_error();
    if (code === 0n) break;
    lines.push(errorLine(code));
    const text = readCString(l.ERR_reason_error_string(code));
    if (text === "") continue;
    first ??= text;
    const isSystemError = (code & 0x80000000n) !== 0n;
    if (!isSystemError && ((code >> 23n) & 0xffn) === ERR_LIB_SSL) ssl = text;
  }
  l.ERR_clear_error();
  return { lines, reason: ssl ?? first };
}

/** Throws TlsError(kind) with the queued OpenSSL errors when `ok` is false. */
export function check(ok: boolean, kind: "config" | "unavailable", what: string): void {
  if (ok) return;
  const { lines, reason } = takeErrors();
  throw new TlsError(kind, reason ? `${what}: ${reason}` : what, { openssl: lines });
}

export function verifyErrorText(code: number): string {
  return readCString(lib().X509_verify_cert_error_string(BigInt(code)));
}

export function nidShortName(nid: number): string {
  return readCString(lib().OBJ_nid2sn(nid));
}

/** OpenSSL's version number (0xMNN00PP0) and text. */
export function openSslVersion(): { number: number; text: string } {
  const l = lib();
  return {
    number: Number(l.OpenSSL_version_num()),
    text: readCString(l.OpenSSL_version(OPENSSL_VERSION_TEXT)),
  };
}

/** Drains a memory BIO into a new Buffer (used for small, rare reads such as names). */
export function drainBio(bio: Pointer): Buffer {
  const l = lib();
  const pending = Number(l.BIO_ctrl_pending(bio));
  const out = Buffer.alloc(pending);
  if (pending > 0) l.BIO_read(bio, out, pending);
  return out;
}
