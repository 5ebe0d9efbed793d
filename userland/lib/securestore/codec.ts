// Byte encodings that are hashed, MACed or used as additional authenticated data. Every
// variable-length field is length-prefixed, so no two different field lists encode alike.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

const textEncoder = new TextEncoder();

/** Builds a byte string from length-prefixed fields and fixed-width integers. */
export class ByteWriter {
  private parts: Uint8Array[] = [];
  private size = 0;

  bytes(b: Uint8Array): this {
    this.u32(b.length);
    return this.raw(b);
  }
  text(s: string): this {
    return this.bytes(textEncoder.encode(s));
  }
  raw(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  u8(n: number): this {
    return this.raw(Uint8Array.of(n & 0xff));
  }
  u32(n: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n >>> 0);
    return this.raw(b);
  }
  /** Signed 64-bit; safe integers and bigints. */
  i64(n: number | bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(n));
    return this.raw(b);
  }
  /** Unsigned 64-bit. */
  u64(n: number | bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(n));
    return this.raw(b);
  }
  done(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** HKDF-SHA256 to 32 bytes. */
export function deriveKey(key: Uint8Array, salt: string, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", key, salt, info, 32));
}

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

// Nonces are drawn from a pool of random bytes filled by the CSPRNG, each byte used once:
// one randomBytes call per 340 records instead of one per record.
let pool = Buffer.alloc(0);
let poolAt = 0;
function freshNonce(): Buffer {
  if (poolAt + NONCE_BYTES > pool.length) {
    pool = randomBytes(NONCE_BYTES * 340);
    poolAt = 0;
  }
  const n = pool.subarray(poolAt, poolAt + NONCE_BYTES);
  poolAt += NONCE_BYTES;
  return n;
}

/** AES-256-GCM with a fresh random 96-bit nonce: nonce ‖ ciphertext ‖ tag. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = freshNonce();
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  const last = c.final();
  return Buffer.concat([nonce, body, last, c.getAuthTag()]);
}

/** The plaintext, or undefined when the tag does not verify (wrong key, AAD or bytes). */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  try {
    const d = createDecipheriv("aes-256-gcm", key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  } catch {
    return undefined;
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Constant-time comparison for MACs. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
