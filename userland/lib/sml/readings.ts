/** Meter readings out of decoded SML: the GetList responses' entries with scaled values. */

import { decodeSmlFile } from "./file.ts";
import { formatObjName, obisName, toHex } from "./obis.ts";
import { decodeStatusWord, type StatusWordInfo } from "./status.ts";
import type { SmlFile, SmlMessage, SmlTime, SmlValue } from "./types.ts";
import { unitSymbol } from "./units.ts";

export interface SmlReading {
  /** "1-0:1.8.0*255", or hex if objName is not 6 bytes. */
  obis: string;
  objName: Uint8Array;
  /** Short English name for common OBIS codes. */
  name?: string;
  /** The numeric value times 10^scaler; undefined for octet string, boolean and time values. */
  value: number | undefined;
  /** The value as it was on the wire. */
  raw: SmlValue;
  unit?: number;
  unitSymbol?: string;
  /** 0 when the entry has none. */
  scaler: number;
  /** The raw status word. */
  status?: bigint;
  statusInfo?: StatusWordInfo;
  valTime?: SmlTime;
  /** Octet string values as hex. */
  hex?: string;
}

export interface SmlReadings {
  /** Server ID of the first GetList response, as hex. */
  serverId: string | undefined;
  actSensorTime?: SmlTime;
  entries: SmlReading[];
}

/** value * 10^scaler, dividing for negative scalers so decimal results round correctly. */
export function scaleValue(value: bigint | number, scaler: number): number {
  const n = Number(value);
  if (scaler === 0) return n;
  return scaler > 0 ? n * 10 ** scaler : n / 10 ** -scaler;
}

/** Collects the entries of all GetList responses. Accepts a decoded file or frame bytes. */
export function readingsFromSml(file: SmlFile | SmlMessage[] | Uint8Array): SmlReadings {
  const messages =
    file instanceof Uint8Array
      ? decodeSmlFile(file).messages
      : Array.isArray(file)
        ? file
        : file.messages;
  const out: SmlReadings = { serverId: undefined, entries: [] };
  for (const m of messages) {
    const body = m.body;
    if (body.kind !== "GetListResponse") continue;
    if (out.serverId === undefined) {
      out.serverId = toHex(body.serverId);
      if (body.actSensorTime !== undefined) out.actSensorTime = body.actSensorTime;
    }
    for (const e of body.valList) {
      const scaler = e.scaler ?? 0;
      const raw = e.value;
      const reading: SmlReading = {
        obis: formatObjName(e.objName),
        objName: e.objName,
        value:
          raw.type === "int" || raw.type === "uint" ? scaleValue(raw.value, scaler) : undefined,
        raw,
        scaler,
      };
      const name = obisName(e.objName);
      if (name !== undefined) reading.name = name;
      if (e.unit !== undefined) {
        reading.unit = e.unit;
        const symbol = unitSymbol(e.unit);
        if (symbol !== undefined) reading.unitSymbol = symbol;
      }
      if (e.status !== undefined) {
        reading.status = e.status;
        reading.statusInfo = decodeStatusWord(e.status);
      }
      if (e.valTime !== undefined) reading.valTime = e.valTime;
      if (raw.type === "octets") reading.hex = toHex(raw.value);
      out.entries.push(reading);
    }
  }
  return out;
}
