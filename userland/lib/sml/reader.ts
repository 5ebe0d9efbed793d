/** A cursor over SML bytes that reads TL-encoded fields and throws SmlError on bad input. */

import { SmlError } from "./errors.ts";
import {
  DEFAULT_MAX_DEPTH,
  MAX_TL_BYTES,
  type SmlNode,
  TL_BOOLEAN,
  TL_INTEGER,
  TL_LIST,
  TL_OCTETS,
  TL_UNSIGNED,
  tlTypeName,
} from "./tl.ts";

const TWO_32 = 4294967296;

export class SmlReader {
  readonly bytes: Uint8Array;
  readonly end: number;
  readonly maxDepth: number;
  pos: number;
  depth = 0;
  /** Type of the last TL read. */
  tlType = 0;
  /** Length of the last TL read: value bytes, or element count for a list. */
  tlLength = 0;
  /** Position of the last TL's first byte. */
  tlStart = 0;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length, maxDepth = DEFAULT_MAX_DEPTH) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.maxDepth = maxDepth;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(kind: SmlError["kind"], message: string, at = this.tlStart): never {
    throw new SmlError(kind, at, message);
  }

  /** Reads a TL field and leaves pos on the first value byte. */
  readTL(what: string): void {
    const b = this.bytes;
    const start = this.pos;
    this.tlStart = start;
    if (start >= this.end) this.fail("truncated", `input ends before ${what}`, start);
    let c = b[start] as number;
    const type = (c >>> 4) & 0x7;
    let len = c & 0x0f;
    let n = 1;
    while (c & 0x80) {
      if (start + n >= this.end) this.fail("truncated", `input ends inside the TL of ${what}`);
      if (n >= MAX_TL_BYTES)
        this.fail("length", `TL of ${what} has more than ${MAX_TL_BYTES} bytes`);
      c = b[start + n] as number;
      if (c & 0x70) this.fail("type", `continued TL byte of ${what} has type bits set`);
      len = len * 16 + (c & 0x0f);
      n++;
    }
    this.pos = start + n;
    if (type === TL_LIST) {
      this.tlType = type;
      this.tlLength = len;
      return;
    }
    if (tlTypeName(type) === undefined) this.fail("type", `unknown TL type ${type} at ${what}`);
    if (len < n) {
      if (len === 0 && n === 1) this.fail("structure", `end of message where ${what} belongs`);
      this.fail("length", `length ${len} of ${what} is shorter than its ${n} TL bytes`);
    }
    len -= n;
    if (len > this.end - this.pos) {
      this.fail("truncated", `${what} claims ${len} value bytes, ${this.end - this.pos} remain`);
    }
    this.tlType = type;
    this.tlLength = len;
  }

  /** Consumes 0x01 (optional field not set) and returns true, or returns false. */
  skipNone(): boolean {
    if (this.pos < this.end && this.bytes[this.pos] === 0x01) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Reads a list TL; returns the element count. Call leaveList() after the elements. */
  enterList(what: string, expected?: number): number {
    this.readTL(what);
    if (this.tlType !== TL_LIST) {
      this.fail("type", `${what} must be a list, found ${tlTypeName(this.tlType) ?? "?"}`);
    }
    const count = this.tlLength;
    if (expected !== undefined && count !== expected) {
      this.fail("structure", `${what} must have ${expected} elements, has ${count}`);
    }
    // Every element takes at least one byte: a larger count is a lie about the input.
    if (count > this.end - this.pos) {
      this.fail("length", `${what} claims ${count} elements, ${this.end - this.pos} bytes remain`);
    }
    if (++this.depth > this.maxDepth) {
      this.fail("depth", `lists nested deeper than ${this.maxDepth} at ${what}`);
    }
    return count;
  }

  leaveList(): void {
    this.depth--;
  }

  readOctets(what: string): Uint8Array {
    this.readTL(what);
    if (this.tlType !== TL_OCTETS) {
      this.fail("type", `${what} must be an octet string, found ${tlTypeName(this.tlType) ?? "?"}`);
    }
    const v = this.bytes.slice(this.pos, this.pos + this.tlLength);
    this.pos += this.tlLength;
    return v;
  }

  readOptionalOctets(what: string): Uint8Array | undefined {
    return this.skipNone() ? undefined : this.readOctets(what);
  }

  readBoolean(what: string): boolean {
    this.readTL(what);
    if (this.tlType !== TL_BOOLEAN) {
      this.fail("type", `${what} must be a boolean, found ${tlTypeName(this.tlType) ?? "?"}`);
    }
    if (this.tlLength !== 1) this.fail("length", `boolean ${what} has ${this.tlLength} bytes`);
    return this.bytes[this.pos++] !== 0;
  }

  /** Reads an integer TL (signed or unsigned) and checks its size; leaves pos on the value. */
  private readNumberTL(what: string): boolean {
    this.readTL(what);
    const t = this.tlType;
    if (t !== TL_UNSIGNED && t !== TL_INTEGER) {
      this.fail("type", `${what} must be a number, found ${tlTypeName(t) ?? "?"}`);
    }
    if (this.tlLength < 1 || this.tlLength > 8) {
      this.fail("length", `number ${what} has ${this.tlLength} value bytes (1 to 8 allowed)`);
    }
    return t === TL_INTEGER;
  }

  /**
   * An unsigned number of at most `bits` bits as a JS number. Signed encodings are accepted
   * if the value is not negative: meters are not consistent about the type of small fields.
   */
  readUnsigned(what: string, bits: 8 | 16 | 32): number {
    const signed = this.readNumberTL(what);
    const v = this.numberValue(signed);
    if (v < 0 || v >= 2 ** bits) this.fail("value", `${what} = ${v} is not an Unsigned${bits}`);
    return v;
  }

  readOptionalUnsigned(what: string, bits: 8 | 16 | 32): number | undefined {
    return this.skipNone() ? undefined : this.readUnsigned(what, bits);
  }

  /** A signed number of at most `bits` bits (unsigned encodings accepted if in range). */
  readInteger(what: string, bits: 8 | 16 | 32): number {
    const signed = this.readNumberTL(what);
    const v = this.numberValue(signed);
    const lim = 2 ** (bits - 1);
    if (v < -lim || v >= lim) this.fail("value", `${what} = ${v} is not an Integer${bits}`);
    return v;
  }

  readOptionalInteger(what: string, bits: 8 | 16 | 32): number | undefined {
    return this.skipNone() ? undefined : this.readInteger(what, bits);
  }

  /** An Unsigned64 (or any narrower unsigned) as bigint. */
  readBigUnsigned(what: string): bigint {
    const signed = this.readNumberTL(what);
    const v = this.bigValue(signed);
    if (v < 0n) this.fail("value", `${what} = ${v} is negative`);
    return v;
  }

  readOptionalBigUnsigned(what: string): bigint | undefined {
    return this.skipNone() ? undefined : this.readBigUnsigned(what);
  }

  /** Value bytes of the current number TL as a JS number; more than 53 bits is an error. */
  private numberValue(signed: boolean): number {
    const n = this.tlLength;
    const b = this.bytes;
    const p = this.pos;
    this.pos += n;
    if (n > 6) {
      const big = this.bigFrom(p, n, signed);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
        this.fail("value", `number ${big} is out of range here`);
      }
      return Number(big);
    }
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (b[p + i] as number);
    if (signed && (b[p] as number) & 0x80) v -= 2 ** (8 * n);
    return v;
  }

  private bigValue(signed: boolean): bigint {
    const p = this.pos;
    this.pos += this.tlLength;
    return this.bigFrom(p, this.tlLength, signed);
  }

  private bigFrom(p: number, n: number, signed: boolean): bigint {
    const b = this.bytes;
    let v: bigint;
    if (n <= 6) {
      let x = 0;
      for (let i = 0; i < n; i++) x = x * 256 + (b[p + i] as number);
      v = BigInt(x);
    } else {
      let hi = 0;
      for (let i = 0; i < n - 4; i++) hi = hi * 256 + (b[p + i] as number);
      let lo = 0;
      for (let i = n - 4; i < n; i++) lo = lo * 256 + (b[p + i] as number);
      v = BigInt(hi) * BigInt(TWO_32) + BigInt(lo);
    }
    return signed ? BigInt.asIntN(8 * n, v) : v;
  }

  /** Reads an integer field keeping its signedness and wire size. */
  readAnyNumber(what: string): { type: "int" | "uint"; value: bigint; size: number } {
    const signed = this.readNumberTL(what);
    const size = this.tlLength;
    return { type: signed ? "int" : "uint", value: this.bigValue(signed), size };
  }

  /** The 0x00 that closes an SML_Message. */
  readEndOfMessage(): void {
    if (this.pos >= this.end) this.fail("truncated", "input ends before endOfSmlMsg", this.pos);
    if (this.bytes[this.pos] !== 0x00) {
      this.fail("structure", "endOfSmlMsg (00) expected", this.pos);
    }
    this.pos++;
  }

  /** Any element, untyped, with the depth bound applied. */
  readNode(what: string): SmlNode {
    const first = this.pos;
    this.readTL(what);
    const t = this.tlType;
    if (t === TL_LIST) {
      this.pos = first;
      const count = this.enterList(what);
      const items: SmlNode[] = [];
      for (let i = 0; i < count; i++) items.push(this.readNode(what));
      this.leaveList();
      return { type: "list", items };
    }
    const n = this.tlLength;
    if (t === TL_OCTETS) {
      const value = this.bytes.slice(this.pos, this.pos + n);
      this.pos += n;
      return { type: "octets", value };
    }
    if (t === TL_BOOLEAN) {
      if (n !== 1) this.fail("length", `boolean ${what} has ${n} bytes`);
      return { type: "bool", value: this.bytes[this.pos++] !== 0 };
    }
    if (n < 1 || n > 8) this.fail("length", `number ${what} has ${n} value bytes (1 to 8 allowed)`);
    const signed = t === TL_INTEGER;
    return { type: signed ? "int" : "uint", value: this.bigValue(signed), size: n };
  }
}
