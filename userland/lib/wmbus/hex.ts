import { WmbusError } from "./errors.ts";

/** Visual separators some tools put into telegram text; they carry no data. */
const SEPARATORS = /[\s_|#:]/g;

export interface ParsedHex {
  bytes: Uint8Array;
  /** The text had an odd number of digits; the last half byte was dropped. */
  droppedTrailingNibble: boolean;
}

/**
 * Parses hex text. Whitespace and the separators `_ | # :` are ignored.
 * With `allowTrailingNibble`, an odd digit count drops the last digit instead of failing.
 */
export function parseHex(text: string, options: { allowTrailingNibble?: boolean } = {}): ParsedHex {
  const digits = text.replace(SEPARATORS, "");
  const bad = /[^0-9a-fA-F]/.exec(digits);
  if (bad) {
    throw new WmbusError("hex", `not a hex digit: ${JSON.stringify(bad[0])} at digit ${bad.index}`);
  }
  let usable = digits;
  let droppedTrailingNibble = false;
  if (digits.length % 2 !== 0) {
    if (!options.allowTrailingNibble) {
      throw new WmbusError("hex", `odd number of hex digits (${digits.length})`);
    }
    usable = digits.slice(0, -1);
    droppedTrailingNibble = true;
  }
  const bytes = new Uint8Array(usable.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Number.parseInt(usable.slice(i * 2, i * 2 + 2), 16);
  }
  return { bytes, droppedTrailingNibble };
}

/** Strict hex to bytes (no odd digits). */
export function hexToBytes(text: string): Uint8Array {
  return parseHex(text).bytes;
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out.toUpperCase();
}

/** Hex of the bytes in reverse order, as identifiers are printed (MSB first). */
export function toHexReversed(bytes: Uint8Array): string {
  return toHex(Uint8Array.from(bytes).reverse());
}
