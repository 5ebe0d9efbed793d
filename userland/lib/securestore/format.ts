// The on-disk format of a secure store: the SQLite schema, and the exact bytes that are hashed
// into the chain, MACed into the anchor and bound to each record as additional authenticated
// data. Shared by the store and by the verifier.
import { Database } from "bun:sqlite";
import { ByteWriter, deriveKey, hmacSha256, sha256 } from "./codec.ts";

export const FORMAT = "1";
export const DEFAULT_SEGMENT_SIZE = 1024;

export const SCHEMA = `
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE data_keys (
  id INTEGER PRIMARY KEY,
  purpose TEXT NOT NULL,
  state TEXT NOT NULL,
  wrapped BLOB NOT NULL,
  created INTEGER NOT NULL
) STRICT;
CREATE TABLE records (
  seq INTEGER PRIMARY KEY,
  stream TEXT NOT NULL,
  series BLOB,
  ts INTEGER,
  key_id INTEGER,
  body BLOB,
  deleted_by INTEGER
) STRICT;
CREATE INDEX records_by_series ON records (stream, series, ts);
CREATE TABLE segments (
  idx INTEGER PRIMARY KEY,
  count INTEGER NOT NULL,
  hash BLOB NOT NULL,
  pruned INTEGER NOT NULL
) STRICT;
CREATE TABLE anchor (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  counter TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  head BLOB NOT NULL,
  mac BLOB NOT NULL
) STRICT;
`;

let expected: string | undefined;
/** The schema as SQLite lists it, for comparison with a file's (triggers or views added to a
 * file, or altered definitions, make it "not a store"). */
export function expectedSchema(): string {
  if (expected === undefined) {
    const db = new Database(":memory:");
    db.exec(SCHEMA);
    expected = schemaOf(db);
    db.close();
  }
  return expected;
}

export function schemaOf(db: Database): string {
  const rows = db
    .query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    .values();
  return JSON.stringify(rows);
}

export interface StoreIdentity {
  domain: string;
  store: string;
}

export function counterName(id: StoreIdentity): string {
  return `${id.domain}/${id.store}`;
}

/** A record row as stored; tombstones have null series, ts, key_id and body. */
export interface RecordRow {
  seq: number;
  stream: string;
  series: Uint8Array | null;
  ts: number | null;
  keyId: number | null;
  body: Uint8Array | null;
  deletedBy: number | null;
}

export const RECORD_COLUMNS = "seq, stream, series, ts, key_id, body, deleted_by";

export type RecordValues = [
  number,
  string,
  Uint8Array | null,
  number | null,
  number | null,
  Uint8Array | null,
  number | null,
];

export function rowFromValues(v: RecordValues): RecordRow {
  return {
    seq: v[0],
    stream: v[1],
    series: v[2],
    ts: v[3],
    keyId: v[4],
    body: v[5],
    deletedBy: v[6],
  };
}

const EMPTY = new Uint8Array(0);

/** What a record contributes to the chain: everything stored about it except its seq (hashed
 * beside it). A tombstone contributes its stream and the retention event that deleted it.
 * Written into one buffer (this runs for every record on a full verification). */
export function recordBytes(r: RecordRow): Buffer {
  const stream = Buffer.from(r.stream, "utf8");
  if (r.deletedBy !== null) {
    const b = Buffer.allocUnsafe(1 + 4 + stream.length + 8);
    b[0] = 2;
    b.writeUInt32BE(stream.length, 1);
    stream.copy(b, 5);
    b.writeBigUInt64BE(BigInt(r.deletedBy), 5 + stream.length);
    return b;
  }
  const series = r.series ?? EMPTY;
  const body = r.body ?? EMPTY;
  const b = Buffer.allocUnsafe(1 + 4 + stream.length + 4 + series.length + 8 + 4 + 4 + body.length);
  let o = 0;
  b[o++] = 1;
  o = b.writeUInt32BE(stream.length, o);
  o += stream.copy(b, o);
  o = b.writeUInt32BE(series.length, o);
  b.set(series, o);
  o += series.length;
  o = b.writeBigInt64BE(BigInt(r.ts ?? 0), o);
  o = b.writeUInt32BE(r.keyId ?? 0, o);
  o = b.writeUInt32BE(body.length, o);
  b.set(body, o);
  return b;
}

const seqBuf = Buffer.alloc(8);
/** One link of the chain: H(previous ‖ seq ‖ record bytes). */
export function chainStep(prev: Uint8Array, seq: number, bytes: Uint8Array): Buffer {
  seqBuf.writeBigUInt64BE(BigInt(seq));
  return sha256(prev, seqBuf, bytes);
}

/** The chain of each segment starts from a value naming the store and the segment. */
export function segmentGenesis(id: StoreIdentity, idx: number): Buffer {
  return sha256(
    new ByteWriter()
      .text("smgw-securestore segment")
      .text(id.domain)
      .text(id.store)
      .u64(idx)
      .done(),
  );
}

export interface Segment {
  count: number;
  hash: Buffer;
  pruned: boolean;
}

export function topStart(id: StoreIdentity): Buffer {
  return sha256(
    new ByteWriter().text("smgw-securestore top").text(id.domain).text(id.store).done(),
  );
}

/** The checkpoints are chained in turn; the last value is the head the anchor covers. */
export function topStep(prev: Uint8Array, idx: number, s: Segment): Buffer {
  return sha256(
    new ByteWriter()
      .raw(prev)
      .u64(idx)
      .u32(s.count)
      .u8(s.pruned ? 1 : 0)
      .raw(s.hash)
      .done(),
  );
}

/** tops[i] is the head after segment i; recomputed from `from` on. */
export function computeTops(id: StoreIdentity, segs: readonly Segment[], tops: Buffer[], from = 0) {
  tops.length = Math.min(tops.length, from);
  let prev = from === 0 ? topStart(id) : (tops[from - 1] as Buffer);
  for (let i = from; i < segs.length; i++) {
    prev = topStep(prev, i, segs[i] as Segment);
    tops.push(prev);
  }
}

export function headOf(id: StoreIdentity, tops: readonly Buffer[]): Buffer {
  return tops.length === 0 ? topStart(id) : (tops[tops.length - 1] as Buffer);
}

const aadPrefixes = new Map<string, Buffer>();

/** Additional authenticated data of a record: its identity and the columns stored in clear.
 * The constant part (store and stream) is built once; this runs for every record. */
export function recordAad(
  id: StoreIdentity,
  stream: string,
  seq: number,
  series: Uint8Array,
  ts: number,
): Buffer {
  const key = `${id.domain}\u0000${id.store}\u0000${stream}`;
  let prefix = aadPrefixes.get(key);
  if (!prefix) {
    prefix = new ByteWriter()
      .text("smgw-securestore record")
      .text(id.domain)
      .text(id.store)
      .text(stream)
      .done();
    if (aadPrefixes.size > 1000) aadPrefixes.clear();
    aadPrefixes.set(key, prefix);
  }
  const b = Buffer.allocUnsafe(prefix.length + 8 + 4 + series.length + 8);
  prefix.copy(b, 0);
  let o = prefix.length;
  o = b.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), o);
  o = b.writeUInt32BE(seq >>> 0, o);
  o = b.writeUInt32BE(series.length, o);
  b.set(series, o);
  b.writeBigInt64BE(BigInt(ts), o + series.length);
  return b;
}

export interface KeyRow {
  id: number;
  purpose: string;
  state: string;
  wrapped: Uint8Array;
  created: number;
}

export function keysDigest(rows: readonly KeyRow[]): Buffer {
  const w = new ByteWriter();
  for (const k of [...rows].sort((a, b) => a.id - b.id)) {
    w.u32(k.id).text(k.purpose).text(k.state).bytes(k.wrapped).i64(k.created);
  }
  return sha256(w.done());
}

export function anchorMacKey(dataKey: Uint8Array, id: StoreIdentity): Buffer {
  return deriveKey(dataKey, "smgw-securestore", `anchor:${id.domain}/${id.store}`);
}

export interface AnchorFields {
  counter: bigint;
  lastSeq: number;
  head: Uint8Array;
  segmentSize: number;
  keysDigest: Uint8Array;
}

export function anchorMac(macKey: Uint8Array, id: StoreIdentity, a: AnchorFields): Buffer {
  const data = new ByteWriter()
    .text("smgw-securestore anchor")
    .text(FORMAT)
    .text(id.domain)
    .text(id.store)
    .u32(a.segmentSize)
    .u64(a.counter)
    .u64(a.lastSeq)
    .bytes(a.head)
    .bytes(a.keysDigest)
    .done();
  return hmacSha256(macKey, data);
}

/** Blind index of a series name: equal names give equal tokens, the token reveals nothing else. */
export function seriesToken(indexKey: Uint8Array, stream: string, series: string): Buffer {
  if (series === "") return Buffer.alloc(0);
  return hmacSha256(indexKey, new ByteWriter().text(stream).text(series).done()).subarray(0, 16);
}
