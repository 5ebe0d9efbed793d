// BER-TLV as ISO 7816-4 and DER use it: tags of one to three bytes, definite lengths of up to
// three length bytes. The card's data objects and the X.509/SPKI structures both go through
// here, so every malformed input ends in a TlvError naming the offset.

export class TlvError extends Error {
  override name = "TlvError";
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

export interface Tlv {
  tag: number;
  /** Whether the tag says the value holds further TLVs. */
  constructed: boolean;
  value: Uint8Array;
  /** Offset of the tag within the parsed buffer. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

/** Parse one TLV at `offset`; the value must lie inside `buf`. */
export function readTlv(buf: Uint8Array, offset = 0): Tlv {
  let pos = offset;
  const first = buf[pos];
  if (first === undefined) throw new TlvError("missing tag", pos);
  if (first === 0x00 || first === 0xff) throw new TlvError(`invalid tag byte ${hex2(first)}`, pos);
  let tag = first;
  pos++;
  if ((first & 0x1f) === 0x1f) {
    for (let n = 0; ; n++) {
      const b = buf[pos];
      if (b === undefined) throw new TlvError("truncated tag", pos);
      if (n === 2) throw new TlvError("tag longer than three bytes", pos);
      tag = tag * 256 + b;
      pos++;
      if ((b & 0x80) === 0) break;
    }
  }
  const lenByte = buf[pos];
  if (lenByte === undefined) throw new TlvError("missing length", pos);
  pos++;
  let length = lenByte;
  if (lenByte >= 0x80) {
    const count = lenByte & 0x7f;
    if (count === 0) throw new TlvError("indefinite length not allowed", pos - 1);
    if (count > 3) throw new TlvError(`length of ${count} bytes too long`, pos - 1);
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = buf[pos];
      if (b === undefined) throw new TlvError("truncated length", pos);
      length = length * 256 + b;
      pos++;
    }
  }
  if (pos + length > buf.length) {
    throw new TlvError(
      `value of ${length} bytes runs past the end (${buf.length - pos} left)`,
      pos,
    );
  }
  return {
    tag,
    constructed: (first & 0x20) !== 0,
    value: buf.subarray(pos, pos + length),
    start: offset,
    end: pos + length,
  };
}

/** Parse a sequence of TLVs filling `buf` exactly. */
export function readAll(buf: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const t = readTlv(buf, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** Parse exactly one TLV that must fill `buf`. */
export function readOne(buf: Uint8Array, expectedTag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) throw new TlvError(`${buf.length - t.end} bytes after the TLV`, t.end);
  if (expectedTag !== undefined && t.tag !== expectedTag) {
    throw new TlvError(`expected tag ${hexTag(expectedTag)}, found ${hexTag(t.tag)}`, 0);
  }
  return t;
}

/** The first child with `tag` among the TLVs in `value`, or undefined. */
export function findTag(value: Uint8Array, tag: number): Tlv | undefined {
  return readAll(value).find((t) => t.tag === tag);
}

export function encodeLength(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 0xffffff) {
    throw new RangeError(`TLV length ${length} out of range`);
  }
  if (length < 0x80) return Uint8Array.of(length);
  if (length < 0x100) return Uint8Array.of(0x81, length);
  if (length < 0x10000) return Uint8Array.of(0x82, length >> 8, length & 0xff);
  return Uint8Array.of(0x83, length >> 16, (length >> 8) & 0xff, length & 0xff);
}

export function encodeTag(tag: number): Uint8Array {
  if (tag < 0 || tag > 0xffffff || !Number.isInteger(tag)) throw new RangeError(`bad tag ${tag}`);
  if (tag > 0xffff) return Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff);
  if (tag > 0xff) return Uint8Array.of(tag >> 8, tag & 0xff);
  return Uint8Array.of(tag);
}

/** Encode one TLV; `value` may be several parts to concatenate. */
export function tlv(tag: number, ...value: Uint8Array[]): Uint8Array {
  const body = concat(...value);
  return concat(encodeTag(tag), encodeLength(body.length), body);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}

export function hexTag(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(2, "0");
}
