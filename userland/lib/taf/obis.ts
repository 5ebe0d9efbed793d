/**
 * OBIS identifiers (IEC 62056-61): six value groups A-B:C.D.E*F. AR 2418-6 documents carry them
 * as 12 hex digits ("0100010800FF"); registers are shown in the reduced decimal form
 * ("1-0:1.8.0*255").
 */

export interface Obis {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly e: number;
  readonly f: number;
}

const DECIMAL = /^(?:(\d{1,3})-(\d{1,3}):)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\*(\d{1,3}))?$/;

/** Parses 12 hex digits or the decimal form; undefined if the text is neither. */
export function parseObis(text: string): Obis | undefined {
  const value = text.trim();
  if (/^[0-9A-Fa-f]{12}$/.test(value)) {
    const groups: number[] = [];
    for (let i = 0; i < 12; i += 2) groups.push(Number.parseInt(value.slice(i, i + 2), 16));
    const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = groups;
    return { a, b, c, d, e, f };
  }
  const m = DECIMAL.exec(value);
  if (!m) return undefined;
  // The short form C.D.E means electricity (A=1), channel 0 and F=255.
  const groups = [m[1] ?? "1", m[2] ?? "0", m[3], m[4], m[5], m[6] ?? "255"].map(Number);
  if (groups.some((g) => g > 255)) return undefined;
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = groups;
  return { a, b, c, d, e, f };
}

export function formatObis(obis: Obis): string {
  return `${obis.a}-${obis.b}:${obis.c}.${obis.d}.${obis.e}*${obis.f}`;
}

export function obisHex(obis: Obis): string {
  return [obis.a, obis.b, obis.c, obis.d, obis.e, obis.f]
    .map((g) => g.toString(16).toUpperCase().padStart(2, "0"))
    .join("");
}

export function withE(obis: Obis, e: number): Obis {
  return { ...obis, e };
}
