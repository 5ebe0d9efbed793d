import { crc16En13757 } from "./crc.ts";
import { parseDib } from "./dif.ts";
import { WmbusError } from "./errors.ts";
import { ByteReader } from "./reader.ts";
import { readRecordData } from "./records.ts";
import { parseVib } from "./vib.ts";

/** The format signature is the CRC-16/EN-13757 over all DIBs and VIBs of the full frame. */
export function formatSignature(recordHeaders: Uint8Array): number {
  return crc16En13757(recordHeaders);
}

/**
 * Remembers record layouts of full frames so that later compact frames (CI 0x79/0x7B/0x73),
 * which carry only the data and the format signature, can be expanded.
 */
export class FormatCache {
  private readonly formats = new Map<number, Uint8Array>();
  private readonly limit: number;

  constructor(limit = 256) {
    this.limit = limit;
  }

  remember(recordHeaders: Uint8Array): number {
    const signature = formatSignature(recordHeaders);
    this.formats.delete(signature);
    this.formats.set(signature, Uint8Array.from(recordHeaders));
    if (this.formats.size > this.limit) {
      const oldest = this.formats.keys().next().value;
      if (oldest !== undefined) this.formats.delete(oldest);
    }
    return signature;
  }

  lookup(signature: number): Uint8Array | undefined {
    return this.formats.get(signature);
  }

  get size(): number {
    return this.formats.size;
  }
}

/**
 * Rebuilds the full record bytes from the remembered headers and the compact data, and checks
 * them against the full frame CRC carried in the compact frame.
 */
export function expandCompactFrame(
  recordHeaders: Uint8Array,
  data: Uint8Array,
  fullFrameCrc: number,
  base: number,
): Uint8Array {
  const headers = new ByteReader(recordHeaders);
  const values = new ByteReader(data, 0, base);
  const out: number[] = [];
  while (!headers.atEnd()) {
    const start = headers.pos;
    const dib = parseDib(headers);
    parseVib(headers);
    out.push(...recordHeaders.subarray(start, headers.pos));
    const lvarAt = values.pos;
    readRecordData(values, dib.dataField);
    out.push(...data.subarray(lvarAt, values.pos));
  }
  out.push(...values.rest());
  const full = Uint8Array.from(out);
  const computed = crc16En13757(full);
  if (computed !== fullFrameCrc) {
    throw new WmbusError(
      "crc",
      `compact frame: full frame CRC mismatch (computed ${hex4(computed)}, frame has ${hex4(fullFrameCrc)})`,
      { offset: base },
    );
  }
  return full;
}

function hex4(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, "0");
}
