import { WmbusError } from "./errors.ts";
import type { ByteReader } from "./reader.ts";
import type { FunctionField } from "./types.ts";

/** EN 13757-3 allows at most 10 DIFEs. */
const MAX_DIFES = 10;

const FUNCTIONS: FunctionField[] = ["instantaneous", "maximum", "minimum", "error"];

/** Data field codes: byte length of the data, or "lvar" / "special". */
export const DATA_LENGTHS = new Map<number, number>([
  [0x0, 0],
  [0x1, 1],
  [0x2, 2],
  [0x3, 3],
  [0x4, 4],
  [0x5, 4],
  [0x6, 6],
  [0x7, 8],
  [0x8, 0],
  [0x9, 1],
  [0xa, 2],
  [0xb, 3],
  [0xc, 4],
  [0xe, 6],
]);

export interface Dib {
  dataField: number;
  storage: number;
  tariff: number;
  subunit: number;
  function: FunctionField;
  raw: Uint8Array;
}

/** Data information block: DIF and DIFEs. Special DIFs (x F) are handled by the caller. */
export function parseDib(reader: ByteReader): Dib {
  const start = reader.pos;
  const dif = reader.u8("DIF");
  let storage = (dif >> 6) & 0x01;
  let tariff = 0;
  let subunit = 0;
  let extension = (dif & 0x80) !== 0;
  let count = 0;
  while (extension) {
    if (count >= MAX_DIFES) {
      throw new WmbusError("record", `more than ${MAX_DIFES} DIFEs`, { offset: reader.offset });
    }
    const dife = reader.u8("DIFE");
    // Multiplication keeps the 41-bit storage number exact (bit operators are 32-bit).
    storage += (dife & 0x0f) * 2 ** (1 + 4 * count);
    tariff += ((dife >> 4) & 0x03) * 2 ** (2 * count);
    subunit += ((dife >> 6) & 0x01) * 2 ** count;
    extension = (dife & 0x80) !== 0;
    count++;
  }
  return {
    dataField: dif & 0x0f,
    storage,
    tariff,
    subunit,
    function: FUNCTIONS[(dif >> 4) & 0x03] as FunctionField,
    raw: reader.bytes.subarray(start, reader.pos),
  };
}
