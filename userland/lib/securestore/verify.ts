// Verification of a secure store: the schema, the store's identity, the data keys, the anchor
// (HMAC and the key service's counter), the checkpoints chaining up to the anchored head, and
// the records of every segment (full) or of the last and a sample of sealed segments
// (checkpoints). Shared by the store (on open and in verify()) and by verifyLog for anyone.
import type { Database } from "bun:sqlite";
import { equalBytes, hex, macEqual, open } from "./codec.ts";
import type { Problem } from "./errors.ts";
import {
  anchorMac,
  anchorMacKey,
  chainStep,
  computeTops,
  counterName,
  expectedSchema,
  FORMAT,
  headOf,
  type KeyRow,
  keysDigest,
  RECORD_COLUMNS,
  type RecordValues,
  recordAad,
  recordBytes,
  rowFromValues,
  type Segment,
  type StoreIdentity,
  schemaOf,
  segmentGenesis,
} from "./format.ts";
import type { KeyService } from "./keys.ts";

export type VerifyMode = "full" | "checkpoints";

export interface VerifyReport {
  file: string;
  domain?: string;
  store?: string;
  /** No problems found. */
  ok: boolean;
  mode: VerifyMode;
  /** Whether the anchor's HMAC and the counter were checked (needs the key service). */
  authenticated: boolean;
  lastSeq: number;
  /** Records and tombstones in the segments that were checked. */
  recordsChecked: number;
  tombstonesChecked: number;
  segments: { total: number; checked: number; pruned: number };
  counter?: {
    stored: string;
    keyService?: string;
    /** The store is one commit ahead: a commit whose counter increment was interrupted. */
    interruptedCommit: boolean;
  };
  /** A key rotation is in progress: records are still under the retiring key. */
  rotation?: { retiringKey: number; activeKey: number };
  problems: Problem[];
  ms: number;
}

export interface VerifyOptions {
  /** Unwraps the data keys and reads the counter; without it only the structure is checked. */
  keys?: KeyService;
  /** The identity the caller expects; another is a "wrong-store" problem. */
  expect?: StoreIdentity;
  mode?: VerifyMode;
  /** Sealed segments checked in "checkpoints" mode besides the last one. */
  sampleSegments?: number;
  /** Run SQLite's integrity_check (indexes against tables); default in "full" mode. */
  sqliteCheck?: boolean;
}

/** The state a verified store is loaded with. */
export interface LoadedStore {
  id: StoreIdentity;
  segmentSize: number;
  lastSeq: number;
  counter: bigint;
  segs: Segment[];
  tops: Buffer[];
  keyRows: KeyRow[];
  dataKeys: Map<number, Uint8Array>;
  activeKey: number;
  retiringKey: number | undefined;
  indexKey: Uint8Array;
  macKey: Uint8Array;
  interruptedCommit: boolean;
}

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

class Stop extends Error {}

export async function verifyDatabase(
  db: Database | undefined,
  file: string,
  options: VerifyOptions = {},
  opened?: Problem,
): Promise<{ report: VerifyReport; loaded?: LoadedStore }> {
  const started = performance.now();
  const mode = options.mode ?? "full";
  const problems: Problem[] = [];
  const report: VerifyReport = {
    file,
    ok: false,
    mode,
    authenticated: false,
    lastSeq: 0,
    recordsChecked: 0,
    tombstonesChecked: 0,
    segments: { total: 0, checked: 0, pruned: 0 },
    problems,
    ms: 0,
  };
  const stop = (p: Problem): never => {
    problems.push(p);
    throw new Stop();
  };
  let loaded: LoadedStore | undefined;
  try {
    if (opened) stop(opened);
    if (!db) stop({ code: "unreadable", message: "the file cannot be opened" });
    loaded = await check(db as Database, options, report, problems, stop);
  } catch (e) {
    if (!(e instanceof Stop)) {
      problems.push({
        code: "unreadable",
        message: `SQLite cannot read the file: ${errorText(e)}`,
      });
    }
  }
  report.ok = problems.length === 0;
  report.ms = Math.round((performance.now() - started) * 10) / 10;
  return report.ok && loaded ? { report, loaded } : { report };
}

async function check(
  db: Database,
  options: VerifyOptions,
  report: VerifyReport,
  problems: Problem[],
  stop: (p: Problem) => never,
): Promise<LoadedStore | undefined> {
  if (schemaOf(db) !== expectedSchema()) {
    stop({
      code: "not-a-store",
      message: "the schema is not a secure store's (altered or foreign)",
    });
  }

  // Identity.
  const meta = new Map(
    (db.query("SELECT name, value FROM meta").values() as [string, string][]).map(([k, v]) => [
      k,
      v,
    ]),
  );
  const domain = meta.get("domain");
  const storeName = meta.get("store");
  const segmentSize = Number(meta.get("segment_size"));
  if (
    meta.get("format") !== FORMAT ||
    domain === undefined ||
    storeName === undefined ||
    !Number.isInteger(segmentSize) ||
    segmentSize < 1 ||
    segmentSize > 65536 ||
    meta.size !== 4
  ) {
    stop({ code: "not-a-store", message: "the store's identity (meta) is missing or malformed" });
  }
  report.domain = domain;
  report.store = storeName;
  const expect = options.expect;
  if (expect && (expect.domain !== domain || expect.store !== storeName)) {
    stop({
      code: "wrong-store",
      message: `the file is store ${domain}/${storeName}, not ${expect.domain}/${expect.store}`,
    });
  }
  const id: StoreIdentity = { domain: domain as string, store: storeName as string };

  // Keys: exactly one active data key, at most one retiring, one index key.
  const keyRows = (
    db.query("SELECT id, purpose, state, wrapped, created FROM data_keys ORDER BY id").values() as [
      number,
      string,
      string,
      Uint8Array,
      number,
    ][]
  ).map(([kid, purpose, state, wrapped, created]) => ({
    id: kid,
    purpose,
    state,
    wrapped,
    created,
  }));
  const active = keyRows.filter((k) => k.purpose === "data" && k.state === "active");
  const retiring = keyRows.filter((k) => k.purpose === "data" && k.state === "retiring");
  const index = keyRows.filter((k) => k.purpose === "index" && k.state === "active");
  if (
    active.length !== 1 ||
    retiring.length > 1 ||
    index.length !== 1 ||
    active.length + retiring.length + index.length !== keyRows.length
  ) {
    stop({ code: "anchor", message: "the data key records are not a valid set (altered)" });
  }
  const activeKey = (active[0] as KeyRow).id;
  const retiringKey = retiring[0]?.id;
  if (retiringKey !== undefined) report.rotation = { retiringKey, activeKey };

  // Anchor.
  const anchorRow = db
    .query("SELECT counter, last_seq, head, mac FROM anchor WHERE id = 1")
    .values()[0] as [string, number, Uint8Array, Uint8Array] | undefined;
  if (
    !anchorRow ||
    !/^\d{1,20}$/.test(anchorRow[0]) ||
    !Number.isSafeInteger(anchorRow[1]) ||
    anchorRow[1] < 0 ||
    anchorRow[2].length !== 32 ||
    anchorRow[3].length !== 32
  ) {
    stop({ code: "not-a-store", message: "the anchor is missing or malformed" });
  }
  const [counterText, lastSeq, head, mac] = anchorRow as [string, number, Uint8Array, Uint8Array];
  const counter = BigInt(counterText);
  report.lastSeq = lastSeq;
  report.counter = { stored: counterText, interruptedCommit: false };

  // Authentication first (the anchor's HMAC covers the head): the data keys and the HMAC.
  let dataKeys: Map<number, Uint8Array> | undefined;
  let indexKey: Uint8Array | undefined;
  let macKey: Uint8Array | undefined;
  let interruptedCommit = false;
  if (options.keys) {
    dataKeys = new Map();
    for (const k of keyRows) {
      let key: Uint8Array;
      try {
        key = await options.keys.unwrap(id.domain, k.wrapped);
      } catch (e) {
        stop({
          code: "key-unwrap",
          message: `data key ${k.id} does not unwrap for domain ${id.domain} (wrong domain or key service, or the key record was altered): ${errorText(e)}`,
        });
      }
      if (k.purpose === "index") indexKey = key;
      else dataKeys.set(k.id, key);
    }
    macKey = anchorMacKey(dataKeys.get(activeKey) as Uint8Array, id);
    const want = anchorMac(macKey, id, {
      counter,
      lastSeq,
      head,
      segmentSize,
      keysDigest: keysDigest(keyRows),
    });
    if (!macEqual(want, mac)) {
      stop({
        code: "anchor",
        message: "the anchor's HMAC does not verify (anchor, keys or identity altered)",
      });
    }
  }

  // Checkpoints: dense, sealed segments full, the last one holding the rest.
  const segRows = db
    .query("SELECT idx, count, hash, pruned FROM segments ORDER BY idx")
    .values() as [number, number, Uint8Array, number][];
  const expectedSegments = Math.ceil(lastSeq / segmentSize);
  const segs: Segment[] = [];
  for (let i = 0; i < segRows.length; i++) {
    const [idx, count, hash, pruned] = segRows[i] as [number, number, Uint8Array, number];
    const full = i < expectedSegments - 1;
    const want = full ? segmentSize : lastSeq - (expectedSegments - 1) * segmentSize;
    if (idx !== i || count !== want || hash.length !== 32 || (pruned !== 0 && pruned !== 1)) {
      stop({
        code: "head",
        message: `checkpoint ${i} is missing or malformed (altered, or records deleted)`,
      });
    }
    if (pruned === 1 && !full) {
      stop({ code: "head", message: `checkpoint ${i} is marked pruned but not sealed` });
    }
    segs.push({ count, hash: Buffer.from(hash), pruned: pruned === 1 });
  }
  if (segs.length !== expectedSegments) {
    stop({
      code: "head",
      message: `there are ${segs.length} checkpoints, the anchor's last seq ${lastSeq} needs ${expectedSegments}`,
    });
  }
  report.segments.total = segs.length;
  report.segments.pruned = segs.filter((s) => s.pruned).length;
  const tops: Buffer[] = [];
  computeTops(id, segs, tops);
  if (!equalBytes(headOf(id, tops), head)) {
    stop({
      code: "head",
      message:
        "the checkpoints do not chain up to the anchored head (checkpoints or anchor altered)",
    });
  }

  // The counter: the store must be exactly where the key service says.
  if (options.keys) {
    const current = await options.keys.counter(counterName(id));
    report.counter.keyService = current.toString();
    if (counter === current + 1n) {
      interruptedCommit = true;
      report.counter.interruptedCommit = true;
    } else if (counter < current) {
      problems.push({
        code: "rolled-back",
        message: `the store's counter ${counter} is behind the key service's ${current}: an older copy of the store was put back`,
      });
    } else if (counter > current + 1n) {
      problems.push({
        code: "counter-behind",
        message: `the key service's counter ${current} is behind the store's ${counter} by more than one commit (counter reset, or the store copied from elsewhere)`,
      });
    }
    report.authenticated = true;
  }

  // Records outside the chain.
  const bounds = db.query("SELECT min(seq), max(seq) FROM records").values()[0] as [
    number | null,
    number | null,
  ];
  if (bounds[1] !== null && bounds[1] > lastSeq) {
    problems.push({
      code: "extra-record",
      message: `record ${bounds[1]} lies beyond the anchored last seq ${lastSeq} (injected or replayed)`,
    });
  }
  if (bounds[0] !== null && bounds[0] < 1) {
    problems.push({ code: "extra-record", message: `record ${bounds[0]} has an impossible seq` });
  }

  // Segments.
  const mode = options.mode ?? "full";
  const toCheck: number[] = [];
  if (mode === "full") {
    for (let i = 0; i < segs.length; i++) toCheck.push(i);
  } else if (segs.length > 0) {
    const sealed = [];
    for (let i = 0; i < segs.length - 1; i++) if (!(segs[i] as Segment).pruned) sealed.push(i);
    for (let n = Math.min(options.sampleSegments ?? 4, sealed.length); n > 0; n--) {
      const pick = Math.floor(Math.random() * sealed.length);
      toCheck.push(sealed[pick] as number);
      sealed.splice(pick, 1);
    }
    toCheck.sort((a, b) => a - b);
    toCheck.push(segs.length - 1);
  }
  const ctx: SegmentContext = { db, id, segmentSize, dataKeys, report };
  for (let n = 0; n < toCheck.length; n++) {
    const idx = toCheck[n] as number;
    problems.push(...checkSegment(ctx, idx, segs[idx] as Segment));
    report.segments.checked++;
    if (problems.length > 20) break;
    if (n % 32 === 31) await yieldNow();
  }

  if (options.sqliteCheck ?? mode === "full") {
    const rows = db.query("PRAGMA integrity_check(10)").values() as [string][];
    if (rows.length !== 1 || rows[0]?.[0] !== "ok") {
      problems.push({
        code: "sqlite-check",
        message: `SQLite's integrity check failed: ${rows.map((r) => r[0]).join("; ")}`,
      });
    }
  }

  if (problems.length > 0 || !dataKeys || !indexKey || !macKey) return undefined;
  return {
    id,
    segmentSize,
    lastSeq,
    counter,
    segs,
    tops,
    keyRows,
    dataKeys,
    activeKey,
    retiringKey,
    indexKey,
    macKey,
    interruptedCommit,
  };
}

interface SegmentContext {
  db: Database;
  id: StoreIdentity;
  segmentSize: number;
  dataKeys: Map<number, Uint8Array> | undefined;
  report?: VerifyReport;
}

/** Check one segment's records against its checkpoint; [] when they match. */
export function checkSegment(ctx: SegmentContext, idx: number, seg: Segment): Problem[] {
  const lo = idx * ctx.segmentSize + 1;
  const hi = idx * ctx.segmentSize + seg.count;
  const rows = ctx.db
    .query(`SELECT ${RECORD_COLUMNS} FROM records WHERE seq BETWEEN ? AND ? ORDER BY seq`)
    .values(lo, hi) as RecordValues[];
  const where = `segment ${idx} (records ${lo}–${hi})`;
  if (seg.pruned) {
    return rows.length === 0
      ? []
      : [{ code: "extra-record", message: `${where} was pruned but holds ${rows.length} records` }];
  }
  if (rows.length !== seg.count) {
    const present = new Set(rows.map((r) => r[0]));
    const missing: number[] = [];
    for (let s = lo; s <= hi && missing.length < 5; s++) if (!present.has(s)) missing.push(s);
    return [
      {
        code: "missing-record",
        message: `${where}: record${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing (deleted)`,
      },
    ];
  }
  const problems: Problem[] = [];
  let h: Buffer = segmentGenesis(ctx.id, idx);
  for (const v of rows) {
    const r = rowFromValues(v);
    const live = r.deletedBy === null;
    if (
      live
        ? r.series === null || r.ts === null || r.keyId === null || r.body === null
        : r.series !== null || r.ts !== null || r.keyId !== null || r.body !== null
    ) {
      problems.push({ code: "record", message: `record ${r.seq} has malformed columns (altered)` });
    } else if (live && ctx.dataKeys && !ctx.dataKeys.has(r.keyId as number)) {
      problems.push({ code: "record", message: `record ${r.seq} names an unknown key ${r.keyId}` });
    }
    if (ctx.report) {
      if (live) ctx.report.recordsChecked++;
      else ctx.report.tombstonesChecked++;
    }
    h = chainStep(h, r.seq, recordBytes(r));
  }
  if (!equalBytes(h, seg.hash)) problems.push(diagnose(ctx, where, rows));
  return problems;
}

/** Name the record that breaks a segment when it can be found; otherwise the segment. */
function diagnose(ctx: SegmentContext, where: string, rows: RecordValues[]): Problem {
  const seen = new Map<string, number>();
  for (const v of rows) {
    const body = v[5];
    if (!body) continue;
    const k = hex(body.subarray(0, 12));
    const first = seen.get(k);
    if (first !== undefined) {
      return {
        code: "segment",
        message: `${where}: record ${v[0]} repeats record ${first} (replayed)`,
      };
    }
    seen.set(k, v[0]);
  }
  if (ctx.dataKeys) {
    for (const v of rows) {
      const r = rowFromValues(v);
      if (r.deletedBy !== null || !r.body || r.series === null || r.ts === null) continue;
      const key = ctx.dataKeys.get(r.keyId ?? -1);
      if (!key || !open(key, r.body, recordAad(ctx.id, r.stream, r.seq, r.series, r.ts))) {
        return {
          code: "segment",
          message: `${where}: record ${r.seq} does not decrypt (altered or moved from another row)`,
        };
      }
    }
  }
  return {
    code: "segment",
    message: `${where} does not hash to its checkpoint (records altered, reordered or replaced)`,
  };
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
