import { decodeTimePoint } from "./datetime.ts";
import { toHex, toHexReversed } from "./hex.ts";
import type { ValueMeaning } from "./meaning.ts";
import type { RecordValue } from "./types.ts";
import { readBcd, readReal32, readSignedLE, readUnsignedLE, scaleDecimal } from "./value-coding.ts";
import { latin1Reversed, type Vib } from "./vib.ts";

export interface Interpreted {
  value: RecordValue;
  annotations: string[];
}

type Coding =
  | { type: "none" }
  | { type: "int" }
  | { type: "real" }
  | { type: "bcd"; negative: boolean }
  | { type: "text" }
  | { type: "binary" };

/** Coding of the data from the DIF data field and, for variable length data, the LVAR byte. */
function codingOf(dataField: number, lvar: number | undefined): Coding {
  if (dataField === 0x0 || dataField === 0x8) return { type: "none" };
  if (dataField === 0x5) return { type: "real" };
  if (dataField >= 0x9 && dataField !== 0xd) return { type: "bcd", negative: false };
  if (dataField !== 0xd) return { type: "int" };
  const code = lvar ?? 0;
  if (code <= 0xbf) return { type: "text" };
  if (code <= 0xcf) return { type: "bcd", negative: false };
  if (code <= 0xdf) return { type: "bcd", negative: true };
  return { type: "binary" };
}

/** Turns data bytes into a value as the VIF meaning says; never throws. */
export function interpretData(
  dataField: number,
  data: Uint8Array,
  lvar: number | undefined,
  vib: Vib,
): Interpreted {
  const annotations: string[] = [];
  const coding = codingOf(dataField, lvar);
  const meaning = vib.meaning;
  if (coding.type === "none") {
    if (dataField === 0x8) annotations.push("selection for readout");
    return { value: null, annotations };
  }
  if (vib.opaqueData || meaning.kind === "opaque") {
    return { value: toHex(data), annotations };
  }
  switch (meaning.kind) {
    case "time-point":
      return timePoint(coding, data, annotations);
    case "identifier":
      return { value: identifier(coding, data), annotations };
    case "binary":
    case "count":
      return { value: unsignedValue(coding, data, annotations), annotations };
    default:
      return numeric(coding, data, vib, annotations);
  }
}

function timePoint(coding: Coding, data: Uint8Array, annotations: string[]): Interpreted {
  if (coding.type === "int") {
    const decoded = decodeTimePoint(data);
    if (decoded) {
      if (decoded.flaggedInvalid !== undefined) {
        annotations.push(
          `date/time flagged invalid (type ${decoded.type}); fields read ${decoded.flaggedInvalid ?? "out of range"}`,
        );
      } else if (decoded.value === null) {
        annotations.push(`invalid date/time (type ${decoded.type})`);
      }
      return { value: decoded.value, annotations };
    }
  }
  annotations.push(`no date/time coding for this data field (${data.length} bytes), kept as hex`);
  return { value: toHex(data), annotations };
}

function identifier(coding: Coding, data: Uint8Array): RecordValue {
  if (coding.type === "text") return text(data);
  if (coding.type === "real") return readReal32(data);
  if (coding.type === "bcd" && coding.negative) return `-${toHexReversed(data)}`;
  // BCD gives its digits; a binary identifier is shown as hex digits, most significant first.
  return toHexReversed(data);
}

function unsignedValue(coding: Coding, data: Uint8Array, annotations: string[]): RecordValue {
  if (coding.type === "int") return safeNumber(readUnsignedLE(data), annotations);
  if (coding.type === "real") return readReal32(data);
  if (coding.type === "bcd") return readBcd(data).value;
  if (coding.type === "text") return text(data);
  return toHex(data);
}

function numeric(coding: Coding, data: Uint8Array, vib: Vib, annotations: string[]): Interpreted {
  let raw: number | null;
  switch (coding.type) {
    case "int":
      raw = safeNumber(readSignedLE(data), annotations, true) as number | null;
      break;
    case "binary":
      if (data.length > 8) {
        annotations.push("binary number longer than 64 bits, kept as hex");
        return { value: toHex(data), annotations };
      }
      raw =
        data.length === 0
          ? 0
          : (safeNumber(readSignedLE(data), annotations, true) as number | null);
      break;
    case "real":
      raw = readReal32(data);
      if (!Number.isFinite(raw)) {
        annotations.push("real value is not a finite number");
        raw = null;
      }
      break;
    case "bcd": {
      const bcd = readBcd(data);
      raw = bcd.value === null ? null : coding.negative ? -Math.abs(bcd.value) : bcd.value;
      if (raw === null) annotations.push(`BCD with non-decimal digits: ${bcd.digits}`);
      break;
    }
    case "text":
      annotations.push("text in a numeric record");
      return { value: text(data), annotations };
    default:
      raw = null;
  }
  if (raw === null) return { value: null, annotations };
  return { value: scale(raw, vib.meaning, vib.additiveExponents), annotations };
}

/** raw → canonical unit, see ValueMeaning. */
export function scale(
  raw: number,
  meaning: ValueMeaning,
  additiveExponents: number[] = [],
): number {
  let value = scaleDecimal(raw, meaning.exponent + meaning.unitExponent);
  for (const exponent of additiveExponents)
    value += scaleDecimal(1, exponent + meaning.unitExponent);
  if (meaning.multiplier !== 1) value *= meaning.multiplier;
  if (meaning.divisor !== 1) value /= meaning.divisor;
  return value + meaning.offset;
}

function safeNumber(value: number | bigint, annotations: string[], lossy = false): number | string {
  if (typeof value === "number") return value;
  if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(value);
  }
  if (lossy) {
    annotations.push("64-bit value rounded to a double");
    return Number(value);
  }
  return value.toString();
}

/** Printable ASCII is returned as text, anything else as hex (no guessing of code pages). */
function text(data: Uint8Array): string {
  const printable = data.every((b) => b >= 0x20 && b <= 0x7e);
  return printable ? latin1Reversed(data) : toHex(data);
}
