import { crc16En13757, readCrcBigEndian } from "./crc.ts";
import { WmbusError } from "./errors.ts";
import { toHex } from "./hex.ts";
import type { FrameFormat } from "./types.ts";

/** A frame with its data link CRCs (or wired framing) removed. */
export interface DataLinkFrame {
  format: FrameFormat;
  /** L-field as transmitted. */
  lField: number;
  /**
   * Wireless: C, M, A, CI and the rest. Wired long frame: C, A, CI and the rest
   * (no start, length, checksum or stop bytes).
   */
  body: Uint8Array;
}

/** C(1) + M(2) + A(6) + CI(1): the smallest wireless frame that carries a CI-field. */
const MIN_WIRELESS_L = 10;
/** Format B: block 1 and 2 together hold at most 126 bytes before the first CRC. */
const FORMAT_B_FIRST_CRC_AT = 126;

/**
 * Unwraps a received frame. The rule, tried in this order:
 * 1. `68 L L 68 … CS 16` with a length of L+6: wired M-Bus long frame, checksum verified.
 * 2. length == L+1: either format B (L counts the CRCs) or a wireless frame whose CRCs are
 *    already removed. Format B is taken when all its block CRCs match (a false match needs
 *    a 16-bit collision on random data); otherwise the frame is taken as CRC-free.
 * 3. length == L+1 plus 2 bytes per format A block: format A, every block CRC must match.
 * Anything else is a length error.
 */
export function unwrapFrame(raw: Uint8Array): DataLinkFrame {
  if (raw.length === 1 && raw[0] === 0xe5) {
    throw new WmbusError("unsupported", "wired M-Bus single character (E5) carries no data");
  }
  if (raw.length === 5 && raw[0] === 0x10 && raw[4] === 0x16) {
    throw new WmbusError("unsupported", "wired M-Bus short frame carries no application data");
  }
  if (isWiredLongFrame(raw)) return unwrapWiredLongFrame(raw);
  if (raw.length < MIN_WIRELESS_L + 1) {
    throw new WmbusError("frame", `frame of ${raw.length} byte(s) is too short for L, C, M, A, CI`);
  }
  const lField = raw[0] as number;
  if (lField < MIN_WIRELESS_L) {
    throw new WmbusError("frame", `L-field ${lField} is too small for C, M, A, CI`, { offset: 0 });
  }
  if (raw.length === lField + 1) {
    const formatB = tryFormatB(raw, lField);
    if (formatB) return formatB;
    return { format: "wmbus-no-crc", lField, body: raw.subarray(1) };
  }
  const formatALength = formatALengthFor(lField);
  if (raw.length === formatALength) return unwrapFormatA(raw, lField);
  throw new WmbusError(
    "frame",
    `frame has ${raw.length} bytes; L-field ${lField} means ${lField + 1} bytes without CRCs ` +
      `or ${formatALength} bytes in format A`,
    { offset: 0 },
  );
}

function isWiredLongFrame(raw: Uint8Array): boolean {
  return (
    raw.length >= 9 &&
    raw[0] === 0x68 &&
    raw[3] === 0x68 &&
    raw[1] === raw[2] &&
    raw.length === (raw[1] as number) + 6 &&
    raw[raw.length - 1] === 0x16
  );
}

function unwrapWiredLongFrame(raw: Uint8Array): DataLinkFrame {
  const lField = raw[1] as number;
  if (lField < 3) {
    throw new WmbusError("frame", `wired long frame L-field ${lField} is below 3 (C, A, CI)`);
  }
  let sum = 0;
  for (let i = 4; i < 4 + lField; i++) sum = (sum + (raw[i] as number)) & 0xff;
  const checksum = raw[4 + lField] as number;
  if (sum !== checksum) {
    throw new WmbusError(
      "crc",
      `wired M-Bus checksum mismatch: computed ${hex2(sum)}, frame has ${hex2(checksum)}`,
      { offset: 4 + lField },
    );
  }
  return { format: "mbus-long", lField, body: raw.subarray(4, 4 + lField) };
}

function formatALengthFor(lField: number): number {
  const dataBlocks = Math.ceil((lField - 9) / 16);
  return lField + 1 + 2 + 2 * dataBlocks;
}

function unwrapFormatA(raw: Uint8Array, lField: number): DataLinkFrame {
  const body = new Uint8Array(lField);
  checkBlockCrc(raw, 0, 10, "format A block 1");
  body.set(raw.subarray(1, 10), 0);
  let out = 9;
  let pos = 12;
  let left = lField - 9;
  let block = 2;
  while (left > 0) {
    const size = Math.min(16, left);
    checkBlockCrc(raw, pos, pos + size, `format A block ${block}`);
    body.set(raw.subarray(pos, pos + size), out);
    out += size;
    pos += size + 2;
    left -= size;
    block++;
  }
  return { format: "wmbus-a", lField, body };
}

function tryFormatB(raw: Uint8Array, lField: number): DataLinkFrame | undefined {
  const n = raw.length;
  if (n <= FORMAT_B_FIRST_CRC_AT + 2) {
    if (n < MIN_WIRELESS_L + 3) return undefined;
    if (!blockCrcMatches(raw, 0, n - 2)) return undefined;
    return { format: "wmbus-b", lField, body: raw.subarray(1, n - 2) };
  }
  // Block 3 needs at least one data byte besides its CRC.
  if (n < FORMAT_B_FIRST_CRC_AT + 2 + 3) return undefined;
  if (!blockCrcMatches(raw, 0, FORMAT_B_FIRST_CRC_AT)) return undefined;
  if (!blockCrcMatches(raw, FORMAT_B_FIRST_CRC_AT + 2, n - 2)) return undefined;
  const body = new Uint8Array(n - 1 - 4);
  body.set(raw.subarray(1, FORMAT_B_FIRST_CRC_AT), 0);
  body.set(raw.subarray(FORMAT_B_FIRST_CRC_AT + 2, n - 2), FORMAT_B_FIRST_CRC_AT - 1);
  return { format: "wmbus-b", lField, body };
}

function blockCrcMatches(raw: Uint8Array, start: number, end: number): boolean {
  return crc16En13757(raw, start, end) === readCrcBigEndian(raw, end);
}

function checkBlockCrc(raw: Uint8Array, start: number, end: number, what: string): void {
  const computed = crc16En13757(raw, start, end);
  const found = readCrcBigEndian(raw, end);
  if (computed !== found) {
    throw new WmbusError(
      "crc",
      `${what} CRC mismatch: computed ${hex4(computed)}, frame has ${hex4(found)}`,
      { offset: end },
    );
  }
}

function hex2(value: number): string {
  return toHex(Uint8Array.of(value));
}

function hex4(value: number): string {
  return toHex(Uint8Array.of(value >> 8, value & 0xff));
}
