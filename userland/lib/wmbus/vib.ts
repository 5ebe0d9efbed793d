import { WmbusError } from "./errors.ts";
import { toHex } from "./hex.ts";
import { numberMeaning, otherMeaning, type ValueMeaning } from "./meaning.ts";
import type { ByteReader } from "./reader.ts";
import type { DataRecord } from "./types.ts";
import { fbMeaning } from "./vif-fb.ts";
import { fdMeaning } from "./vif-fd.ts";
import { primaryMeaning } from "./vif-primary.ts";
import { combinableVife } from "./vife-combinable.ts";

/** EN 13757-3 allows at most 10 VIFEs. */
const MAX_VIFES = 10;

export interface Vib {
  meaning: ValueMeaning;
  table: DataRecord["vifTable"];
  rawVif: Uint8Array;
  annotations: string[];
  /** Sum of additive correction constants, as exponents of 10 in the VIF's unit. */
  additiveExponents: number[];
  /** Data must be kept as hex (manufacturer-specific VIF, compact profiles). */
  opaqueData: boolean;
  /** A combinable VIFE 0x7F marked the rest of the block manufacturer specific. */
  manufacturerVifes?: string;
}

/** Value information block: VIF, optional extension-table code, plain-text unit, VIFEs. */
export function parseVib(reader: ByteReader): Vib {
  const start = reader.pos;
  const vif = reader.u8("VIF");
  let hasExtension = (vif & 0x80) !== 0;
  const code = vif & 0x7f;
  const annotations: string[] = [];
  let meaning: ValueMeaning;
  let table: Vib["table"] = "primary";
  let opaqueData = false;
  let manufacturerMode = false;

  if (code === 0x7b || code === 0x7d) {
    if (!hasExtension) {
      throw new WmbusError(
        "record",
        `VIF 0x${hexByte(vif)} announces an extension table but has no VIFE`,
        {
          offset: reader.offset - 1,
        },
      );
    }
    const trueVif = reader.u8(`VIFE after 0x${hexByte(vif)}`);
    hasExtension = (trueVif & 0x80) !== 0;
    meaning = code === 0x7b ? fbMeaning(trueVif & 0x7f) : fdMeaning(trueVif & 0x7f);
    table = code === 0x7b ? "FB" : "FD";
  } else if (code === 0x7c) {
    // Plain-text VIF: length and characters (last character first) follow the VIF directly.
    const length = reader.u8("plain-text VIF length");
    const text = reader.take(length, "plain-text VIF");
    meaning = numberMeaning("plain-text unit", latin1Reversed(text));
    table = "plain-text";
  } else if (code === 0x7f) {
    meaning = otherMeaning("manufacturer specific", "opaque");
    table = "manufacturer";
    opaqueData = true;
    manufacturerMode = true;
  } else {
    meaning = primaryMeaning(code);
  }

  meaning = { ...meaning };
  const additiveExponents: number[] = [];
  const manufacturerVifes: number[] = [];
  let vifeCount = 0;
  let extensionNext = false;
  while (hasExtension) {
    vifeCount++;
    if (vifeCount > MAX_VIFES) {
      throw new WmbusError("record", `more than ${MAX_VIFES} VIFEs`, { offset: reader.offset });
    }
    const vife = reader.u8("VIFE");
    hasExtension = (vife & 0x80) !== 0;
    if (manufacturerMode) {
      manufacturerVifes.push(vife);
      continue;
    }
    if (extensionNext) {
      annotations.push(`combinable extension code 0x${hexByte(vife & 0x7f)}`);
      extensionNext = false;
      continue;
    }
    const effect = combinableVife(vife & 0x7f);
    annotations.push(effect.annotation);
    if (effect.exponentDelta !== undefined) meaning.exponent += effect.exponentDelta;
    if (effect.additiveExponent !== undefined) additiveExponents.push(effect.additiveExponent);
    if (effect.unitSuffix) meaning.unit = `${meaning.unit || "1"}${effect.unitSuffix}`;
    if (effect.opaqueData) opaqueData = true;
    if (effect.extensionFollows) extensionNext = true;
    if (effect.manufacturerFollows) manufacturerMode = true;
    if (effect.becomes) {
      // The value is now about the quantity (a date, a count or a duration), not in its unit.
      const quantity = `${meaning.quantity} (${effect.annotation})`;
      additiveExponents.length = 0;
      if (effect.becomes === "time-point") meaning = otherMeaning(quantity, "time-point");
      else if (effect.becomes === "count") meaning = otherMeaning(quantity, "count");
      else meaning = numberMeaning(quantity, effect.becomes.durationUnit);
    }
  }
  const vib: Vib = {
    meaning,
    table,
    rawVif: reader.bytes.subarray(start, reader.pos),
    annotations,
    additiveExponents,
    opaqueData,
  };
  if (manufacturerVifes.length > 0)
    vib.manufacturerVifes = toHex(Uint8Array.from(manufacturerVifes));
  return vib;
}

/** LVAR text and plain-text units are transmitted last character first (ISO 8859-1). */
export function latin1Reversed(bytes: Uint8Array): string {
  let out = "";
  for (let i = bytes.length - 1; i >= 0; i--) out += String.fromCharCode(bytes[i] as number);
  return out;
}

function hexByte(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, "0");
}
