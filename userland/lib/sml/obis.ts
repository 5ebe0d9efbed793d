/** OBIS codes (IEC 62056-61): 6 bytes A B C D E F written "A-B:C.D.E*F". */

import { SmlError } from "./errors.ts";

/** "1-0:1.8.0*255" for 01 00 01 08 00 FF. Throws SmlError if not 6 bytes. */
export function obisToString(bytes: Uint8Array): string {
  if (bytes.length !== 6) {
    throw new SmlError("length", -1, `an OBIS code has 6 bytes, not ${bytes.length}`);
  }
  const [a, b, c, d, e, f] = bytes as unknown as [number, number, number, number, number, number];
  return `${a}-${b}:${c}.${d}.${e}*${f}`;
}

/** The OBIS text for 6 bytes, else the bytes as hex (objName need not be an OBIS code). */
export function formatObjName(bytes: Uint8Array): string {
  return bytes.length === 6 ? obisToString(bytes) : toHex(bytes);
}

const OBIS_FULL = /^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[*.&](\d{1,3}))?$/;
const OBIS_HEX = /^[0-9a-fA-F]{12}$/;

/**
 * Parses "A-B:C.D.E*F", "A-B:C.D.E.F", "A-B:C.D.E" (F = 255) or 12 hex digits. Throws SmlError
 * (kind "value") for anything else or a group above 255.
 */
export function parseObis(text: string): Uint8Array {
  const s = text.trim();
  if (OBIS_HEX.test(s)) return fromHex(s);
  const m = OBIS_FULL.exec(s);
  if (m === null) throw new SmlError("value", 0, `"${text}" is not an OBIS code`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const g = m[i + 1];
    const v = g === undefined ? 255 : Number(g);
    if (v > 255) throw new SmlError("value", 0, `OBIS group ${v} in "${text}" exceeds 255`);
    out[i] = v;
  }
  return out;
}

/** Accepts OBIS text or 6 bytes. */
export function toObisBytes(obis: string | Uint8Array): Uint8Array {
  if (typeof obis !== "string") {
    if (obis.length !== 6) {
      throw new SmlError("length", -1, `an OBIS code has 6 bytes, not ${obis.length}`);
    }
    return obis;
  }
  return parseObis(obis);
}

export function obisEquals(a: Uint8Array, b: string | Uint8Array): boolean {
  const x = typeof b === "string" ? parseObis(b) : b;
  if (a.length !== x.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== x[i]) return false;
  return true;
}

/** Short English names of OBIS codes that electricity meters commonly send over SML. */
const OBIS_NAMES: Record<string, string> = {
  "1-0:0.0.9*255": "device identification (server ID)",
  "1-0:96.1.0*255": "device identification",
  "1-0:96.5.0*255": "operating status",
  "129-129:199.130.3*255": "manufacturer identification",
  "129-129:199.130.5*255": "public key",
  "1-0:1.8.0*255": "active energy import (+A), total",
  "1-0:1.8.1*255": "active energy import (+A), tariff 1",
  "1-0:1.8.2*255": "active energy import (+A), tariff 2",
  "1-0:2.8.0*255": "active energy export (-A), total",
  "1-0:2.8.1*255": "active energy export (-A), tariff 1",
  "1-0:2.8.2*255": "active energy export (-A), tariff 2",
  "1-0:16.7.0*255": "active power, total",
  "1-0:36.7.0*255": "active power L1",
  "1-0:56.7.0*255": "active power L2",
  "1-0:76.7.0*255": "active power L3",
  "1-0:32.7.0*255": "voltage L1",
  "1-0:52.7.0*255": "voltage L2",
  "1-0:72.7.0*255": "voltage L3",
  "1-0:31.7.0*255": "current L1",
  "1-0:51.7.0*255": "current L2",
  "1-0:71.7.0*255": "current L3",
  "1-0:14.7.0*255": "supply frequency",
  "1-0:0.2.0*255": "firmware version",
};

export function obisName(obis: string | Uint8Array): string | undefined {
  const key = typeof obis === "string" ? obisToString(parseObis(obis)) : formatObjName(obis);
  return OBIS_NAMES[key];
}

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Hex text to bytes; whitespace is ignored. Throws SmlError (kind "value") on bad text. */
export function fromHex(hex: string): Uint8Array {
  const s = hex.replace(/\s+/g, "");
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new SmlError("value", 0, "not an even-length hex string");
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
