import { WmbusError } from "./errors.ts";

/** Bounds-checked cursor over a byte array; offsets in errors are relative to `base`. */
export class ByteReader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly base: number;

  constructor(bytes: Uint8Array, pos = 0, base = 0) {
    this.bytes = bytes;
    this.pos = pos;
    this.base = base;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  get offset(): number {
    return this.base + this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.bytes.length;
  }

  peek(): number | undefined {
    return this.bytes[this.pos];
  }

  need(count: number, what: string): void {
    if (count > this.remaining) {
      throw new WmbusError(
        "truncated",
        `${what} needs ${count} byte(s), only ${this.remaining} left`,
        { offset: this.offset },
      );
    }
  }

  u8(what: string): number {
    this.need(1, what);
    const value = this.bytes[this.pos] as number;
    this.pos += 1;
    return value;
  }

  u16le(what: string): number {
    const b = this.take(2, what);
    return (b[0] as number) | ((b[1] as number) << 8);
  }

  u32le(what: string): number {
    const b = this.take(4, what);
    return (
      ((b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16)) +
      (b[3] as number) * 0x1000000
    );
  }

  take(count: number, what: string): Uint8Array {
    this.need(count, what);
    const out = this.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return out;
  }

  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }
}
