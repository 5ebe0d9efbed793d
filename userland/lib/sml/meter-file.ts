/**
 * Builds the SML files a simulated electricity meter sends: OpenResponse, GetListResponse with
 * the readings, CloseResponse, in one transport frame.
 */

import { SmlError } from "./errors.ts";
import { encodeSmlFile } from "./file.ts";
import { fromHex, toObisBytes } from "./obis.ts";
import type { SmlListEntry, SmlMessage, SmlTime, SmlValue } from "./types.ts";
import { integerSize, unsignedSize } from "./writer.ts";

export interface MeterEntryInput {
  /** OBIS text ("1-0:1.8.0*255") or 6 bytes. */
  obis: string | Uint8Array;
  /** DLMS unit code (e.g. 30 = Wh). */
  unit?: number;
  scaler?: number;
  /**
   * The value as sent: an integer (the reading is value * 10^scaler), text or bytes (octet
   * string), boolean, or an SmlValue for full control of type and size.
   */
  value: number | bigint | boolean | string | Uint8Array | SmlValue;
  /** Raw status word. */
  status?: number | bigint;
  valTime?: SmlTime;
  /** Send an integer value as signed even if not negative (meters do so for power). */
  signed?: boolean;
}

export interface MeterReadingFileInput {
  /** Server ID as hex text or bytes (e.g. 10 bytes 0A 01 ...). */
  serverId: string | Uint8Array;
  /**
   * Number: message i gets the 4-byte big-endian transaction ID n + i. Bytes: message i gets
   * these bytes followed by the byte i.
   */
  transactionId: number | Uint8Array;
  entries: MeterEntryInput[];
  /** actSensorTime: a Date gives a UTC timestamp, a number a seconds index. */
  time?: SmlTime | Date | number;
  /** listName of the GetList response, OBIS text or bytes. */
  listName?: string | Uint8Array;
}

function entryValue(e: MeterEntryInput): SmlValue {
  const v = e.value;
  if (v instanceof Uint8Array) return { type: "octets", value: v };
  if (typeof v === "string") return { type: "octets", value: new TextEncoder().encode(v) };
  if (typeof v === "boolean") return { type: "bool", value: v };
  if (typeof v === "number" || typeof v === "bigint") {
    if (typeof v === "number" && !Number.isSafeInteger(v)) {
      throw new SmlError("value", -1, `value ${v} is not an integer: scale it with the scaler`);
    }
    const big = BigInt(v);
    if (big < 0n || e.signed) return { type: "int", value: big, size: integerSize(big) };
    return { type: "uint", value: big, size: unsignedSize(big) };
  }
  return v;
}

function toTime(t: SmlTime | Date | number): SmlTime {
  if (t instanceof Date) return { kind: "timestamp", timestamp: Math.floor(t.getTime() / 1000) };
  if (typeof t === "number") return { kind: "secIndex", secIndex: t };
  return t;
}

function transactionIds(id: number | Uint8Array, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (typeof id === "number") {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, (id + i) >>> 0);
      out.push(b);
    } else {
      const b = new Uint8Array(id.length + 1);
      b.set(id);
      b[id.length] = i;
      out.push(b);
    }
  }
  return out;
}

/** The three messages of a meter reading file. */
export function meterReadingMessages(input: MeterReadingFileInput): SmlMessage[] {
  const serverId = typeof input.serverId === "string" ? fromHex(input.serverId) : input.serverId;
  const [t0, t1, t2] = transactionIds(input.transactionId, 3) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  const valList: SmlListEntry[] = input.entries.map((e) => ({
    objName: toObisBytes(e.obis),
    status: e.status === undefined ? undefined : BigInt(e.status),
    valTime: e.valTime,
    unit: e.unit,
    scaler: e.scaler,
    value: entryValue(e),
  }));
  const common = { groupNo: 0, abortOnError: 0 };
  return [
    { ...common, transactionId: t0, body: { kind: "OpenResponse", reqFileId: t0, serverId } },
    {
      ...common,
      transactionId: t1,
      body: {
        kind: "GetListResponse",
        serverId,
        listName: input.listName === undefined ? undefined : toObisBytes(input.listName),
        actSensorTime: input.time === undefined ? undefined : toTime(input.time),
        valList,
      },
    },
    { ...common, transactionId: t2, body: { kind: "CloseResponse" } },
  ];
}

/** A complete transport frame with OpenResponse, GetListResponse and CloseResponse. */
export function buildMeterReadingFile(input: MeterReadingFileInput): Uint8Array {
  return encodeSmlFile(meterReadingMessages(input));
}
