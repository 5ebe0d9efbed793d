// Units and status words as AR 2418-6 documents carry them: the unit as an ESPI
// UnitSymbolKind code with a power-of-ten multiplier, the status as the FNN status word.

/** ESPI UnitSymbolKind codes (the XSD's enumeration) for the unit symbols meters deliver. */
const UOM: Readonly<Record<string, { uom: number; powerOfTenMultiplier: number }>> = {
  Wh: { uom: 72, powerOfTenMultiplier: 0 },
  kWh: { uom: 72, powerOfTenMultiplier: 3 },
  MWh: { uom: 72, powerOfTenMultiplier: 6 },
  W: { uom: 38, powerOfTenMultiplier: 0 },
  kW: { uom: 38, powerOfTenMultiplier: 3 },
  varh: { uom: 73, powerOfTenMultiplier: 0 },
  kvarh: { uom: 73, powerOfTenMultiplier: 3 },
  var: { uom: 63, powerOfTenMultiplier: 0 },
  kvar: { uom: 63, powerOfTenMultiplier: 3 },
  VAh: { uom: 71, powerOfTenMultiplier: 0 },
  VA: { uom: 61, powerOfTenMultiplier: 0 },
  V: { uom: 29, powerOfTenMultiplier: 0 },
  A: { uom: 5, powerOfTenMultiplier: 0 },
  Hz: { uom: 33, powerOfTenMultiplier: 0 },
  "m³": { uom: 42, powerOfTenMultiplier: 0 },
  m3: { uom: 42, powerOfTenMultiplier: 0 },
  "m³/h": { uom: 125, powerOfTenMultiplier: 0 },
  l: { uom: 134, powerOfTenMultiplier: 0 },
  "°C": { uom: 23, powerOfTenMultiplier: 0 },
  K: { uom: 6, powerOfTenMultiplier: 0 },
  J: { uom: 31, powerOfTenMultiplier: 0 },
  s: { uom: 27, powerOfTenMultiplier: 0 },
  min: { uom: 159, powerOfTenMultiplier: 0 },
  h: { uom: 160, powerOfTenMultiplier: 0 },
  count: { uom: 111, powerOfTenMultiplier: 0 },
};

/** The UnitSymbolKind and multiplier of a unit symbol, or undefined if it has none. */
export function uomOf(unit: string): { uom: number; powerOfTenMultiplier: number } | undefined {
  return Object.hasOwn(UOM, unit) ? UOM[unit] : undefined;
}

function reverseBits32(x: number): number {
  let y = 0;
  let v = x >>> 0;
  for (let i = 0; i < 32; i++) {
    y = ((y << 1) | (v & 1)) >>> 0;
    v >>>= 1;
  }
  return y >>> 0;
}

/**
 * The 16 hex digits of the FNN status word: the gateway's status word, then the meter's, each
 * written least significant bit first (the order TRuDI reads).
 */
export function fnnStatusWord(gateway: number, meter: number): string {
  for (const [name, word] of [
    ["gateway", gateway],
    ["meter", meter],
  ] as const) {
    if (!Number.isInteger(word) || word < 0 || word > 0xffffffff) {
      throw new RangeError(`${name} status word ${word} is not a 32-bit unsigned integer`);
    }
  }
  const hex = (w: number) => reverseBits32(w).toString(16).toUpperCase().padStart(8, "0");
  return hex(gateway) + hex(meter);
}
