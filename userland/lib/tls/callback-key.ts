// A private key whose ECDSA signature is made by a JavaScript function: the key pair lives
// elsewhere (the crypto manager's security module) and only digests and signatures pass here.
// OpenSSL 3 treats an EC_KEY with its own EC_KEY_METHOD as a "foreign" legacy key and calls the
// method's sign function synchronously inside the handshake, so `sign` must answer before it
// returns (the TCM makes a blocking IPC round trip there).
import { JSCallback, type Pointer, ptr, toArrayBuffer } from "bun:ffi";
import { readFileSync } from "node:fs";
import { TlsError } from "./errors.ts";
import { countAllocation, EVP_PKEY_EC, freePkey, lib, nidShortName, takeErrors } from "./ffi.ts";

/** The digest OpenSSL hashed the signed data with, e.g. "sha256"; "" when it did not say. */
export type SignHash = string;

export interface CallbackKeySource {
  readonly kind: "callback";
  /**
   * ECDSA over `digest` (already hashed with `hash`; use it as given). Returns the DER signature,
   * a SEQUENCE of r and s. Called synchronously inside the handshake; throw to refuse.
   */
  readonly sign: (digest: Uint8Array, hash: SignHash) => Uint8Array;
  /** The key's SubjectPublicKeyInfo as DER, or as PEM text; default: the certificate's key. */
  readonly publicKey?: Uint8Array | string;
  /** Told why a signature could not be made: OpenSSL itself only sees the failure. */
  readonly onError?: (error: Error) => void;
}

interface Entry {
  readonly source: CallbackKeySource;
}

// EC_KEY pointer -> the source that signs for it. An entry leaves with its EC_KEY (finish).
const keys = new Map<number, Entry>();
let method: Pointer | undefined;
// The three callbacks live as long as the process: OpenSSL may call them until the last
// SSL_CTX and SSL referring to a callback key is freed.
const held: { callbacks: JSCallback[] } = { callbacks: [] };

/** Callback keys alive in OpenSSL now (for leak tests). */
export function liveCallbackKeys(): number {
  return keys.size;
}

function report(entry: Entry | undefined, error: Error): void {
  try {
    entry?.source.onError?.(error);
  } catch {
    // A failing error handler must not unwind into OpenSSL.
  }
}

function onSign(
  type: number,
  digestPointer: Pointer | null,
  digestLength: number,
  signaturePointer: Pointer | null,
  signatureLengthPointer: Pointer | null,
  _kinv: Pointer | null,
  _r: Pointer | null,
  eckey: Pointer | null,
): number {
  const entry = eckey === null ? undefined : keys.get(Number(eckey));
  if (!entry || !digestPointer || !signaturePointer || !signatureLengthPointer || !eckey) return 0;
  try {
    const digest = new Uint8Array(toArrayBuffer(digestPointer, 0, digestLength).slice(0));
    const hash = type > 0 ? nidShortName(type).toLowerCase().replace(/-/g, "") : "";
    const signature = entry.source.sign(digest, hash);
    const room = lib().ECDSA_size(eckey);
    if (!(signature instanceof Uint8Array) || signature.length < 8 || signature[0] !== 0x30) {
      throw new TlsError("config", "the signing callback returned no DER ECDSA signature");
    }
    if (signature.length > room) {
      throw new TlsError(
        "config",
        `the signing callback returned ${signature.length} bytes; the key's signatures have at most ${room}`,
      );
    }
    new Uint8Array(toArrayBuffer(signaturePointer, 0, room)).set(signature);
    new DataView(toArrayBuffer(signatureLengthPointer, 0, 4)).setUint32(0, signature.length, true);
    return 1;
  } catch (error) {
    report(entry, error instanceof Error ? error : new Error(String(error)));
    return 0;
  }
}

function onFinish(eckey: Pointer | null): void {
  if (eckey) keys.delete(Number(eckey));
}

function onCopy(dest: Pointer | null, src: Pointer | null): number {
  const entry = src ? keys.get(Number(src)) : undefined;
  if (dest && entry) keys.set(Number(dest), entry);
  return 1;
}

/** The EC_KEY_METHOD of callback keys: OpenSSL's own, with sign replaced. Made once. */
function callbackMethod(): Pointer {
  if (method) return method;
  const l = lib();
  const base = l.EC_KEY_OpenSSL() as Pointer | null;
  const m = base ? (l.EC_KEY_METHOD_new(base) as Pointer | null) : null;
  if (!base || !m) {
    const { lines } = takeErrors();
    throw new TlsError("unavailable", "EC_KEY_METHOD_new failed", { openssl: lines });
  }
  const sign = new JSCallback(onSign, {
    args: ["i32", "ptr", "i32", "ptr", "ptr", "ptr", "ptr", "ptr"],
    returns: "i32",
  });
  const finish = new JSCallback(onFinish, { args: ["ptr"], returns: "void" });
  const copy = new JSCallback(onCopy, { args: ["ptr", "ptr"], returns: "i32" });
  if (!sign.ptr || !finish.ptr || !copy.ptr) {
    throw new TlsError("unavailable", "bun:ffi could not make the key callbacks");
  }
  held.callbacks = [sign, finish, copy];
  // Keep OpenSSL's sign_setup and sign_sig; only the DER-producing sign goes to JavaScript.
  const setup = new BigUint64Array(1);
  const signSig = new BigUint64Array(1);
  l.EC_KEY_METHOD_get_sign(base, null, setup, signSig);
  l.EC_KEY_METHOD_set_sign(
    m,
    sign.ptr,
    (Number(setup[0]) || null) as Pointer | null,
    (Number(signSig[0]) || null) as Pointer | null,
  );
  l.EC_KEY_METHOD_set_init(m, null, finish.ptr, copy.ptr, null, null, null);
  method = m;
  return m;
}

function derOf(publicKey: Uint8Array | string): Buffer {
  if (typeof publicKey !== "string") return Buffer.from(publicKey);
  const text = publicKey.includes("-----BEGIN") ? publicKey : readFileSync(publicKey, "utf8");
  const m = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(text);
  if (!m?.[1]) throw new TlsError("config", "the callback key's publicKey is no PEM public key");
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}

/** The SubjectPublicKeyInfo of the SSL_CTX's certificate. */
function certificateSpki(ctx: Pointer): Buffer {
  const l = lib();
  const x509 = l.SSL_CTX_get0_certificate(ctx) as Pointer | null;
  const pkey = x509 ? (l.X509_get0_pubkey(x509) as Pointer | null) : null;
  if (!pkey) {
    throw new TlsError("config", "a callback key needs its certificate loaded first");
  }
  const length = l.i2d_PUBKEY(pkey, null);
  if (length <= 0) throw new TlsError("config", "the certificate's public key cannot be encoded");
  const out = Buffer.alloc(length);
  const cursor = BigUint64Array.of(BigInt(ptr(out)));
  if (l.i2d_PUBKEY(pkey, cursor) !== length) {
    throw new TlsError("config", "the certificate's public key cannot be encoded");
  }
  return out;
}

/**
 * An EVP_PKEY (counted) holding only the public key, whose signatures come from `source.sign`.
 * The caller installs it and frees its own reference.
 */
export function callbackKey(ctx: Pointer, source: CallbackKeySource): Pointer {
  if (typeof source.sign !== "function") {
    throw new TlsError("config", "a callback key needs a sign function");
  }
  const l = lib();
  const meth = callbackMethod();
  const spki = source.publicKey === undefined ? certificateSpki(ctx) : derOf(source.publicKey);
  const cursor = BigUint64Array.of(BigInt(ptr(spki)));
  const ec = l.d2i_EC_PUBKEY(null, cursor, spki.length) as Pointer | null;
  if (!ec) {
    const { lines, reason } = takeErrors();
    throw new TlsError(
      "config",
      `the callback key's public key is no EC key${reason ? `: ${reason}` : ""}`,
      {
        openssl: lines,
      },
    );
  }
  if (l.EC_KEY_set_method(ec, meth) !== 1) {
    l.EC_KEY_free(ec);
    const { lines } = takeErrors();
    throw new TlsError("config", "EC_KEY_set_method failed", { openssl: lines });
  }
  keys.set(Number(ec), { source });
  const pkey = l.EVP_PKEY_new() as Pointer | null;
  if (!pkey || l.EVP_PKEY_assign(pkey, EVP_PKEY_EC, ec) !== 1) {
    if (pkey) l.EVP_PKEY_free(pkey);
    l.EC_KEY_free(ec);
    const { lines } = takeErrors();
    throw new TlsError("config", "EVP_PKEY_assign failed", { openssl: lines });
  }
  countAllocation("EVP_PKEY");
  return pkey;
}

/** Installs a callback key into the SSL_CTX (its certificate is already loaded). */
export function useCallbackKey(ctx: Pointer, source: CallbackKeySource): void {
  const pkey = callbackKey(ctx, source);
  try {
    if (lib().SSL_CTX_use_PrivateKey(ctx, pkey) !== 1) {
      const { lines, reason } = takeErrors();
      throw new TlsError("config", `callback key not usable${reason ? `: ${reason}` : ""}`, {
        openssl: lines,
      });
    }
  } finally {
    freePkey(pkey); // the SSL_CTX holds its own reference
  }
}
