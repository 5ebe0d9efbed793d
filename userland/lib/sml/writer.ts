/** Builds SML bytes: TL fields into a growing buffer. Throws SmlError for unencodable values. */

import { SmlError } from "./errors.ts";
import {
  listTlSize,
  type SmlNode,
  scalarTlSize,
  TL_INTEGER,
  TL_LIST,
  TL_OCTETS,
  TL_UNSIGNED,
} from "./tl.ts";

export class SmlWriter {
  private buf: Uint8Array;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /** The bytes written so far (a view; copy it if the writer is used further). */
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Direct access for checksums over what was written. */
  get buffer(): Uint8Array {
    return this.buf;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Writes a TL of `h` bytes for `type` and `length` (element count, or total byte count). */
  private tl(type: number, length: number, h: number): void {
    this.ensure(h);
    for (let k = 0; k < h; k++) {
      const nibble = Math.floor(length / 16 ** (h - 1 - k)) & 0x0f;
      const more = k < h - 1 ? 0x80 : 0;
      this.buf[this.pos++] = (k === 0 ? type << 4 : 0) | more | nibble;
    }
  }

  list(count: number): void {
    this.tl(TL_LIST, count, listTlSize(count));
  }

  /** 0x01: an optional field without value. */
  none(): void {
    this.byte(0x01);
  }

  endOfMessage(): void {
    this.byte(0x00);
  }

  octets(v: Uint8Array): void {
    const h = scalarTlSize(v.length);
    this.tl(TL_OCTETS, v.length + h, h);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  optionalOctets(v: Uint8Array | undefined): void {
    if (v === undefined) this.none();
    else this.octets(v);
  }

  bool(v: boolean): void {
    this.byte(0x42);
    this.byte(v ? 1 : 0);
  }

  optionalBool(v: boolean | undefined): void {
    if (v === undefined) this.none();
    else this.bool(v);
  }

  /** An unsigned number in `size` value bytes (1..8). */
  unsigned(v: number | bigint, size: number, what = "unsigned"): void {
    this.number(TL_UNSIGNED, v, size, what);
  }

  optionalUnsigned(v: number | undefined, size: number, what?: string): void {
    if (v === undefined) this.none();
    else this.unsigned(v, size, what);
  }

  /** A signed number in `size` value bytes (1..8), two's complement. */
  integer(v: number | bigint, size: number, what = "integer"): void {
    this.number(TL_INTEGER, v, size, what);
  }

  optionalInteger(v: number | undefined, size: number, what?: string): void {
    if (v === undefined) this.none();
    else this.integer(v, size, what);
  }

  private number(type: number, v: number | bigint, size: number, what: string): void {
    if (!Number.isInteger(size) || size < 1 || size > 8) {
      throw new SmlError("value", -1, `${what}: size ${size} is not 1 to 8 bytes`);
    }
    if (typeof v === "number" && !Number.isSafeInteger(v)) {
      throw new SmlError("value", -1, `${what}: ${v} is not a safe integer`);
    }
    const big = BigInt(v);
    const bits = BigInt(8 * size);
    const ok =
      type === TL_UNSIGNED
        ? big >= 0n && big < 1n << bits
        : big >= -(1n << (bits - 1n)) && big < 1n << (bits - 1n);
    if (!ok) {
      throw new SmlError("value", -1, `${what}: ${v} does not fit ${size} bytes`);
    }
    this.ensure(size + 1);
    this.buf[this.pos++] = (type << 4) | (size + 1);
    let u = BigInt.asUintN(8 * size, big);
    for (let i = size - 1; i >= 0; i--) {
      this.buf[this.pos + i] = Number(u & 0xffn);
      u >>= 8n;
    }
    this.pos += size;
  }

  /** Writes an untyped element as decoded by SmlReader.readNode. */
  node(n: SmlNode): void {
    switch (n.type) {
      case "octets":
        this.octets(n.value);
        return;
      case "bool":
        this.bool(n.value);
        return;
      case "int":
        this.integer(n.value, n.size);
        return;
      case "uint":
        this.unsigned(n.value, n.size);
        return;
      case "list":
        this.list(n.items.length);
        for (const item of n.items) this.node(item);
        return;
    }
  }
}

/** Smallest of the SML sizes 1, 2, 4, 8 that holds v. */
export function unsignedSize(v: number | bigint): 1 | 2 | 4 | 8 {
  const b = BigInt(v);
  if (b < 0x100n) return 1;
  if (b < 0x10000n) return 2;
  if (b < 0x100000000n) return 4;
  return 8;
}

export function integerSize(v: number | bigint): 1 | 2 | 4 | 8 {
  const b = BigInt(v);
  if (b >= -0x80n && b < 0x80n) return 1;
  if (b >= -0x8000n && b < 0x8000n) return 2;
  if (b >= -0x80000000n && b < 0x80000000n) return 4;
  return 8;
}
