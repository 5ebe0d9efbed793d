// A minimal DER reader and writer (X.690): single-octet tags, definite lengths of at most four
// octets, nothing else. The reader is strict: BER forms (indefinite or non-minimal lengths,
// high tag numbers, non-minimal INTEGERs) are refused with a CmsError naming where.
import { CmsError } from "./errors.ts";

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific constructed tag [n] (EXPLICIT, or IMPLICIT over a constructed type). */
export function contextTag(n: number): number {
  return 0xa0 | n;
}

/**
 * Nesting deeper than this is refused. The signer's certificate extensions sit 10 levels down;
 * an RFC 3161 timestamp token in an unsigned attribute (a whole CMS) reaches about 20.
 */
export const MAX_DEPTH = 32;

/** "a.b" for a named child, "a[0]" for an index. */
export function childPath(path: string, what: string): string {
  return what.startsWith("[") ? `${path}${what}` : `${path}.${what}`;
}

/** One element as read: identifier octet, contents, and where it sits in the input. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier octet in the whole input. */
  readonly offset: number;
  /** The contents octets (a view into the input). */
  readonly value: Uint8Array;
  /** The whole element, header included (a view into the input). */
  readonly der: Uint8Array;
}

function tagName(tag: number): string {
  const names: Record<number, string> = {
    [TAG.INTEGER]: "INTEGER",
    [TAG.BIT_STRING]: "BIT STRING",
    [TAG.OCTET_STRING]: "OCTET STRING",
    [TAG.NULL]: "NULL",
    [TAG.OID]: "OBJECT IDENTIFIER",
    [TAG.UTC_TIME]: "UTCTime",
    [TAG.GENERALIZED_TIME]: "GeneralizedTime",
    [TAG.SEQUENCE]: "SEQUENCE",
    [TAG.SET]: "SET",
  };
  const known = names[tag];
  if (known) return known;
  if ((tag & 0xc0) === 0x80) return `[${tag & 0x1f}]${tag & 0x20 ? "" : " primitive"}`;
  return `tag 0x${tag.toString(16).padStart(2, "0")}`;
}

/**
 * Reads the elements of one level, front to back. Offsets in errors count from the start of the
 * whole input (`base` is where `bytes` starts in it).
 */
export class DerReader {
  private pos = 0;
  private readonly bytes: Uint8Array;

  constructor(
    bytes: Uint8Array,
    readonly path: string,
    private readonly depth = 0,
    private readonly base = 0,
  ) {
    // A plain Uint8Array view: on a Buffer, slice() would share memory instead of copying.
    this.bytes =
      bytes.constructor === Uint8Array
        ? bytes
        : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (depth > MAX_DEPTH) {
      throw new CmsError("too-large", `nesting deeper than ${MAX_DEPTH} levels`, {
        path,
        offset: base,
      });
    }
  }

  /** True when every element of this level has been read. */
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** The tag of the next element, or undefined at the end. */
  peekTag(): number | undefined {
    return this.bytes[this.pos];
  }

  /** Reads the next element, whatever its tag. */
  next(what: string): Tlv {
    const start = this.pos;
    const offset = this.base + start;
    const path = childPath(this.path, what);
    const bytes = this.bytes;
    const tag = bytes[start];
    if (tag === undefined) {
      throw new CmsError("malformed", `${what} missing: end of data`, { path, offset });
    }
    if ((tag & 0x1f) === 0x1f) {
      throw new CmsError("unsupported", "high tag numbers are not used in CMS", { path, offset });
    }
    const { length, header } = this.readLength(start + 1, path, offset);
    const available = bytes.length - start - header;
    if (length > available) {
      throw new CmsError(
        "malformed",
        `${tagName(tag)} claims ${length} bytes, only ${available} left (truncated?)`,
        { path, offset },
      );
    }
    this.pos = start + header + length;
    return {
      tag,
      offset,
      value: bytes.subarray(start + header, start + header + length),
      der: bytes.subarray(start, start + header + length),
    };
  }

  /** Reads the length octets at `at`; returns the length and the header size (tag included). */
  private readLength(at: number, path: string, offset: number): { length: number; header: number } {
    const first = this.bytes[at];
    if (first === undefined) {
      throw new CmsError("malformed", "length missing: end of data", { path, offset });
    }
    if (first < 0x80) return { length: first, header: 2 };
    if (first === 0x80) {
      throw new CmsError("malformed", "indefinite length (BER) is not DER", { path, offset });
    }
    const count = first & 0x7f;
    if (count > 4) {
      throw new CmsError("too-large", `length of ${count} octets (at most 4)`, { path, offset });
    }
    if (at + count >= this.bytes.length) {
      throw new CmsError("malformed", "length octets cut off", { path, offset });
    }
    let length = 0;
    for (let i = 1; i <= count; i++) length = length * 256 + (this.bytes[at + i] ?? 0);
    if (this.bytes[at + 1] === 0 || length < 0x80) {
      throw new CmsError("malformed", "length not in its shortest form (not DER)", {
        path,
        offset,
      });
    }
    return { length, header: 2 + count };
  }

  /**
   * Reads the next element and checks the framing of everything inside it (definite, minimal
   * lengths; nesting within MAX_DEPTH) without interpreting it: for parts kept as bytes.
   */
  nextWellFormed(what: string): Tlv {
    const element = this.next(what);
    if ((element.tag & 0x20) !== 0) {
      const inner = this.enter(element, what);
      for (let i = 0; !inner.done; i++) inner.nextWellFormed(`[${i}]`);
    }
    return element;
  }

  /** nextWellFormed, and the tag must be `tag`. */
  expectWellFormed(tag: number, what: string): Tlv {
    if (this.peekTag() !== tag) return this.expect(tag, what); // throws, naming both tags
    return this.nextWellFormed(what);
  }

  /** Reads the next element and checks its tag. */
  expect(tag: number, what: string): Tlv {
    const element = this.next(what);
    if (element.tag !== tag) {
      throw new CmsError("malformed", `expected ${tagName(tag)}, found ${tagName(element.tag)}`, {
        path: childPath(this.path, what),
        offset: element.offset,
      });
    }
    return element;
  }

  /** Reads the next element only when it has this tag. */
  optional(tag: number, what: string): Tlv | undefined {
    return this.peekTag() === tag ? this.expect(tag, what) : undefined;
  }

  /** A reader over the contents of a constructed element read from this one. */
  enter(element: Tlv, what: string): DerReader {
    const path = childPath(this.path, what);
    if ((element.tag & 0x20) === 0) {
      throw new CmsError("malformed", `${tagName(element.tag)} is not constructed`, {
        path,
        offset: element.offset,
      });
    }
    const headerLength = element.der.length - element.value.length;
    return new DerReader(element.value, path, this.depth + 1, element.offset + headerLength);
  }

  /** Reads the next element with `tag` and returns a reader over its contents. */
  enterNext(tag: number, what: string): DerReader {
    return this.enter(this.expect(tag, what), what);
  }

  /** Refuses anything left at this level. */
  end(): void {
    if (this.done) return;
    throw new CmsError(
      "malformed",
      `${this.bytes.length - this.pos} unexpected bytes after the last element`,
      { path: this.path, offset: this.base + this.pos },
    );
  }
}

/** Reads exactly one element filling `bytes`, as the top of an input. */
export function readTop(bytes: Uint8Array, tag: number, path: string): Tlv {
  const reader = new DerReader(bytes, path);
  const element = reader.expect(tag, "outer");
  reader.end();
  return element;
}

// ---- values --------------------------------------------------------------------------------

/** Checks an INTEGER's contents are present and minimal (X.690 8.3.2); returns them. */
export function integerBytes(element: Tlv, path: string): Uint8Array {
  const v = element.value;
  const [b0, b1] = [v[0], v[1]];
  if (b0 === undefined) {
    throw new CmsError("malformed", "INTEGER has no contents", { path, offset: element.offset });
  }
  if (b1 !== undefined && ((b0 === 0 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80))) {
    throw new CmsError("malformed", "INTEGER not in its shortest form (not DER)", {
      path,
      offset: element.offset,
    });
  }
  return v;
}

/** A small non-negative INTEGER such as a version number. */
export function smallInteger(element: Tlv, path: string): number {
  const v = integerBytes(element, path);
  if (v.length > 4 || (v[0] ?? 0) >= 0x80) {
    throw new CmsError("unsupported", "INTEGER out of range for a version number", {
      path,
      offset: element.offset,
    });
  }
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return n;
}

/** Longest OBJECT IDENTIFIER accepted (contents octets); real ones are under 20. */
const MAX_OID_BYTES = 64;

/** The dotted form of an OBJECT IDENTIFIER, after checking its encoding. */
export function oidText(element: Tlv, path: string): string {
  const v = element.value;
  const fail = (why: string): never => {
    throw new CmsError("malformed", `OBJECT IDENTIFIER ${why}`, { path, offset: element.offset });
  };
  if (v.length === 0) fail("is empty");
  if (v.length > MAX_OID_BYTES) fail(`is longer than ${MAX_OID_BYTES} bytes`);
  if (((v[v.length - 1] ?? 0) & 0x80) !== 0) fail("ends inside a subidentifier");
  const arcs: bigint[] = [];
  let current = 0n;
  let fresh = true;
  for (const b of v) {
    if (fresh && b === 0x80) fail("has a subidentifier with a leading 0x80 (not DER)");
    current = (current << 7n) | BigInt(b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(current);
      current = 0n;
    }
  }
  const first = arcs[0] ?? 0n;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join(".");
}

/** Reads an OBJECT IDENTIFIER element from `reader`. */
export function readOid(reader: DerReader, what: string): string {
  return oidText(reader.expect(TAG.OID, what), childPath(reader.path, what));
}

/** True when two byte strings are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

// ---- writer --------------------------------------------------------------------------------

/** The length octets for `length` (definite form, shortest). */
function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  if (octets.length > 4) throw new CmsError("too-large", `element of ${length} bytes`);
  return [0x80 | octets.length, ...octets];
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One element: tag, length, and the concatenated contents. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = concat(contents);
  return concat([Uint8Array.of(tag, ...lengthOctets(body.length)), body]);
}

export function sequence(...elements: Uint8Array[]): Uint8Array {
  return tlv(TAG.SEQUENCE, ...elements);
}

/** X.690 11.6: SET OF elements in ascending order of their encodings (shorter padded with 0). */
export function sortSetOf(elements: readonly Uint8Array[]): Uint8Array[] {
  return [...elements].sort((a, b) => {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const d = (a[i] ?? 0) - (b[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  });
}

/** A SET OF (tag 0x31, or an IMPLICIT context tag) with its elements in DER order. */
export function setOf(elements: readonly Uint8Array[], tag: number = TAG.SET): Uint8Array {
  return tlv(tag, ...sortSetOf(elements));
}

/** An INTEGER from an unsigned big-endian magnitude (leading zeros dropped, sign octet added). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const first = trimmed[0] ?? 0;
  const contents = first >= 0x80 ? concat([Uint8Array.of(0), trimmed]) : trimmed;
  return tlv(TAG.INTEGER, contents.length === 0 ? Uint8Array.of(0) : contents);
}

export function smallIntegerDer(n: number): Uint8Array {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return unsignedInteger(Uint8Array.from(bytes.length === 0 ? [0] : bytes));
}

/** An OBJECT IDENTIFIER from its dotted form (arcs checked by the caller's constants). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((a) => BigInt(a));
  const [a = 0n, b = 0n, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const groups: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...groups);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

export function octetString(bytes: Uint8Array): Uint8Array {
  return tlv(TAG.OCTET_STRING, bytes);
}

/** [n] EXPLICIT around one element. */
export function explicit(n: number, element: Uint8Array): Uint8Array {
  return tlv(contextTag(n), element);
}
