/** Raw value codings of EN 13757-3 (integers, BCD, 32-bit real), little endian. */

/** Two's complement, little endian. Up to 6 bytes as number, 8 bytes as bigint. */
export function readSignedLE(bytes: Uint8Array): number | bigint {
  const unsigned = readUnsignedLE(bytes);
  const bits = bytes.length * 8;
  if (typeof unsigned === "bigint") {
    return unsigned >= 1n << BigInt(bits - 1) ? unsigned - (1n << BigInt(bits)) : unsigned;
  }
  const half = 2 ** (bits - 1);
  return unsigned >= half ? unsigned - 2 * half : unsigned;
}

export function readUnsignedLE(bytes: Uint8Array): number | bigint {
  if (bytes.length > 6) {
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i] as number);
    return value;
  }
  let value = 0;
  for (let i = bytes.length - 1; i >= 0; i--) value = value * 256 + (bytes[i] as number);
  return value;
}

export interface Bcd {
  /** Digits, most significant first, without the sign nibble; hex letters kept when invalid. */
  digits: string;
  negative: boolean;
  /** null when a nibble other than the sign is not a decimal digit. */
  value: number | null;
}

/** BCD, least significant byte first; an F in the top nibble means negative. */
export function readBcd(bytes: Uint8Array): Bcd {
  let nibbles = "";
  for (let i = bytes.length - 1; i >= 0; i--) {
    nibbles += (bytes[i] as number).toString(16).padStart(2, "0").toUpperCase();
  }
  const negative = nibbles.startsWith("F");
  const digits = negative ? nibbles.slice(1) : nibbles;
  if (!/^[0-9]*$/.test(digits)) return { digits, negative, value: null };
  const magnitude = digits.length === 0 ? 0 : Number(digits);
  return { digits, negative, value: negative ? -magnitude : magnitude };
}

export function readReal32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

/** raw × 10^exponent with one rounding step: division for negative exponents keeps 0.01 exact. */
export function scaleDecimal(raw: number, exponent: number): number {
  if (exponent === 0) return raw;
  return exponent > 0 ? raw * 10 ** exponent : raw / 10 ** -exponent;
}
