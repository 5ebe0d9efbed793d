// ECDSA verification and certificate path validation through the system OpenSSL 3 (libcrypto)
// via bun:ffi. Bun's node:crypto (BoringSSL) knows no brainpool curves: `X509Certificate.publicKey`
// of a brainpoolP256r1 certificate fails with PUBLIC_KEY_DECODE_ERROR. So every signature check
// goes through libcrypto, for every curve alike. Only public data passes here.
import { dlopen, FFIType, type Pointer, ptr } from "bun:ffi";
import { CmsError } from "./errors.ts";

const { ptr: P, i32, i64, u64, void: VOID, cstring } = FFIType;

function open() {
  return dlopen("libcrypto.so.3", {
    d2i_PUBKEY: { args: [P, P, i64], returns: P },
    EVP_PKEY_free: { args: [P], returns: VOID },
    EVP_PKEY_CTX_new_from_pkey: { args: [P, P, P], returns: P },
    EVP_PKEY_CTX_free: { args: [P], returns: VOID },
    EVP_PKEY_verify_init: { args: [P], returns: i32 },
    EVP_PKEY_verify: { args: [P, P, u64, P, u64], returns: i32 },
    d2i_X509: { args: [P, P, i64], returns: P },
    X509_free: { args: [P], returns: VOID },
    X509_STORE_new: { args: [], returns: P },
    X509_STORE_free: { args: [P], returns: VOID },
    X509_STORE_add_cert: { args: [P, P], returns: i32 },
    X509_STORE_CTX_new: { args: [], returns: P },
    X509_STORE_CTX_free: { args: [P], returns: VOID },
    X509_STORE_CTX_init: { args: [P, P, P, P], returns: i32 },
    X509_STORE_CTX_set_time: { args: [P, u64, i64], returns: VOID },
    X509_STORE_CTX_get_error: { args: [P], returns: i32 },
    X509_verify_cert: { args: [P], returns: i32 },
    X509_verify_cert_error_string: { args: [i64], returns: cstring },
    OPENSSL_sk_new_null: { args: [], returns: P },
    OPENSSL_sk_push: { args: [P, P], returns: i32 },
    OPENSSL_sk_free: { args: [P], returns: VOID },
    ERR_clear_error: { args: [], returns: VOID },
  }).symbols;
}

type LibCrypto = ReturnType<typeof open>;

let libcrypto: LibCrypto | undefined;
let loadError: string | undefined;

/** The bound functions; CmsError("unavailable") when libcrypto.so.3 cannot be loaded. */
function lib(): LibCrypto {
  if (libcrypto) return libcrypto;
  if (loadError === undefined) {
    try {
      libcrypto = open();
      return libcrypto;
    } catch (error) {
      loadError = `system OpenSSL 3 (libcrypto.so.3) could not be loaded: ${String(error)}`;
    }
  }
  throw new CmsError("unavailable", loadError);
}

/** Calls an OpenSSL d2i_* function on `der`; null when OpenSSL refuses it. */
function d2i(
  decode: (out: null, pp: BigUint64Array, length: number) => unknown,
  der: Uint8Array,
): Pointer | null {
  if (der.length === 0) return null;
  const buffer = new Uint8Array(der); // d2i reads through a pointer: a private, live copy
  const pp = BigUint64Array.of(BigInt(ptr(buffer)));
  const result = decode(null, pp, buffer.length) as Pointer | null;
  lib().ERR_clear_error();
  return result;
}

/**
 * True when `signature` (DER ECDSA-Sig-Value) is a valid ECDSA signature of `digest` (used as
 * given, not hashed again) under the key of `spki` (SubjectPublicKeyInfo DER). False for a wrong
 * signature, a malformed one, or a key OpenSSL cannot use.
 */
export function verifyEcdsaDigest(
  spki: Uint8Array,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  const l = lib();
  if (digest.length === 0 || signature.length === 0) return false;
  const key = d2i(l.d2i_PUBKEY, spki);
  if (!key) return false;
  try {
    const ctx = l.EVP_PKEY_CTX_new_from_pkey(null, key, null);
    if (!ctx) return false;
    try {
      if (l.EVP_PKEY_verify_init(ctx) !== 1) return false;
      const sig = new Uint8Array(signature);
      const tbs = new Uint8Array(digest);
      return l.EVP_PKEY_verify(ctx, sig, sig.length, tbs, tbs.length) === 1;
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  } finally {
    l.EVP_PKEY_free(key);
    l.ERR_clear_error();
  }
}

export type ChainResult = { ok: true } | { ok: false; reason: string };

/**
 * OpenSSL's path validation (X509_verify_cert, what `openssl verify` runs) of `leaf` to one of
 * `trusted`, with `untrusted` as candidate intermediates, at `time`. No purpose is required
 * (like `-purpose any`); no CRLs are consulted.
 */
export function verifyChain(
  leaf: Uint8Array,
  untrusted: readonly Uint8Array[],
  trusted: readonly Uint8Array[],
  time: Date,
): ChainResult {
  const l = lib();
  const owned: Pointer[] = [];
  const load = (der: Uint8Array, what: string): Pointer => {
    const x509 = d2i(l.d2i_X509, der);
    if (!x509) throw new CmsError("malformed", `OpenSSL cannot read the ${what} certificate`);
    owned.push(x509);
    return x509;
  };
  const store = l.X509_STORE_new();
  const stack = l.OPENSSL_sk_new_null();
  const ctx = l.X509_STORE_CTX_new();
  try {
    if (!store || !stack || !ctx) throw new CmsError("unavailable", "OpenSSL allocation failed");
    for (const der of trusted) {
      if (l.X509_STORE_add_cert(store, load(der, "trusted")) !== 1) {
        throw new CmsError("invalid-argument", "OpenSSL refused a trusted certificate");
      }
    }
    for (const der of untrusted) l.OPENSSL_sk_push(stack, load(der, "intermediate"));
    if (l.X509_STORE_CTX_init(ctx, store, load(leaf, "signer"), stack) !== 1) {
      throw new CmsError("unavailable", "X509_STORE_CTX_init failed");
    }
    l.X509_STORE_CTX_set_time(ctx, 0, Math.floor(time.getTime() / 1000));
    if (l.X509_verify_cert(ctx) === 1) return { ok: true };
    const code = l.X509_STORE_CTX_get_error(ctx);
    return { ok: false, reason: `${String(l.X509_verify_cert_error_string(code))} (${code})` };
  } finally {
    if (ctx) l.X509_STORE_CTX_free(ctx);
    if (stack) l.OPENSSL_sk_free(stack); // frees the stack only; the certificates follow
    if (store) l.X509_STORE_free(store); // drops the store's own references
    for (const x509 of owned) l.X509_free(x509);
    l.ERR_clear_error();
  }
}
