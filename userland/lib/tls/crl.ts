// CRLs whose signature OpenSSL checks once per issuer key instead of at every handshake.
//
// With CRL checks for the whole chain, OpenSSL verifies the signature of every CRL it consults
// in every certificate verification: for a TR-03116-3 chain (leaf, sub-CA, root) that is one
// brainpoolP256r1 and two brainpoolP384r1 verifications per side and handshake, about a third
// of a mutual handshake's CPU time. A CRL loaded here is parsed twice. The copy in the
// X509_STORE carries an X509_CRL_METHOD of its own whose verify answers from a cache: the first
// time a CRL is checked against an issuer key, the second copy, which uses OpenSSL's own
// method, verifies the signature; a success is remembered for that CRL and that key (curve and
// public point), so later checks of the same CRL against the same key skip the arithmetic.
// A failure is never remembered. Everything else stays OpenSSL's: which CRL applies, its
// validity period, issuer, scope and critical extensions are checked by the X509_STORE at every
// verification, and the revocation lookup goes to OpenSSL's own lookup on the second copy.
//
// Only CRLs without certificateIssuer entry extensions (no indirect entries) are loaded this
// way; others, and anything else in the file, go into the store as OpenSSL loads them. Like the
// callback keys, this assumes that all TLS work of the process runs on its JavaScript thread:
// the callbacks are plain JSCallbacks.
import { JSCallback, type Pointer, toArrayBuffer } from "bun:ffi";
import { TlsError } from "./errors.ts";
import { countAllocation, countFree, cString, lib, takeErrors } from "./ffi.ts";

interface Entry {
  /** The same CRL parsed with OpenSSL's own method: its verify and lookup do the work. */
  readonly reference: Pointer;
  /** Issuer keys ("curve:point") under which the CRL's signature verified. */
  readonly verified: Set<string>;
}

const NID_CERTIFICATE_ISSUER = 771;

// Store copy (X509_CRL pointer) -> entry. An entry leaves when OpenSSL frees its CRL (crl_free).
const entries = new Map<number, Entry>();
let method: Pointer | undefined;
let revokedSentinel: Pointer | undefined;
// The callbacks live as long as the process: OpenSSL calls them until the last X509_STORE
// holding such a CRL is freed.
const held: { callbacks: JSCallback[] } = { callbacks: [] };
const stats = { verified: 0, skipped: 0 };

/** Signature verifications of cached CRLs done and skipped so far in this process (for tests). */
export function crlSignatureCounts(): { verified: number; skipped: number; live: number } {
  return { ...stats, live: entries.size };
}

const ENCODED_PUBLIC_KEY = cString("encoded-pub-key");
const keyBytes = Buffer.alloc(512);
const groupBytes = Buffer.alloc(128);
const outLength = new BigUint64Array(1);

/** Curve name and encoded public point of an EC key; undefined for other keys. */
function keyIdentity(pk: Pointer): string | undefined {
  const l = lib();
  l.ERR_set_mark();
  try {
    if (l.EVP_PKEY_get_group_name(pk, groupBytes, BigInt(groupBytes.length), outLength) !== 1) {
      return undefined;
    }
    const group = groupBytes.toString("latin1", 0, Number(outLength[0]));
    if (
      l.EVP_PKEY_get_octet_string_param(
        pk,
        ENCODED_PUBLIC_KEY,
        keyBytes,
        BigInt(keyBytes.length),
        outLength,
      ) !== 1
    ) {
      return undefined;
    }
    const length = Number(outLength[0]);
    if (group === "" || length === 0 || length > keyBytes.length) return undefined;
    return `${group}:${keyBytes.toString("hex", 0, length)}`;
  } finally {
    l.ERR_pop_to_mark();
  }
}

function onVerify(crl: Pointer | null, pk: Pointer | null): number {
  try {
    const entry = crl === null ? undefined : entries.get(Number(crl));
    if (!entry || pk === null) return 0; // not ours: fail closed
    const id = keyIdentity(pk);
    if (id !== undefined && entry.verified.has(id)) {
      stats.skipped++;
      return 1;
    }
    stats.verified++;
    const ok = lib().X509_CRL_verify(entry.reference, pk);
    if (ok === 1 && id !== undefined) entry.verified.add(id);
    return ok;
  } catch {
    return 0;
  }
}

function onLookup(
  crl: Pointer | null,
  ret: Pointer | null,
  serial: Pointer | null,
  issuer: Pointer | null,
): number {
  try {
    const l = lib();
    const entry = crl === null ? undefined : entries.get(Number(crl));
    if (!entry || serial === null) return revoked(ret); // not ours: fail closed
    const found = l.X509_CRL_get0_by_serial(entry.reference, ret, serial);
    // OpenSSL's lookup with the certificate's issuer name: entries without a certificateIssuer
    // extension (the only kind loaded here) match when that name is the CRL's issuer.
    if (found !== 0 && issuer !== null) {
      const crlIssuer = l.X509_CRL_get_issuer(entry.reference) as Pointer | null;
      if (!crlIssuer || l.X509_NAME_cmp(issuer, crlIssuer) !== 0) return 0;
    }
    return found;
  } catch {
    return revoked(ret);
  }
}

/** Reports "revoked" (reason unspecified) through `ret`. */
function revoked(ret: Pointer | null): number {
  if (ret !== null && revokedSentinel !== undefined) {
    new DataView(toArrayBuffer(ret, 0, 8)).setBigUint64(0, BigInt(revokedSentinel), true);
  }
  return 1;
}

function onFree(crl: Pointer | null): number {
  const entry = crl === null ? undefined : entries.get(Number(crl));
  if (entry) {
    entries.delete(Number(crl));
    lib().X509_CRL_free(entry.reference);
    countFree("X509_CRL");
  }
  return 1;
}

/** The X509_CRL_METHOD of cached CRLs. Made once. */
function cachedMethod(): Pointer {
  if (method) return method;
  const l = lib();
  const sentinel = l.X509_REVOKED_new() as Pointer | null;
  const verify = new JSCallback(onVerify, { args: ["ptr", "ptr"], returns: "i32" });
  const lookup = new JSCallback(onLookup, { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" });
  const free = new JSCallback(onFree, { args: ["ptr"], returns: "i32" });
  if (!sentinel || !verify.ptr || !lookup.ptr || !free.ptr) {
    throw new TlsError("unavailable", "bun:ffi could not make the CRL callbacks");
  }
  held.callbacks = [verify, lookup, free];
  const m = l.X509_CRL_METHOD_new(null, free.ptr, lookup.ptr, verify.ptr) as Pointer | null;
  if (!m) {
    const { lines } = takeErrors();
    throw new TlsError("unavailable", "X509_CRL_METHOD_new failed", { openssl: lines });
  }
  revokedSentinel = sentinel;
  method = m;
  return m;
}

/** True when some entry of the CRL names another issuer (an indirect CRL entry). */
function hasEntryIssuers(crl: Pointer): boolean {
  const l = lib();
  const list = l.X509_CRL_get_REVOKED(crl) as Pointer | null;
  if (!list) return false;
  const n = l.OPENSSL_sk_num(list);
  for (let i = 0; i < n; i++) {
    const entry = l.OPENSSL_sk_value(list, i) as Pointer | null;
    if (entry && l.X509_REVOKED_get_ext_by_NID(entry, NID_CERTIFICATE_ISSUER, -1) >= 0) return true;
  }
  return false;
}

/** Adds one CRL (parsed with OpenSSL's method) to the store, cached where it qualifies. */
function addCrl(store: Pointer, crl: Pointer): boolean {
  const l = lib();
  if (hasEntryIssuers(crl)) return l.X509_STORE_add_crl(store, crl) === 1;
  const m = cachedMethod();
  // The method of a new X509_CRL is the process-wide default at its creation: set it for this one
  // copy only. Nothing else runs on this thread in between.
  l.X509_CRL_set_default_method(m);
  let copy: Pointer | null;
  try {
    copy = l.X509_CRL_dup(crl) as Pointer | null;
  } finally {
    l.X509_CRL_set_default_method(null);
  }
  if (!copy) return false;
  if (l.X509_CRL_up_ref(crl) !== 1) {
    l.X509_CRL_free(copy); // not registered yet: no callback work
    return false;
  }
  countAllocation("X509_CRL");
  entries.set(Number(copy), { reference: crl, verified: new Set() });
  // The store takes its own reference (or keeps an identical CRL it already has); dropping ours
  // frees an unused copy and, through onFree, its reference copy.
  const added = l.X509_STORE_add_crl(store, copy) === 1;
  l.X509_CRL_free(copy);
  return added;
}

/**
 * Loads a PEM file's CRLs (and any certificates in it) into the SSL_CTX's X509_STORE, like
 * SSL_CTX_load_verify_locations does, with the CRLs cached as described above. Returns how many
 * objects were loaded, or -1 with OpenSSL's errors queued when the file is unusable.
 */
export function loadCrlFile(ctx: Pointer, file: string): number {
  const l = lib();
  const store = l.SSL_CTX_get_cert_store(ctx) as Pointer | null;
  if (!store) return -1;
  const bio = l.BIO_new_file(cString(file), cString("r")) as Pointer | null;
  if (!bio) return -1;
  let infos: Pointer | null;
  try {
    infos = l.PEM_X509_INFO_read_bio(bio, null, null, cString("")) as Pointer | null;
  } finally {
    l.BIO_free(bio);
  }
  if (!infos) return -1;
  let count = 0;
  let ok = true;
  try {
    const n = l.OPENSSL_sk_num(infos);
    for (let i = 0; i < n && ok; i++) {
      const info = l.OPENSSL_sk_value(infos, i) as Pointer | null;
      if (!info) continue;
      // X509_INFO starts with `X509 *x509; X509_CRL *crl;` (openssl/x509.h).
      const fields = new DataView(toArrayBuffer(info, 0, 16));
      const x509 = Number(fields.getBigUint64(0, true));
      const crl = Number(fields.getBigUint64(8, true));
      if (x509 !== 0) {
        ok = l.X509_STORE_add_cert(store, x509 as Pointer) === 1;
        count++;
      }
      if (ok && crl !== 0) {
        ok = addCrl(store, crl as Pointer);
        count++;
      }
    }
  } finally {
    const n = l.OPENSSL_sk_num(infos);
    for (let i = 0; i < n; i++) l.X509_INFO_free(l.OPENSSL_sk_value(infos, i));
    l.OPENSSL_sk_free(infos);
  }
  return ok ? count : -1;
}
