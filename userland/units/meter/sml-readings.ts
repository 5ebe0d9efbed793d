// From one SML transport payload to the entries the meter domain validates.
import { decodeSmlMessages, isSmlError, readingsFromSml } from "@smgw/sml";
import type { MeterEntry } from "./validate.ts";

export type DecodedFile =
  | { ok: true; serverId: string; entries: MeterEntry[] }
  | { ok: false; error: string };

/** The server id as the policy writes it: printable ASCII ids as text, others as hex. */
export function serverIdText(hex: string): string {
  const bytes = Buffer.from(hex, "hex");
  const printable = bytes.length > 0 && bytes.every((b) => b >= 0x21 && b <= 0x7e);
  return printable ? bytes.toString("latin1") : hex.toUpperCase();
}

export function readingsFromPayload(payload: Uint8Array): DecodedFile {
  let readings: ReturnType<typeof readingsFromSml>;
  try {
    readings = readingsFromSml(decodeSmlMessages(payload));
  } catch (e) {
    if (isSmlError(e)) return { ok: false, error: `${e.kind}: ${e.message}` };
    throw e;
  }
  if (readings.serverId === undefined)
    return { ok: false, error: "no GetList response in the file" };
  const entries: MeterEntry[] = [];
  for (const e of readings.entries) {
    // Only numeric registers are readings; identification strings and the like are skipped.
    if (e.value === undefined) continue;
    entries.push({
      obis: e.obis,
      value: e.value,
      unit: e.unitSymbol ?? "",
      status: e.status === undefined ? 0 : Number(e.status & 0xffffffffn),
    });
  }
  return { ok: true, serverId: serverIdText(readings.serverId), entries };
}
