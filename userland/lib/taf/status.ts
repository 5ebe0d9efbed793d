/**
 * Reading status. A reading carries a PTB status (PTB-A 50.8, 0..4) and/or the combined FNN
 * status word of meter and gateway (FNN Lastenheft SMGW). The FNN word is 16 hex digits: 8 for
 * the gateway's status word, then 8 for the meter's (BZ) status word, each written least
 * significant bit first.
 */
import { PTB_CRITICAL_TEMPORARY_ERROR, PTB_FATAL_ERROR } from "./model.ts";

// Gateway (SMGW) status word bits.
const SMGW_FATAL_ERROR = 1 << 8;
const SMGW_SYSTEM_TIME_INVALID = 1 << 9;
const SMGW_PTB_WARNING = 1 << 12;
const SMGW_PTB_TEMP_ERROR_SIGNED_INVALID = 1 << 13;
const SMGW_PTB_TEMP_ERROR_IS_INVALID = 1 << 14;
// Meter (BZ) status word bits.
const BZ_MAGNETICALLY_INFLUENCED = 1 << 9;
const BZ_MANIPULATION = 1 << 10;
const BZ_FATAL_ERROR = 1 << 17;

/** The 32 bits of a word in reverse order (FNN status words are written least significant bit first). */
export function reverseBits32(x: number): number {
  let y = 0;
  let v = x >>> 0;
  for (let i = 0; i < 32; i++) {
    y = ((y << 1) | (v & 1)) >>> 0;
    v >>>= 1;
  }
  return y >>> 0;
}

/** True if the text is a usable FNN status word: 1..16 hex digits, an even count. */
export function isFnnStatusText(text: string): boolean {
  return (
    text.length > 0 && text.length <= 16 && text.length % 2 === 0 && /^[0-9A-Fa-f]+$/.test(text)
  );
}

/** Maps an FNN status word to the PTB status it implies. */
export function fnnStatusToPtb(text: string): number {
  const padded = text.padStart(16, "0");
  const smgw = reverseBits32(Number.parseInt(padded.slice(0, 8), 16));
  const bz = reverseBits32(Number.parseInt(padded.slice(8), 16));
  const has = (word: number, bit: number) => (word & bit) !== 0;
  if (has(bz, BZ_FATAL_ERROR) || has(smgw, SMGW_FATAL_ERROR)) return PTB_FATAL_ERROR;
  if (
    has(smgw, SMGW_SYSTEM_TIME_INVALID) ||
    has(smgw, SMGW_PTB_TEMP_ERROR_IS_INVALID) ||
    has(bz, BZ_MANIPULATION) ||
    has(bz, BZ_MAGNETICALLY_INFLUENCED)
  ) {
    return PTB_CRITICAL_TEMPORARY_ERROR;
  }
  if (has(smgw, SMGW_PTB_TEMP_ERROR_SIGNED_INVALID)) return 2;
  if (has(smgw, SMGW_PTB_WARNING)) return 1;
  return 0;
}

/** A reading may be billed unless its PTB status, given or implied by FNN, is critical or fatal. */
export function isUsableStatus(statusPTB: number | undefined, statusFNNAsPTB: number | undefined) {
  const bad = (s: number | undefined) =>
    s === PTB_CRITICAL_TEMPORARY_ERROR || s === PTB_FATAL_ERROR;
  return !bad(statusPTB) && !bad(statusFNNAsPTB);
}
