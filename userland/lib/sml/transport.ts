/**
 * SML transport protocol version 1.
 *
 *   1B1B1B1B 01010101  payload  00..(fill)  1B1B1B1B 1A xx yy zz
 *
 * The receiver reads 4-byte blocks counted from the start sequence; an escape sequence is only
 * recognised at such a block boundary. A payload block equal to 1B1B1B1B is sent twice. The
 * payload is filled with 00 to a multiple of 4; xx is the number of fill bytes; yy zz is the
 * CRC-16/X-25 of the frame from the first byte up to and including xx, low byte first.
 */

import { crc16X25 } from "./crc16.ts";
import { SmlError } from "./errors.ts";

export const ESCAPE_BYTE = 0x1b;
export const START_SEQUENCE = Uint8Array.of(0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01);
/** Marker byte after the escape sequence that ends a frame. */
export const END_MARKER = 0x1a;
/** Marker byte after the escape sequence that starts a version 1 frame. */
export const START_MARKER = 0x01;

export interface TransportFrame {
  /** The unescaped payload without fill bytes: the SML messages. */
  payload: Uint8Array;
  /** Number of 00 fill bytes the sender added. */
  fillBytes: number;
  /** The CRC-16/X-25 carried in the end sequence. */
  crc: number;
}

export interface TransportCheckOptions {
  /** Check the frame CRC (default true). */
  checkCrc?: boolean;
}

/** True if bytes[i, i+4) is 1B1B1B1B; the caller guarantees i+4 <= length. */
export function isEscapeAt(b: Uint8Array, i: number): boolean {
  return b[i] === 0x1b && b[i + 1] === 0x1b && b[i + 2] === 0x1b && b[i + 3] === 0x1b;
}

/** True if bytes[i, i+8) is the version 1 start sequence; the caller guarantees i+8 <= length. */
export function isStartAt(b: Uint8Array, i: number): boolean {
  return (
    isEscapeAt(b, i) &&
    b[i + 4] === 0x01 &&
    b[i + 5] === 0x01 &&
    b[i + 6] === 0x01 &&
    b[i + 7] === 0x01
  );
}

/** Wraps an SML payload (the encoded messages) into a transport version 1 frame. */
export function encodeTransportFrame(payload: Uint8Array): Uint8Array {
  const fill = (4 - (payload.length % 4)) % 4;
  // Count aligned 1B1B1B1B blocks first so the output is allocated once.
  let escapes = 0;
  for (let i = 0; i + 4 <= payload.length; i += 4) if (isEscapeAt(payload, i)) escapes++;
  const out = new Uint8Array(8 + payload.length + escapes * 4 + fill + 8);
  out.set(START_SEQUENCE, 0);
  let o = 8;
  let i = 0;
  for (; i + 4 <= payload.length; i += 4) {
    if (isEscapeAt(payload, i)) {
      out.fill(0x1b, o, o + 8);
      o += 8;
    } else {
      out[o] = payload[i] as number;
      out[o + 1] = payload[i + 1] as number;
      out[o + 2] = payload[i + 2] as number;
      out[o + 3] = payload[i + 3] as number;
      o += 4;
    }
  }
  // The last partial block ends with 00 fill bytes, so it can never be an escape sequence.
  out.set(payload.subarray(i), o);
  o += payload.length - i + fill;
  out.fill(0x1b, o, o + 4);
  out[o + 4] = END_MARKER;
  out[o + 5] = fill;
  const crc = crc16X25(out, 0, o + 6);
  out[o + 6] = crc & 0xff;
  out[o + 7] = crc >>> 8;
  return out;
}

/**
 * Unescapes and checks one frame whose start sequence is at `start` and whose end escape
 * sequence (1B1B1B1B 1A) is at the aligned position `endEscape`. Offsets in errors are
 * `base + index`.
 */
export function unwrapFrameAt(
  buf: Uint8Array,
  start: number,
  endEscape: number,
  base: number,
  options?: TransportCheckOptions,
): TransportFrame {
  const fill = buf[endEscape + 5] as number;
  const crcGiven = (buf[endEscape + 6] as number) | ((buf[endEscape + 7] as number) << 8);
  if (options?.checkCrc !== false) {
    const crc = crc16X25(buf, start, endEscape + 6);
    if (crc !== crcGiven) {
      throw new SmlError(
        "crc",
        base + endEscape + 6,
        `frame CRC is ${hex4(crcGiven)}, computed ${hex4(crc)}`,
      );
    }
  }
  const out = new Uint8Array(endEscape - start - 8);
  let o = 0;
  for (let i = start + 8; i < endEscape; i += 4) {
    if (isEscapeAt(buf, i)) {
      // The scanner only hands over frames whose inner escapes are doubled 1B1B1B1B blocks.
      if (!isEscapeAt(buf, i + 4)) {
        throw new SmlError("escape", base + i, "escape sequence inside the payload is not doubled");
      }
      i += 4;
    }
    out[o] = buf[i] as number;
    out[o + 1] = buf[i + 1] as number;
    out[o + 2] = buf[i + 2] as number;
    out[o + 3] = buf[i + 3] as number;
    o += 4;
  }
  if (fill > 3) {
    throw new SmlError("padding", base + endEscape + 5, `fill byte count ${fill} is more than 3`);
  }
  if (fill > o) {
    throw new SmlError("padding", base + endEscape + 5, `fill byte count ${fill} exceeds payload`);
  }
  for (let k = o - fill; k < o; k++) {
    if (out[k] !== 0) {
      throw new SmlError("padding", base + endEscape - fill, "fill bytes are not 00");
    }
  }
  return { payload: out.subarray(0, o - fill), fillBytes: fill, crc: crcGiven };
}

/**
 * Decodes exactly one transport frame: `raw` must start with the start sequence and end with
 * the end sequence. Throws SmlError.
 */
export function decodeTransportFrame(
  raw: Uint8Array,
  options?: TransportCheckOptions,
): TransportFrame {
  if (raw.length < 16) {
    if (raw.length >= 8 && !isStartAt(raw, 0)) {
      throw new SmlError("escape", 0, "frame does not begin with the start sequence");
    }
    throw new SmlError("truncated", raw.length, `frame of ${raw.length} bytes is shorter than 16`);
  }
  if (!isStartAt(raw, 0)) {
    throw new SmlError("escape", 0, "frame does not begin with the start sequence");
  }
  for (let p = 8; p + 8 <= raw.length; p += 4) {
    if (!isEscapeAt(raw, p)) continue;
    const marker = raw[p + 4];
    if (isEscapeAt(raw, p + 4)) {
      p += 4;
      continue;
    }
    if (marker === END_MARKER) {
      if (p + 8 !== raw.length) {
        throw new SmlError("trailing", p + 8, `${raw.length - p - 8} bytes after the end sequence`);
      }
      return unwrapFrameAt(raw, 0, p, 0, options);
    }
    if (isStartAt(raw, p)) {
      throw new SmlError("escape", p, "start sequence inside a frame: previous frame incomplete");
    }
    throw new SmlError("escape", p, `escape sequence followed by unknown ${hex2(marker ?? 0)}`);
  }
  throw new SmlError("truncated", raw.length, "no end sequence at a 4-byte boundary");
}

/** Where payload byte `payloadOffset` of a well-formed frame sits in the raw frame. */
export function frameOffsetOf(raw: Uint8Array, payloadOffset: number): number {
  let p = 8;
  let q = 0;
  while (p + 4 <= raw.length) {
    const escaped = p + 8 <= raw.length && isEscapeAt(raw, p) && isEscapeAt(raw, p + 4);
    if (escaped) p += 4;
    if (payloadOffset < q + 4) return p + (payloadOffset - q);
    p += 4;
    q += 4;
  }
  return p;
}

export function hex2(v: number): string {
  return `0x${v.toString(16).padStart(2, "0")}`;
}

export function hex4(v: number): string {
  return `0x${v.toString(16).padStart(4, "0")}`;
}
