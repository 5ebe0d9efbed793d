// TPM 2.0 structures in their wire format (TPM 2.0 Library Part 2: big-endian, TPM2B = 16-bit
// size + bytes). Only what the backend sends and reads is here; tpm2-tss's libtss2-mu turns
// these bytes into the C structs ESYS takes, so no C struct layout is written by hand.

export class TpmMarshalError extends Error {
  override name = "TpmMarshalError";
}

export const ALG = {
  SHA1: 0x0004,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  ECDSA: 0x0018,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

export const ECC_NIST_P256 = 0x0003;

/** TPMA_OBJECT bits. */
export const OBJECT = {
  fixedTPM: 0x2,
  fixedParent: 0x10,
  sensitiveDataOrigin: 0x20,
  userWithAuth: 0x40,
  noDA: 0x400,
  restricted: 0x10000,
  decrypt: 0x20000,
  sign: 0x40000,
} as const;

/** TPMA_NV bits and the counter index type (TPM_NT_COUNTER in bits 4…7). */
export const NV = {
  OWNERWRITE: 0x2,
  AUTHWRITE: 0x4,
  TYPE_COUNTER: 0x10,
  OWNERREAD: 0x20000,
  AUTHREAD: 0x40000,
  NO_DA: 0x2000000,
} as const;

export const ST_HASHCHECK = 0x8024;
export const RH_NULL = 0x40000007;

export class Writer {
  private bytes: number[] = [];
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
    return this;
  }
  u32(v: number): this {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
  /** A TPM2B: 16-bit size, then the bytes. */
  b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new TpmMarshalError(`TPM2B of ${b.length} bytes`);
    return this.u16(b.length).raw(b);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export class Reader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new TpmMarshalError(`${this.what}: truncated at byte ${this.pos} (needs ${n} more)`);
    }
  }
  u16(): number {
    this.need(2);
    const v = ((this.buf[this.pos] ?? 0) << 8) | (this.buf[this.pos + 1] ?? 0);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getUint32(0);
    this.pos += 4;
    return v;
  }
  raw(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  b(max = 0xffff): Uint8Array {
    const n = this.u16();
    if (n > max) throw new TpmMarshalError(`${this.what}: TPM2B of ${n} bytes, at most ${max}`);
    return this.raw(n);
  }
  get offset(): number {
    return this.pos;
  }
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new TpmMarshalError(`${this.what}: ${this.buf.length - this.pos} bytes left over`);
    }
  }
}

/** TPM2B_PUBLIC of an ECC P-256 key: the storage primary, a storage parent, or a key pair. */
export function eccPublicTemplate(kind: "storage" | "keypair"): Uint8Array {
  const base = OBJECT.fixedTPM | OBJECT.fixedParent | OBJECT.sensitiveDataOrigin;
  const w = new Writer().u16(ALG.ECC).u16(ALG.SHA256);
  if (kind === "storage") {
    w.u32(base | OBJECT.userWithAuth | OBJECT.noDA | OBJECT.restricted | OBJECT.decrypt);
    w.b(new Uint8Array(0)); // authPolicy
    w.u16(ALG.AES).u16(128).u16(ALG.CFB); // symmetric: AES-128-CFB protects the children
  } else {
    // sign and decrypt together: ECDSA (scheme chosen per signature) and ECDH (ZGen).
    w.u32(base | OBJECT.userWithAuth | OBJECT.noDA | OBJECT.sign | OBJECT.decrypt);
    w.b(new Uint8Array(0));
    w.u16(ALG.NULL);
  }
  w.u16(ALG.NULL); // scheme
  w.u16(ECC_NIST_P256);
  w.u16(ALG.NULL); // kdf
  w.b(new Uint8Array(0)).b(new Uint8Array(0)); // unique: empty x, y
  return tpm2b(w.done());
}

/**
 * TPM2B_PUBLIC of a sealed data object (KEYEDHASH with the data as its sensitive part). The
 * gateway's are exempt from dictionary-attack protection (their auth is empty); tests make a
 * protected one to drive the TPM into lockout.
 */
export function sealedPublicTemplate(daProtected = false): Uint8Array {
  const attributes = OBJECT.fixedTPM | OBJECT.fixedParent | OBJECT.userWithAuth;
  const w = new Writer()
    .u16(ALG.KEYEDHASH)
    .u16(ALG.SHA256)
    .u32(daProtected ? attributes : attributes | OBJECT.noDA)
    .b(new Uint8Array(0))
    .u16(ALG.NULL) // keyed-hash scheme
    .b(new Uint8Array(0)); // unique
  return tpm2b(w.done());
}

/** TPM2B_SENSITIVE_CREATE with `data` (empty for keys) and an auth value (empty by default). */
export function sensitiveCreate(
  data: Uint8Array = new Uint8Array(0),
  auth: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return tpm2b(new Writer().b(auth).b(data).done());
}

export const EMPTY_TPM2B = Uint8Array.of(0, 0);
/** TPML_PCR_SELECTION with no PCRs. */
export const NO_PCRS = Uint8Array.of(0, 0, 0, 0);

/** TPM2B_DIGEST. */
export function digest2b(digest: Uint8Array): Uint8Array {
  return new Writer().b(digest).done();
}

export function hashAlgForDigest(length: number): number | undefined {
  return { 20: ALG.SHA1, 32: ALG.SHA256, 48: ALG.SHA384, 64: ALG.SHA512 }[length];
}

/** TPMT_SIG_SCHEME: ECDSA with the hash the digest came from. */
export function ecdsaScheme(hashAlg: number): Uint8Array {
  return new Writer().u16(ALG.ECDSA).u16(hashAlg).done();
}

/** TPMT_TK_HASHCHECK: the null ticket (the digest was not made by the TPM). */
export function nullHashcheck(): Uint8Array {
  return new Writer().u16(ST_HASHCHECK).u32(RH_NULL).b(new Uint8Array(0)).done();
}

/** TPM2B_ECC_POINT from an uncompressed point 04 || X || Y. */
export function eccPoint2b(point: Uint8Array, coordinate: number): Uint8Array {
  if (point.length !== 1 + 2 * coordinate || point[0] !== 0x04) {
    throw new TpmMarshalError(`point must be 04 || X || Y with ${coordinate}-byte coordinates`);
  }
  return tpm2b(
    new Writer()
      .b(point.subarray(1, 1 + coordinate))
      .b(point.subarray(1 + coordinate))
      .done(),
  );
}

/** TPM2B_NV_PUBLIC of an 8-byte counter at `index`. */
export function nvCounterPublic(index: number): Uint8Array {
  const attributes =
    NV.TYPE_COUNTER | NV.OWNERWRITE | NV.AUTHWRITE | NV.OWNERREAD | NV.AUTHREAD | NV.NO_DA;
  return tpm2b(
    new Writer().u32(index).u16(ALG.SHA256).u32(attributes).b(new Uint8Array(0)).u16(8).done(),
  );
}

function tpm2b(body: Uint8Array): Uint8Array {
  return new Writer().b(body).done();
}

/** The x and y of an ECC TPM2B_PUBLIC; refuses anything but a P-256 key. */
export function parseEccPublic(pub: Uint8Array): { x: Uint8Array; y: Uint8Array } {
  const outer = new Reader(pub, "TPM2B_PUBLIC");
  const body = outer.b();
  outer.end();
  const r = new Reader(body, "TPMT_PUBLIC");
  if (r.u16() !== ALG.ECC) throw new TpmMarshalError("TPMT_PUBLIC: not an ECC key");
  r.u16(); // nameAlg
  r.u32(); // attributes
  r.b(64); // authPolicy
  if (r.u16() !== ALG.NULL) r.raw(4); // symmetric keyBits, mode
  if (r.u16() !== ALG.NULL) r.raw(2); // scheme hash
  if (r.u16() !== ECC_NIST_P256) throw new TpmMarshalError("TPMT_PUBLIC: curve is not P-256");
  if (r.u16() !== ALG.NULL) r.raw(2); // kdf hash
  const x = r.b(128);
  const y = r.b(128);
  r.end();
  return { x, y };
}

/** r and s of a TPMT_SIGNATURE that must be ECDSA. */
export function parseEcdsaSignature(sig: Uint8Array): { r: Uint8Array; s: Uint8Array } {
  const rd = new Reader(sig, "TPMT_SIGNATURE");
  if (rd.u16() !== ALG.ECDSA) throw new TpmMarshalError("TPMT_SIGNATURE: not ECDSA");
  rd.u16(); // hash
  const r = rd.b(128);
  const s = rd.b(128);
  rd.end();
  return { r, s };
}

/** The x coordinate of a TPM2B_ECC_POINT (ECDH's shared secret). */
export function parseEccPoint2bX(p: Uint8Array): Uint8Array {
  const outer = new Reader(p, "TPM2B_ECC_POINT");
  const body = outer.b();
  outer.end();
  const r = new Reader(body, "TPMS_ECC_POINT");
  const x = r.b(128);
  r.b(128);
  r.end();
  return x;
}

/** The bytes of a TPM2B (TPM2B_DIGEST, TPM2B_SENSITIVE_DATA, TPM2B_MAX_NV_BUFFER). */
export function parse2b(b: Uint8Array, what: string): Uint8Array {
  const r = new Reader(b, what);
  const v = r.b();
  r.end();
  return v;
}

/** A wrapped key or stored key pair: "TPM" magic, version, TPM2B_PRIVATE, TPM2B_PUBLIC. */
const BLOB_MAGIC = Uint8Array.of(0x54, 0x50, 0x4d, 0x01);

export function encodeBlob(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  return new Writer().raw(BLOB_MAGIC).raw(priv).raw(pub).done();
}

export function decodeBlob(blob: Uint8Array): { priv: Uint8Array; pub: Uint8Array } {
  const r = new Reader(blob, "TPM key blob");
  const magic = r.raw(4);
  if (!magic.every((b, i) => b === BLOB_MAGIC[i])) {
    throw new TpmMarshalError("TPM key blob: wrong magic or version");
  }
  const privStart = r.offset;
  r.b(); // TPM2B_PRIVATE
  const priv = blob.slice(privStart, r.offset);
  const pubStart = r.offset;
  r.b(); // TPM2B_PUBLIC
  const pub = blob.slice(pubStart, r.offset);
  r.end();
  return { priv, pub };
}
