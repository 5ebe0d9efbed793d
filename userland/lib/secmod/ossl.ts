// Elliptic-curve operations through the system's OpenSSL 3 (libcrypto) via bun:ffi. Bun's
// own node:crypto (BoringSSL) has no brainpool curves, and the card needs them; so the
// virtual card and the software module do their EC work here. Nothing is computed by hand.
import { dlopen, FFIType, type Pointer, ptr } from "bun:ffi";
import { decodeSpki } from "./der.ts";
import type { Curve } from "./module.ts";

const { ptr: P, i32, u64, i64, void: VOID } = FFIType;
const usize = FFIType.u64;

function open() {
  return dlopen("libcrypto.so.3", {
    EVP_PKEY_CTX_new_from_name: { args: [P, P, P], returns: P },
    EVP_PKEY_CTX_new_from_pkey: { args: [P, P, P], returns: P },
    EVP_PKEY_CTX_free: { args: [P], returns: VOID },
    EVP_PKEY_keygen_init: { args: [P], returns: i32 },
    EVP_PKEY_CTX_set_group_name: { args: [P, P], returns: i32 },
    EVP_PKEY_generate: { args: [P, P], returns: i32 },
    EVP_PKEY_free: { args: [P], returns: VOID },
    EVP_PKEY_sign_init: { args: [P], returns: i32 },
    EVP_PKEY_sign: { args: [P, P, P, P, usize], returns: i32 },
    EVP_PKEY_verify_init: { args: [P], returns: i32 },
    EVP_PKEY_verify: { args: [P, P, usize, P, usize], returns: i32 },
    EVP_PKEY_derive_init: { args: [P], returns: i32 },
    EVP_PKEY_derive_set_peer: { args: [P, P], returns: i32 },
    EVP_PKEY_derive: { args: [P, P, P], returns: i32 },
    d2i_PUBKEY: { args: [P, P, i64], returns: P },
    i2d_PUBKEY: { args: [P, P], returns: i32 },
    i2d_PrivateKey: { args: [P, P], returns: i32 },
    d2i_AutoPrivateKey: { args: [P, P, i64], returns: P },
    ERR_get_error: { args: [], returns: u64 },
    ERR_error_string_n: { args: [u64, P, usize], returns: VOID },
    ERR_clear_error: { args: [], returns: VOID },
  });
}

let lib: ReturnType<typeof open>["symbols"] | undefined;
function L(): ReturnType<typeof open>["symbols"] {
  lib ??= open().symbols;
  return lib;
}

export class OpenSslError extends Error {
  override name = "OpenSslError";
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "latin1");
}

const EC = cstr("EC");

function fail(what: string): never {
  const l = L();
  const code = l.ERR_get_error();
  let detail = "";
  if (code !== 0n) {
    const buf = Buffer.alloc(256);
    l.ERR_error_string_n(code, buf, 256);
    detail = `: ${buf.toString("latin1", 0, buf.indexOf(0))}`;
  }
  l.ERR_clear_error();
  throw new OpenSslError(`${what} failed${detail}`);
}

const registry = new FinalizationRegistry<number>((p) => L().EVP_PKEY_free(p as Pointer));

/** An EVP_PKEY held by libcrypto; private keys never come out of it except as `toPrivateDer`. */
export class EcKey {
  private handle: number | null;

  private constructor(
    handle: number,
    readonly curve: Curve,
  ) {
    this.handle = handle;
    registry.register(this, handle, this);
  }

  get pointer(): Pointer {
    if (this.handle === null) throw new OpenSslError("key already freed");
    return this.handle as Pointer;
  }

  static generate(curve: Curve): EcKey {
    const l = L();
    const ctx = l.EVP_PKEY_CTX_new_from_name(null, EC, null);
    if (!ctx) fail("EVP_PKEY_CTX_new_from_name");
    try {
      if (l.EVP_PKEY_keygen_init(ctx) !== 1) fail("EVP_PKEY_keygen_init");
      if (l.EVP_PKEY_CTX_set_group_name(ctx, cstr(curve)) !== 1) fail(`set group ${curve}`);
      const out = new BigUint64Array(1);
      if (l.EVP_PKEY_generate(ctx, out) !== 1) fail(`generate ${curve} key`);
      return new EcKey(Number(out[0]), curve);
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  }

  /** A public key from its SubjectPublicKeyInfo; OpenSSL checks the point lies on the curve. */
  static fromSpki(spki: Uint8Array): EcKey {
    const { curve } = decodeSpki(spki);
    const l = L();
    const buf = Buffer.from(spki);
    const pp = BigUint64Array.of(BigInt(ptr(buf)));
    const key = l.d2i_PUBKEY(null, pp, buf.length);
    if (!key) fail("decoding the public key");
    return new EcKey(key as unknown as number, curve);
  }

  /** A private key from `toPrivateDer` (the virtual card's own storage). */
  static fromPrivateDer(der: Uint8Array, curve: Curve): EcKey {
    const l = L();
    const buf = Buffer.from(der);
    const pp = BigUint64Array.of(BigInt(ptr(buf)));
    const key = l.d2i_AutoPrivateKey(null, pp, buf.length);
    buf.fill(0);
    if (!key) fail("decoding the private key");
    const k = new EcKey(key as unknown as number, curve);
    const actual = decodeSpki(k.spki()).curve;
    if (actual !== curve) {
      k.free();
      throw new OpenSslError(`stored key is on ${actual}, expected ${curve}`);
    }
    return k;
  }

  spki(): Uint8Array {
    return this.i2d((pp) => L().i2d_PUBKEY(this.pointer, pp), "encoding the public key");
  }

  /** The private key as DER (ECPrivateKey): only the virtual card's state file uses it. */
  toPrivateDer(): Uint8Array {
    return this.i2d((pp) => L().i2d_PrivateKey(this.pointer, pp), "encoding the private key");
  }

  /** ECDSA over `digest` (used as given); DER signature. */
  signDigest(digest: Uint8Array): Uint8Array {
    const l = L();
    const ctx = l.EVP_PKEY_CTX_new_from_pkey(null, this.pointer, null);
    if (!ctx) fail("EVP_PKEY_CTX_new_from_pkey");
    try {
      if (l.EVP_PKEY_sign_init(ctx) !== 1) fail("EVP_PKEY_sign_init");
      const len = BigUint64Array.of(0n);
      const tbs = Buffer.from(digest);
      if (l.EVP_PKEY_sign(ctx, null, len, tbs, tbs.length) !== 1) fail("EVP_PKEY_sign (size)");
      const sig = Buffer.alloc(Number(len[0]));
      if (l.EVP_PKEY_sign(ctx, sig, len, tbs, tbs.length) !== 1) fail("EVP_PKEY_sign");
      return new Uint8Array(sig.subarray(0, Number(len[0])));
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  }

  verifyDigest(digest: Uint8Array, signature: Uint8Array): boolean {
    const l = L();
    const ctx = l.EVP_PKEY_CTX_new_from_pkey(null, this.pointer, null);
    if (!ctx) fail("EVP_PKEY_CTX_new_from_pkey");
    try {
      if (l.EVP_PKEY_verify_init(ctx) !== 1) fail("EVP_PKEY_verify_init");
      const sig = Buffer.from(signature);
      const tbs = Buffer.from(digest);
      const r = l.EVP_PKEY_verify(ctx, sig, sig.length, tbs, tbs.length);
      l.ERR_clear_error();
      return r === 1;
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  }

  /** ECDH with the peer's public key: the x coordinate of the shared point. */
  derive(peer: EcKey): Uint8Array {
    if (peer.curve !== this.curve) {
      throw new OpenSslError(`peer key is on ${peer.curve}, this key on ${this.curve}`);
    }
    const l = L();
    const ctx = l.EVP_PKEY_CTX_new_from_pkey(null, this.pointer, null);
    if (!ctx) fail("EVP_PKEY_CTX_new_from_pkey");
    try {
      if (l.EVP_PKEY_derive_init(ctx) !== 1) fail("EVP_PKEY_derive_init");
      if (l.EVP_PKEY_derive_set_peer(ctx, peer.pointer) !== 1) fail("EVP_PKEY_derive_set_peer");
      const len = BigUint64Array.of(0n);
      if (l.EVP_PKEY_derive(ctx, null, len) !== 1) fail("EVP_PKEY_derive (size)");
      const out = Buffer.alloc(Number(len[0]));
      if (l.EVP_PKEY_derive(ctx, out, len) !== 1) fail("EVP_PKEY_derive");
      return new Uint8Array(out.subarray(0, Number(len[0])));
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  }

  free(): void {
    if (this.handle === null) return;
    registry.unregister(this);
    L().EVP_PKEY_free(this.handle as Pointer);
    this.handle = null;
  }

  private i2d(call: (pp: BigUint64Array | null) => number, what: string): Uint8Array {
    const n = call(null);
    if (n <= 0) fail(what);
    const buf = new Uint8Array(n);
    const pp = BigUint64Array.of(BigInt(ptr(buf)));
    if (call(pp) !== n) fail(what);
    return buf;
  }
}
