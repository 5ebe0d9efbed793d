/** Writers for the SML structures shared by several message bodies. */

import {
  LIST_TYPE_TIME,
  PROC_PAR_LIST_ENTRY,
  PROC_PAR_PERIOD_ENTRY,
  PROC_PAR_TIME,
  PROC_PAR_TUPEL_ENTRY,
  PROC_PAR_VALUE,
  TIME_LOCAL_TIMESTAMP,
  TIME_SEC_INDEX,
  TIME_TIMESTAMP,
} from "./decode-structures.ts";
import type {
  SmlListEntry,
  SmlPeriodEntry,
  SmlProcParValue,
  SmlTime,
  SmlTree,
  SmlTupelEntry,
  SmlValue,
} from "./types.ts";
import { type SmlWriter, unsignedSize } from "./writer.ts";

export function writeTime(w: SmlWriter, t: SmlTime): void {
  w.list(2);
  switch (t.kind) {
    case "secIndex":
      w.unsigned(TIME_SEC_INDEX, 1);
      w.unsigned(t.secIndex, 4, "secIndex");
      return;
    case "timestamp":
      w.unsigned(TIME_TIMESTAMP, 1);
      w.unsigned(t.timestamp, 4, "timestamp");
      return;
    case "localTimestamp":
      w.unsigned(TIME_LOCAL_TIMESTAMP, 1);
      w.list(3);
      w.unsigned(t.timestamp, 4, "timestamp");
      w.integer(t.localOffset, 2, "localOffset");
      w.integer(t.seasonTimeOffset, 2, "seasonTimeOffset");
      return;
  }
}

export function writeOptionalTime(w: SmlWriter, t: SmlTime | undefined): void {
  if (t === undefined) w.none();
  else writeTime(w, t);
}

export function writeValue(w: SmlWriter, v: SmlValue): void {
  switch (v.type) {
    case "bool":
      w.bool(v.value);
      return;
    case "octets":
      w.octets(v.value);
      return;
    case "int":
      w.integer(v.value, v.size, "value");
      return;
    case "uint":
      w.unsigned(v.value, v.size, "value");
      return;
    case "time":
      w.list(2);
      w.unsigned(LIST_TYPE_TIME, 1);
      writeTime(w, v.value);
      return;
    case "listType":
      w.list(2);
      w.unsigned(v.tag, 1, "SML_ListType choice");
      w.node(v.value);
      return;
  }
}

/** SML_Status and other Unsigned64 fields: the smallest of 1, 2, 4, 8 bytes. */
export function writeBigUnsigned(w: SmlWriter, v: bigint, what: string): void {
  w.unsigned(v, v < 0n ? 8 : unsignedSize(v), what);
}

export function writeListEntry(w: SmlWriter, e: SmlListEntry): void {
  w.list(7);
  w.octets(e.objName);
  if (e.status === undefined) w.none();
  else writeBigUnsigned(w, e.status, "status");
  writeOptionalTime(w, e.valTime);
  w.optionalUnsigned(e.unit, 1, "unit");
  w.optionalInteger(e.scaler, 1, "scaler");
  writeValue(w, e.value);
  w.optionalOctets(e.valueSignature);
}

export function writeList<T>(w: SmlWriter, items: T[], item: (w: SmlWriter, v: T) => void): void {
  w.list(items.length);
  for (const v of items) item(w, v);
}

export function writeOptionalList<T>(
  w: SmlWriter,
  items: T[] | undefined,
  item: (w: SmlWriter, v: T) => void,
): void {
  if (items === undefined) w.none();
  else writeList(w, items, item);
}

export function writeTreePath(w: SmlWriter, path: Uint8Array[]): void {
  writeList(w, path, (x, p) => x.octets(p));
}

export function writePeriodEntry(w: SmlWriter, e: SmlPeriodEntry): void {
  w.list(5);
  w.octets(e.objName);
  w.unsigned(e.unit, 1, "unit");
  w.integer(e.scaler, 1, "scaler");
  writeValue(w, e.value);
  w.optionalOctets(e.valueSignature);
}

export function writeTupelEntry(w: SmlWriter, e: SmlTupelEntry): void {
  w.list(23);
  w.octets(e.serverId);
  writeTime(w, e.secIndex);
  writeBigUnsigned(w, e.status, "status");
  const triple = (unit: number, scaler: number, value: bigint) => {
    w.unsigned(unit, 1, "unit");
    w.integer(scaler, 1, "scaler");
    w.integer(value, 8, "value");
  };
  triple(e.unitPA, e.scalerPA, e.valuePA);
  triple(e.unitR1, e.scalerR1, e.valueR1);
  triple(e.unitR4, e.scalerR4, e.valueR4);
  w.octets(e.signaturePAR1R4);
  triple(e.unitMA, e.scalerMA, e.valueMA);
  triple(e.unitR2, e.scalerR2, e.valueR2);
  triple(e.unitR3, e.scalerR3, e.valueR3);
  w.octets(e.signatureMAR2R3);
}

export function writeProcParValue(w: SmlWriter, v: SmlProcParValue): void {
  w.list(2);
  switch (v.kind) {
    case "value":
      w.unsigned(PROC_PAR_VALUE, 1);
      writeValue(w, v.value);
      return;
    case "periodEntry":
      w.unsigned(PROC_PAR_PERIOD_ENTRY, 1);
      writePeriodEntry(w, v.periodEntry);
      return;
    case "tupelEntry":
      w.unsigned(PROC_PAR_TUPEL_ENTRY, 1);
      writeTupelEntry(w, v.tupelEntry);
      return;
    case "time":
      w.unsigned(PROC_PAR_TIME, 1);
      writeTime(w, v.time);
      return;
    case "listEntry":
      w.unsigned(PROC_PAR_LIST_ENTRY, 1);
      writeListEntry(w, v.listEntry);
      return;
  }
}

export function writeTree(w: SmlWriter, t: SmlTree): void {
  w.list(3);
  w.octets(t.parameterName);
  if (t.parameterValue === undefined) w.none();
  else writeProcParValue(w, t.parameterValue);
  writeOptionalList(w, t.childList, writeTree);
}

export function writeOptionalTree(w: SmlWriter, t: SmlTree | undefined): void {
  if (t === undefined) w.none();
  else writeTree(w, t);
}
