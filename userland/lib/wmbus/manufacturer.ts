/**
 * Manufacturer code (EN 13757-3 / FLAG association): three letters of 5 bits each,
 * letter = bits + 64, packed into the 16-bit M-field (transmitted low byte first).
 */
export function manufacturerCode(field: number): string {
  const letters = [(field >> 10) & 0x1f, (field >> 5) & 0x1f, field & 0x1f];
  return letters.map((l) => (l >= 1 && l <= 26 ? String.fromCharCode(l + 64) : "?")).join("");
}

/** Inverse of manufacturerCode, for building frames. */
export function manufacturerField(code: string): number {
  if (!/^[A-Z]{3}$/.test(code))
    throw new RangeError(`manufacturer code must be 3 letters A-Z: ${code}`);
  const [a, b, c] = [...code].map((ch) => ch.charCodeAt(0) - 64) as [number, number, number];
  return (a << 10) | (b << 5) | c;
}
