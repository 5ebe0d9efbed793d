/** Readers for the SML structures shared by several message bodies. */

import type { SmlReader } from "./reader.ts";
import { TL_BOOLEAN, TL_INTEGER, TL_LIST, TL_OCTETS, TL_UNSIGNED } from "./tl.ts";
import type {
  SmlListEntry,
  SmlPeriodEntry,
  SmlProcParValue,
  SmlTime,
  SmlTree,
  SmlTupelEntry,
  SmlValue,
} from "./types.ts";

/** SML_Time choice tags. */
export const TIME_SEC_INDEX = 0x01;
export const TIME_TIMESTAMP = 0x02;
export const TIME_LOCAL_TIMESTAMP = 0x03;

/** SML_ListType choice tag for smlTime. */
export const LIST_TYPE_TIME = 0x01;

/** SML_ProcParValue choice tags. */
export const PROC_PAR_VALUE = 0x01;
export const PROC_PAR_PERIOD_ENTRY = 0x02;
export const PROC_PAR_TUPEL_ENTRY = 0x03;
export const PROC_PAR_TIME = 0x04;
export const PROC_PAR_LIST_ENTRY = 0x05;

function peekType(r: SmlReader): number {
  return r.pos < r.end ? ((r.bytes[r.pos] as number) >>> 4) & 0x7 : -1;
}

export function readTime(r: SmlReader, what: string): SmlTime {
  const t = peekType(r);
  if (t === TL_UNSIGNED) {
    // Some meters send a bare Unsigned32 instead of the choice; it is a seconds index.
    return { kind: "secIndex", secIndex: r.readUnsigned(what, 32) };
  }
  r.enterList(what, 2);
  const tagAt = r.pos;
  const tag = r.readUnsigned("SML_Time choice", 8);
  let time: SmlTime;
  if (tag === TIME_SEC_INDEX) {
    time = { kind: "secIndex", secIndex: r.readUnsigned("secIndex", 32) };
  } else if (tag === TIME_TIMESTAMP) {
    time = { kind: "timestamp", timestamp: r.readUnsigned("timestamp", 32) };
  } else if (tag === TIME_LOCAL_TIMESTAMP) {
    r.enterList("SML_TimestampLocal", 3);
    const timestamp = r.readUnsigned("timestamp", 32);
    const localOffset = r.readInteger("localOffset", 16);
    const seasonTimeOffset = r.readInteger("seasonTimeOffset", 16);
    r.leaveList();
    time = { kind: "localTimestamp", timestamp, localOffset, seasonTimeOffset };
  } else {
    r.fail("value", `unknown SML_Time choice ${tag}`, tagAt);
  }
  r.leaveList();
  return time;
}

export function readOptionalTime(r: SmlReader, what: string): SmlTime | undefined {
  return r.skipNone() ? undefined : readTime(r, what);
}

export function readValue(r: SmlReader, what: string): SmlValue {
  const t = peekType(r);
  if (t === TL_LIST) {
    r.enterList("SML_ListType", 2);
    const tag = r.readUnsigned("SML_ListType choice", 8);
    let v: SmlValue;
    if (tag === LIST_TYPE_TIME) v = { type: "time", value: readTime(r, "smlTime") };
    else v = { type: "listType", tag, value: r.readNode("SML_ListType value") };
    r.leaveList();
    return v;
  }
  if (t === TL_OCTETS) return { type: "octets", value: r.readOctets(what) };
  if (t === TL_BOOLEAN) return { type: "bool", value: r.readBoolean(what) };
  if (t === TL_INTEGER || t === TL_UNSIGNED) return r.readAnyNumber(what);
  // Unknown types and truncation get their error from the TL reader.
  r.readTL(what);
  return r.fail("type", `${what} has an unknown type`);
}

export function readListEntry(r: SmlReader): SmlListEntry {
  r.enterList("SML_ListEntry", 7);
  const objName = r.readOctets("objName");
  const status = r.readOptionalBigUnsigned("status");
  const valTime = readOptionalTime(r, "valTime");
  const unit = r.readOptionalUnsigned("unit", 8);
  const scaler = r.readOptionalInteger("scaler", 8);
  const value = readValue(r, "value");
  const valueSignature = r.readOptionalOctets("valueSignature");
  r.leaveList();
  return { objName, status, valTime, unit, scaler, value, valueSignature };
}

export function readList<T>(r: SmlReader, what: string, item: (r: SmlReader) => T): T[] {
  const n = r.enterList(what);
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(item(r));
  r.leaveList();
  return out;
}

export function readOptionalList<T>(
  r: SmlReader,
  what: string,
  item: (r: SmlReader) => T,
): T[] | undefined {
  return r.skipNone() ? undefined : readList(r, what, item);
}

export function readTreePath(r: SmlReader): Uint8Array[] {
  return readList(r, "SML_TreePath", (x) => x.readOctets("path entry"));
}

export function readPeriodEntry(r: SmlReader): SmlPeriodEntry {
  r.enterList("SML_PeriodEntry", 5);
  const objName = r.readOctets("objName");
  const unit = r.readUnsigned("unit", 8);
  const scaler = r.readInteger("scaler", 8);
  const value = readValue(r, "value");
  const valueSignature = r.readOptionalOctets("valueSignature");
  r.leaveList();
  return { objName, unit, scaler, value, valueSignature };
}

function readInteger64(r: SmlReader, what: string): bigint {
  return r.readAnyNumber(what).value;
}

export function readTupelEntry(r: SmlReader): SmlTupelEntry {
  r.enterList("SML_TupelEntry", 23);
  const e: SmlTupelEntry = {
    serverId: r.readOctets("serverId"),
    secIndex: readTime(r, "secIndex"),
    status: r.readBigUnsigned("status"),
    unitPA: r.readUnsigned("unit_pA", 8),
    scalerPA: r.readInteger("scaler_pA", 8),
    valuePA: readInteger64(r, "value_pA"),
    unitR1: r.readUnsigned("unit_R1", 8),
    scalerR1: r.readInteger("scaler_R1", 8),
    valueR1: readInteger64(r, "value_R1"),
    unitR4: r.readUnsigned("unit_R4", 8),
    scalerR4: r.readInteger("scaler_R4", 8),
    valueR4: readInteger64(r, "value_R4"),
    signaturePAR1R4: r.readOctets("signature_pA_R1_R4"),
    unitMA: r.readUnsigned("unit_mA", 8),
    scalerMA: r.readInteger("scaler_mA", 8),
    valueMA: readInteger64(r, "value_mA"),
    unitR2: r.readUnsigned("unit_R2", 8),
    scalerR2: r.readInteger("scaler_R2", 8),
    valueR2: readInteger64(r, "value_R2"),
    unitR3: r.readUnsigned("unit_R3", 8),
    scalerR3: r.readInteger("scaler_R3", 8),
    valueR3: readInteger64(r, "value_R3"),
    signatureMAR2R3: r.readOctets("signature_mA_R2_R3"),
  };
  r.leaveList();
  return e;
}

export function readProcParValue(r: SmlReader): SmlProcParValue {
  r.enterList("SML_ProcParValue", 2);
  const tagAt = r.pos;
  const tag = r.readUnsigned("SML_ProcParValue choice", 8);
  let v: SmlProcParValue;
  switch (tag) {
    case PROC_PAR_VALUE:
      v = { kind: "value", value: readValue(r, "smlValue") };
      break;
    case PROC_PAR_PERIOD_ENTRY:
      v = { kind: "periodEntry", periodEntry: readPeriodEntry(r) };
      break;
    case PROC_PAR_TUPEL_ENTRY:
      v = { kind: "tupelEntry", tupelEntry: readTupelEntry(r) };
      break;
    case PROC_PAR_TIME:
      v = { kind: "time", time: readTime(r, "smlTime") };
      break;
    case PROC_PAR_LIST_ENTRY:
      v = { kind: "listEntry", listEntry: readListEntry(r) };
      break;
    default:
      return r.fail("value", `unknown SML_ProcParValue choice ${tag}`, tagAt);
  }
  r.leaveList();
  return v;
}

export function readTree(r: SmlReader): SmlTree {
  r.enterList("SML_Tree", 3);
  const parameterName = r.readOctets("parameterName");
  const parameterValue = r.skipNone() ? undefined : readProcParValue(r);
  const childList = readOptionalList(r, "child_List", readTree);
  r.leaveList();
  return { parameterName, parameterValue, childList };
}

export function readOptionalTree(r: SmlReader): SmlTree | undefined {
  return r.skipNone() ? undefined : readTree(r);
}
