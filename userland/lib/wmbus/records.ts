import { DATA_LENGTHS, parseDib } from "./dif.ts";
import { WmbusError } from "./errors.ts";
import { toHex } from "./hex.ts";
import { interpretData } from "./interpret.ts";
import { ByteReader } from "./reader.ts";
import type { DataRecord } from "./types.ts";
import { parseVib } from "./vib.ts";

const IDLE_FILLER = 0x2f;
const MANUFACTURER_DATA = 0x0f;
const MANUFACTURER_DATA_MORE_FOLLOWS = 0x1f;
const GLOBAL_READOUT = 0x7f;

export interface ApplicationLayer {
  records: DataRecord[];
  /** Bytes after DIF 0x0F / 0x1F, kept opaque. */
  manufacturerData?: Uint8Array;
  moreRecordsFollow?: boolean;
  /** Bytes from a last record that the data ends inside of, kept opaque. */
  truncatedTail?: Uint8Array;
  /** DIB and VIB bytes of all records in order: the input of the compact frame format signature. */
  recordHeaders: Uint8Array;
  warnings: string[];
}

/** Length of the data of one record; LVAR reads its length byte. */
export function readRecordData(
  reader: ByteReader,
  dataField: number,
): { data: Uint8Array; lvar: number | undefined } {
  if (dataField !== 0xd) {
    const length = DATA_LENGTHS.get(dataField) ?? 0;
    return { data: reader.take(length, "record data"), lvar: undefined };
  }
  const lvar = reader.u8("LVAR length");
  return { data: reader.take(lvarLength(lvar, reader.offset - 1), "variable length data"), lvar };
}

/** Data size of a variable length record (EN 13757-3 LVAR codes). */
function lvarLength(lvar: number, offset: number): number {
  if (lvar <= 0xbf) return lvar;
  if (lvar <= 0xc9) return lvar - 0xc0;
  if (lvar >= 0xd0 && lvar <= 0xd9) return lvar - 0xd0;
  if (lvar >= 0xe0 && lvar <= 0xef) return lvar - 0xe0;
  if (lvar >= 0xf0 && lvar <= 0xf4) return 4 * (lvar - 0xec);
  if (lvar === 0xf5) return 48;
  if (lvar === 0xf6) return 64;
  throw new WmbusError("record", `reserved LVAR code 0x${lvar.toString(16).toUpperCase()}`, {
    offset,
  });
}

/** Parses the data records of the application layer. `base` is its offset for messages. */
export function parseRecords(apl: Uint8Array, base = 0): ApplicationLayer {
  const reader = new ByteReader(apl, 0, base);
  const records: DataRecord[] = [];
  const headers: number[] = [];
  const result: ApplicationLayer = { records, recordHeaders: new Uint8Array(0), warnings: [] };
  while (!reader.atEnd()) {
    const dif = reader.peek() as number;
    if (dif === IDLE_FILLER) {
      reader.pos++;
      continue;
    }
    if (dif === MANUFACTURER_DATA || dif === MANUFACTURER_DATA_MORE_FOLLOWS) {
      reader.pos++;
      result.manufacturerData = reader.rest();
      if (dif === MANUFACTURER_DATA_MORE_FOLLOWS) result.moreRecordsFollow = true;
      break;
    }
    if (dif === GLOBAL_READOUT) {
      reader.pos++;
      result.warnings.push(
        `DIF 0x7F (global readout request) skipped at byte ${reader.offset - 1}`,
      );
      continue;
    }
    if ((dif & 0x0f) === 0x0f) {
      throw new WmbusError(
        "record",
        `reserved special function DIF 0x${dif.toString(16).toUpperCase()}`,
        {
          offset: reader.offset,
        },
      );
    }
    const recordStart = reader.pos;
    const headerCount = headers.length;
    try {
      records.push(parseRecord(reader, headers));
    } catch (error) {
      // Real telegrams sometimes end in a few stray bytes (e.g. a leftover block CRC); keep them.
      if (!(error instanceof WmbusError) || error.kind !== "truncated") throw error;
      headers.length = headerCount;
      result.truncatedTail = apl.subarray(recordStart);
      result.warnings.push(
        `${apl.length - recordStart} byte(s) at byte ${base + recordStart} end inside a record: kept as truncatedTail`,
      );
      break;
    }
  }
  result.recordHeaders = Uint8Array.from(headers);
  return result;
}

function parseRecord(reader: ByteReader, headers: number[]): DataRecord {
  const offset = reader.offset;
  const headerStart = reader.pos;
  const dib = parseDib(reader);
  const vib = parseVib(reader);
  headers.push(...reader.bytes.subarray(headerStart, reader.pos));
  const { data, lvar } = readRecordData(reader, dib.dataField);
  const interpreted = interpretData(dib.dataField, data, lvar, vib);
  const annotations = [...vib.annotations, ...interpreted.annotations];
  if (vib.manufacturerVifes)
    annotations.push(`manufacturer specific VIFEs ${vib.manufacturerVifes}`);
  if (lvar !== undefined)
    annotations.push(`LVAR 0x${lvar.toString(16).toUpperCase().padStart(2, "0")}`);
  return {
    storage: dib.storage,
    tariff: dib.tariff,
    subunit: dib.subunit,
    function: dib.function,
    quantity: vib.meaning.quantity,
    unit: vib.meaning.kind === "time-point" ? "" : vib.meaning.unit,
    value: interpreted.value,
    rawVif: toHex(vib.rawVif),
    dif: toHex(dib.raw),
    raw: toHex(data),
    vifTable: vib.table,
    annotations,
    offset,
  };
}
