// Per-domain secure stores: one SQLite file per domain namespace, records encrypted with
// AES-256-GCM under the store's data key (wrapped by the KeyService for the domain), chained
// with SHA-256 in segments whose checkpoints chain up to a head that is anchored with an HMAC
// and the KeyService's monotonic counter. See README.md for the format and the commit protocol.
import { Database, type Statement } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import path from "node:path";
import { hex, open as openSealed, seal } from "./codec.ts";
import {
  BadInputError,
  KeyServiceError,
  type Problem,
  QuarantinedError,
  RecordTooLargeError,
  SecureStoreError,
  StorageFullError,
  StoreClosedError,
  UnknownDomainError,
} from "./errors.ts";
import {
  anchorMac,
  anchorMacKey,
  chainStep,
  computeTops,
  counterName,
  DEFAULT_SEGMENT_SIZE,
  FORMAT,
  headOf,
  type KeyRow,
  keysDigest,
  RECORD_COLUMNS,
  type RecordRow,
  type RecordValues,
  recordAad,
  recordBytes,
  rowFromValues,
  SCHEMA,
  type Segment,
  type StoreIdentity,
  segmentGenesis,
  seriesToken,
} from "./format.ts";
import { fsyncDir, type KeyService, writeDurably } from "./keys.ts";
import {
  checkSegment,
  errorText,
  type LoadedStore,
  type VerifyMode,
  type VerifyReport,
  verifyDatabase,
} from "./verify.ts";

/** The domains of the policy, and one namespace for each of the three logs. */
export const KNOWN_DOMAINS = [
  "meter",
  "admin",
  "cls",
  "display",
  "system-log",
  "consumer-log",
  "calibration-log",
] as const;

export interface StoreLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface QuarantineReport {
  store: string;
  file: string;
  problems: Problem[];
}

export interface DomainStoreOptions {
  /** The store's name within its domain (file `<dir>/<domain>/<name>.sqlite`). */
  name?: string;
  knownDomains?: readonly string[];
  /** Records per checkpoint; fixed when the store is created. */
  segmentSize?: number;
  /** Largest payload accepted, in bytes (default 64 KiB). */
  maxRecordBytes?: number;
  /** Most records in one append (default 10,000). */
  maxBatch?: number;
  /** "auto" (default): a full verification up to `fullVerifyLimit` records, checkpoints above. */
  verifyOnOpen?: VerifyMode | "auto";
  fullVerifyLimit?: number;
  /** Sealed segments verified on open in "checkpoints" mode besides the last one. */
  sampleSegments?: number;
  /** SQLite page quota (PRAGMA max_page_count); writes beyond it fail with StorageFullError. */
  maxPages?: number;
  log?: StoreLogger;
  /**
   * Create a missing store file anew at the security module's current counter instead of
   * quarantining it: only when a data volume is provisioned (first start on a freshly
   * formatted volume). Otherwise a missing file with a counter above 0 is a deleted store.
   */
  provision?: boolean;
  /** Called when the store is quarantined (besides the error log line). */
  onQuarantine?: (report: QuarantineReport) => void;
  /** The clock for event records (tests). */
  now?: () => number;
}

export interface NewRecord {
  /** The record's table within the store, e.g. "readings". */
  stream: string;
  /** The series the record belongs to (blind-indexed); "" or absent for none. */
  series?: string;
  /** Milliseconds since the epoch; queries order and select by it. */
  time: number;
  payload: Uint8Array;
}

export interface StoredRecord {
  seq: number;
  stream: string;
  time: number;
  payload: Buffer;
  /** The series name, on records returned by read(). */
  series?: string;
}

export interface RangeQuery {
  stream: string;
  /** One series, or several merged in time order. */
  series?: string | readonly string[];
  /** Inclusive lower bound, ms. */
  from?: number;
  /** Exclusive upper bound, ms. */
  to?: number;
  /** The `next` of the previous page. */
  cursor?: string;
  /** Instead of `cursor`: the seq of the last record of the previous page. */
  after?: number;
  limit?: number;
}

export interface RecordPage {
  records: StoredRecord[];
  /** Present when more records follow; pass it as `cursor`. */
  next?: string;
}

export interface StoreStatus {
  domain: string;
  store: string;
  file: string;
  lastSeq: number;
  counter: string;
  segments: number;
  quarantined?: Problem[];
  rotation?: { retiringKey: number; activeKey: number };
  /** A commit is stored but its counter increment has not succeeded yet. */
  counterPending: boolean;
}

type AppendRange = { first: number; last: number };

interface PendingAppend {
  records: readonly NewRecord[];
  resolve: (range: AppendRange) => void;
  reject: (e: unknown) => void;
}

interface State {
  lastSeq: number;
  counter: bigint;
  segs: Segment[];
  tops: Buffer[];
  keyRows: KeyRow[];
  dataKeys: Map<number, Uint8Array>;
  activeKey: number;
  retiringKey: number | undefined;
  macKey: Uint8Array;
}

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
const STREAM_PATTERN = /^[a-z][a-z0-9_.-]{0,31}$/;
const MAX_TIME = 8.64e15;
const MAX_SERIES_LENGTH = 256;
const MAX_PAGE = 10_000;
const RETENTION_STREAM = "_retention";
const KEYS_STREAM = "_keys";
const EMPTY = new Uint8Array(0);
const openFiles = new Set<string>();

/** Thrown inside a transaction when verification of a touched segment fails. */
class IntegrityFailure extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.message);
    this.problem = problem;
  }
}

/**
 * Open (or create) the store `name` of `domain` under `dir`. A store that fails verification
 * is returned quarantined (reads and writes throw QuarantinedError naming the problems) and
 * reported through `log.error` and `onQuarantine`; it is never served.
 */
export async function openDomainStore(
  dir: string,
  domain: string,
  keys: KeyService,
  options: DomainStoreOptions = {},
): Promise<DomainStore> {
  const known = options.knownDomains ?? KNOWN_DOMAINS;
  if (typeof domain !== "string" || !known.includes(domain)) {
    throw new UnknownDomainError(String(domain), known);
  }
  const name = options.name ?? "store";
  if (!NAME_PATTERN.test(name)) {
    throw new BadInputError(`store name ${JSON.stringify(name)} must match ${NAME_PATTERN}`);
  }
  const id: StoreIdentity = { domain, store: name };
  const domainDir = path.join(dir, domain);
  mkdirSync(domainDir, { recursive: true, mode: 0o700 });
  chmodSync(domainDir, 0o700);
  const file = path.join(domainDir, `${name}.sqlite`);
  if (openFiles.has(file)) {
    throw new SecureStoreError("io", `store ${domain}/${name} is already open in this process`);
  }
  const store = new DomainStore(id, file, keys, options);
  openFiles.add(file);
  try {
    await store.start();
  } catch (e) {
    store.forget();
    throw e;
  }
  return store;
}

/** Remove the quarantine mark of a store (an operator's decision); the next open verifies again. */
export function clearQuarantine(dir: string, domain: string, name = "store"): boolean {
  const marker = path.join(dir, domain, `${name}.sqlite.quarantined`);
  if (!existsSync(marker)) return false;
  rmSync(marker);
  return true;
}

export class DomainStore {
  readonly domain: string;
  readonly name: string;
  readonly file: string;
  private readonly id: StoreIdentity;
  private readonly keys: KeyService;
  private readonly options: DomainStoreOptions;
  private readonly counterName: string;
  private readonly marker: string;
  private readonly maxRecordBytes: number;
  private readonly maxBatch: number;
  private readonly log: StoreLogger;
  private readonly now: () => number;
  private db: Database | undefined;
  private state: State | undefined;
  private indexKey: Uint8Array = EMPTY;
  private segmentSize = DEFAULT_SEGMENT_SIZE;
  private problems: Problem[] | undefined;
  private counterPending = false;
  private counterRetry = false;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private statements = new Map<string, Statement>();
  private tokens = new Map<string, Uint8Array>();
  private pendingAppends: PendingAppend[] = [];

  /** Use openDomainStore. */
  constructor(id: StoreIdentity, file: string, keys: KeyService, options: DomainStoreOptions) {
    this.id = id;
    this.domain = id.domain;
    this.name = id.store;
    this.file = file;
    this.keys = keys;
    this.options = options;
    this.counterName = counterName(id);
    this.marker = `${file}.quarantined`;
    this.maxRecordBytes = options.maxRecordBytes ?? 64 * 1024;
    this.maxBatch = options.maxBatch ?? 10_000;
    this.log = options.log ?? stderrLogger;
    this.now = options.now ?? Date.now;
  }

  /** @internal */
  async start(): Promise<void> {
    if (existsSync(this.marker)) {
      this.enterQuarantine(readMarker(this.marker), false);
      return;
    }
    const current = await this.keys.counter(this.counterName);
    if (!existsSync(this.file)) {
      if (current > 0n && this.options.provision === true) {
        // Provisioning a fresh data volume with a security module that served one before:
        // the new store is anchored at the module's counter, never below it.
        this.log.warn("secure store: provisioning a new store at the security module's counter", {
          store: this.counterName,
          counter: String(current),
        });
        await this.create(current);
        return;
      }
      if (current > 0n) {
        this.enterQuarantine([
          {
            code: "missing-file",
            message: `the store file is missing but its counter is at ${current} (deleted or moved)`,
          },
        ]);
        return;
      }
      await this.create();
      return;
    }
    let db: Database | undefined;
    try {
      db = new Database(this.file, { readwrite: true, create: false, strict: true });
      this.configure(db);
    } catch (e) {
      try {
        db?.close(true);
      } catch {
        // unusable anyway
      }
      this.enterQuarantine([
        { code: "unreadable", message: `SQLite cannot open the file: ${errorText(e)}` },
      ]);
      return;
    }
    if (current === 0n && isUnfinishedCreation(db)) {
      // A crash while the store was being created: nothing was ever acknowledged.
      db.close(true);
      removeStoreFiles(this.file);
      await this.create();
      return;
    }
    this.db = db;
    let mode: VerifyMode = "full";
    const requested = this.options.verifyOnOpen ?? "auto";
    if (requested === "checkpoints") mode = "checkpoints";
    if (requested === "auto") {
      const last = safeLastSeq(db);
      if (last > (this.options.fullVerifyLimit ?? 20_000)) mode = "checkpoints";
    }
    const { report, loaded } = await verifyDatabase(db, this.file, {
      keys: this.keys,
      expect: this.id,
      mode,
      ...(this.options.sampleSegments !== undefined
        ? { sampleSegments: this.options.sampleSegments }
        : {}),
    });
    if (!loaded) {
      this.enterQuarantine(report.problems);
      return;
    }
    this.load(loaded);
    if (loaded.interruptedCommit) {
      this.log.warn("secure store: rolling the counter forward after an interrupted commit", {
        store: this.counterName,
        counter: loaded.counter.toString(),
      });
      this.counterPending = true;
      this.counterRetry = true;
      await this.anchorCounter();
    }
  }

  /** @internal */
  forget(): void {
    this.closeDb();
    openFiles.delete(this.file);
  }

  /** Close for real: with statements left open SQLite would keep the WAL until they are
   * garbage-collected, and the file alone would not hold the last commits. */
  private closeDb(): void {
    for (const s of this.statements.values()) s.finalize();
    this.statements.clear();
    try {
      this.db?.close(true);
    } catch {
      try {
        this.db?.close();
      } catch {
        // already unusable
      }
    }
    this.db = undefined;
  }

  private configure(db: Database): void {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA cell_size_check = ON");
    db.exec("PRAGMA trusted_schema = OFF");
    if (this.options.maxPages !== undefined) {
      db.exec(`PRAGMA max_page_count = ${Math.max(1, Math.floor(this.options.maxPages))}`);
    }
  }

  /** Create the store, anchored at counter `base + 1` (`base`: the key service's counter). */
  private async create(base = 0n): Promise<void> {
    const segmentSize = this.options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    if (!Number.isInteger(segmentSize) || segmentSize < 1 || segmentSize > 65536) {
      throw new BadInputError(`segmentSize must be an integer in 1..65536, got ${segmentSize}`);
    }
    const dataKey = randomBytes(32);
    const indexKey = randomBytes(32);
    const [wrappedData, wrappedIndex] = await Promise.all([
      this.wrap(dataKey),
      this.wrap(indexKey),
    ]);
    // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
    closeSync(openSync(this.file, "w", 0o600));
    const db = new Database(this.file, { readwrite: true, create: false, strict: true });
    try {
      this.configure(db);
      const created = this.now();
      const keyRows: KeyRow[] = [
        { id: 1, purpose: "data", state: "active", wrapped: wrappedData, created },
        { id: 2, purpose: "index", state: "active", wrapped: wrappedIndex, created },
      ];
      const macKey = anchorMacKey(dataKey, this.id);
      const head = headOf(this.id, []);
      db.transaction(() => {
        db.exec(SCHEMA);
        const meta = db.prepare("INSERT INTO meta (name, value) VALUES (?, ?)");
        meta.run("format", FORMAT);
        meta.run("domain", this.id.domain);
        meta.run("store", this.id.store);
        meta.run("segment_size", String(segmentSize));
        const key = db.prepare(
          "INSERT INTO data_keys (id, purpose, state, wrapped, created) VALUES (?, ?, ?, ?, ?)",
        );
        for (const k of keyRows) key.run(k.id, k.purpose, k.state, k.wrapped, k.created);
        const mac = anchorMac(macKey, this.id, {
          counter: base + 1n,
          lastSeq: 0,
          head,
          segmentSize,
          keysDigest: keysDigest(keyRows),
        });
        db.prepare(
          "INSERT INTO anchor (id, counter, last_seq, head, mac) VALUES (1, ?, 0, ?, ?)",
        ).run(String(base + 1n), head, mac);
      })();
    } catch (e) {
      db.close(true);
      removeStoreFiles(this.file);
      throw mapSqliteError(e, this.counterName);
    }
    fsyncDir(path.dirname(this.file));
    this.db = db;
    this.segmentSize = segmentSize;
    this.indexKey = indexKey;
    this.state = {
      lastSeq: 0,
      counter: base + 1n,
      segs: [],
      tops: [],
      keyRows: [
        { id: 1, purpose: "data", state: "active", wrapped: wrappedData, created: 0 },
        { id: 2, purpose: "index", state: "active", wrapped: wrappedIndex, created: 0 },
      ],
      dataKeys: new Map([[1, dataKey]]),
      activeKey: 1,
      retiringKey: undefined,
      macKey: anchorMacKey(dataKey, this.id),
    };
    // Read the rows back so the digest covers exactly what was stored.
    this.state.keyRows = readKeyRows(db);
    this.counterPending = true;
    await this.anchorCounter();
  }

  private async wrap(key: Uint8Array): Promise<Uint8Array> {
    try {
      return await this.keys.wrap(this.id.domain, key);
    } catch (e) {
      throw new KeyServiceError(`cannot wrap a data key for ${this.id.domain}: ${errorText(e)}`, {
        cause: e,
      });
    }
  }

  private load(l: LoadedStore): void {
    this.segmentSize = l.segmentSize;
    this.indexKey = l.indexKey;
    this.state = {
      lastSeq: l.lastSeq,
      counter: l.counter,
      segs: l.segs,
      tops: l.tops,
      keyRows: l.keyRows,
      dataKeys: l.dataKeys,
      activeKey: l.activeKey,
      retiringKey: l.retiringKey,
      macKey: l.macKey,
    };
  }

  // ---------------------------------------------------------------- quarantine

  get quarantined(): readonly Problem[] | undefined {
    return this.problems;
  }

  private enterQuarantine(problems: Problem[], mark = true): void {
    if (this.problems) return;
    this.problems = problems;
    this.state = undefined;
    this.closeDb();
    if (mark) {
      try {
        writeDurably(
          this.marker,
          Buffer.from(`${JSON.stringify({ ts: new Date().toISOString(), problems }, null, 2)}\n`),
          "replace",
        );
      } catch (e) {
        this.log.error("secure store: cannot write the quarantine mark", {
          store: this.counterName,
          error: errorText(e),
        });
      }
    }
    if (existsSync(this.file)) {
      try {
        this.db = new Database(this.file, { readonly: true });
      } catch {
        this.db = undefined;
      }
    }
    const report: QuarantineReport = { store: this.counterName, file: this.file, problems };
    this.log.error("secure store quarantined", { ...report });
    this.options.onQuarantine?.(report);
  }

  private live(): { db: Database; state: State } {
    if (this.closed) throw new StoreClosedError(this.counterName);
    if (this.problems) throw new QuarantinedError(this.counterName, this.problems);
    return { db: this.db as Database, state: this.state as State };
  }

  // ---------------------------------------------------------------- writes

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The commit protocol: (1) one SQLite transaction writes the records, their checkpoints and
   * the anchor carrying counter c+1 (WAL, synchronous FULL: durable when COMMIT returns);
   * (2) the KeyService's counter is incremented to c+1; (3) the write is acknowledged. A crash
   * between (1) and (2) leaves the store one ahead of the counter, which the next open rolls
   * forward; a store behind the counter is a rollback and is quarantined.
   */
  private async commit<T>(fn: (dirty: Set<number>) => T): Promise<T> {
    if (this.counterPending) await this.anchorCounter();
    const { db, state } = this.live();
    const before: State = {
      ...state,
      segs: state.segs.slice(),
      tops: state.tops.slice(),
      keyRows: state.keyRows.slice(),
      dataKeys: new Map(state.dataKeys),
    };
    const next = state.counter + 1n;
    let out: T | undefined;
    try {
      db.transaction(() => {
        const dirty = new Set<number>();
        out = fn(dirty);
        this.writeCheckpoints(dirty, next);
      }).immediate();
    } catch (e) {
      this.state = before;
      if (e instanceof IntegrityFailure) {
        this.enterQuarantine([e.problem]);
        throw new QuarantinedError(this.counterName, [e.problem]);
      }
      if (isCorrupt(e)) {
        this.integrity({ code: "unreadable", message: `SQLite reports damage: ${errorText(e)}` });
      }
      throw mapSqliteError(e, this.counterName);
    }
    state.counter = next;
    this.counterPending = true;
    await this.anchorCounter();
    return out as T;
  }

  /** Bring the KeyService's counter up to the anchored value (step 2 of the protocol). */
  private async anchorCounter(): Promise<void> {
    const state = this.state as State;
    let got: bigint;
    try {
      if (this.counterRetry) {
        // A failed increment may have taken effect: look before incrementing again.
        const current = await this.keys.counter(this.counterName);
        got = current === state.counter ? current : await this.keys.increment(this.counterName);
      } else {
        got = await this.keys.increment(this.counterName);
      }
    } catch (e) {
      this.counterRetry = true;
      throw new KeyServiceError(
        `store ${this.counterName}: the write is stored but the counter increment failed (retried before the next write): ${errorText(e)}`,
        { cause: e },
      );
    }
    this.counterRetry = false;
    if (got !== state.counter) {
      const problem: Problem = {
        code: got > state.counter ? "rolled-back" : "counter-behind",
        message: `the key service's counter went to ${got}, the store expected ${state.counter} (another writer, or the counter was reset)`,
      };
      this.enterQuarantine([problem]);
      throw new QuarantinedError(this.counterName, [problem]);
    }
    this.counterPending = false;
  }

  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = (this.db as Database).prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private writeCheckpoints(dirty: Set<number>, counter: bigint): void {
    const state = this.state as State;
    if (dirty.size > 0) {
      computeTops(this.id, state.segs, state.tops, Math.min(...dirty));
      const upsert = this.stmt(
        "INSERT INTO segments (idx, count, hash, pruned) VALUES (?, ?, ?, ?) ON CONFLICT (idx) DO UPDATE SET count = excluded.count, hash = excluded.hash, pruned = excluded.pruned",
      );
      for (const idx of dirty) {
        const s = state.segs[idx] as Segment;
        upsert.run(idx, s.count, s.hash, s.pruned ? 1 : 0);
      }
    }
    const head = headOf(this.id, state.tops);
    const mac = anchorMac(state.macKey, this.id, {
      counter,
      lastSeq: state.lastSeq,
      head,
      segmentSize: this.segmentSize,
      keysDigest: keysDigest(state.keyRows),
    });
    this.stmt("UPDATE anchor SET counter = ?, last_seq = ?, head = ?, mac = ? WHERE id = 1").run(
      counter.toString(),
      state.lastSeq,
      head,
      mac,
    );
  }

  /** Encrypt and insert one record at the next seq and extend the chain. */
  private insert(
    stream: string,
    token: Uint8Array,
    ts: number,
    payload: Uint8Array,
    dirty: Set<number>,
  ): number {
    const state = this.state as State;
    const seq = state.lastSeq + 1;
    const key = state.dataKeys.get(state.activeKey) as Uint8Array;
    const body = seal(key, payload, recordAad(this.id, stream, seq, token, ts));
    this.stmt(
      "INSERT INTO records (seq, stream, series, ts, key_id, body, deleted_by) VALUES (?, ?, ?, ?, ?, ?, NULL)",
    ).run(seq, stream, token, ts, state.activeKey, body);
    this.extend(
      { seq, stream, series: token, ts, keyId: state.activeKey, body, deletedBy: null },
      dirty,
    );
    return seq;
  }

  private extend(row: RecordRow, dirty: Set<number>): void {
    const state = this.state as State;
    state.lastSeq = row.seq;
    const idx = Math.floor((row.seq - 1) / this.segmentSize);
    if (idx === state.segs.length) {
      state.segs.push({ count: 0, hash: segmentGenesis(this.id, idx), pruned: false });
    }
    const s = state.segs[idx] as Segment;
    state.segs[idx] = {
      count: s.count + 1,
      hash: chainStep(s.hash, row.seq, recordBytes(row)),
      pruned: false,
    };
    dirty.add(idx);
  }

  private validate(r: NewRecord, where: string): void {
    if (r === null || typeof r !== "object") throw new BadInputError(`${where} is not a record`);
    checkStream(r.stream, where);
    if (r.series !== undefined) checkSeries(r.series, where);
    checkTime(r.time, `${where}.time`);
    if (!(r.payload instanceof Uint8Array)) {
      throw new BadInputError(`${where}.payload must be bytes`);
    }
    if (r.payload.length > this.maxRecordBytes) {
      throw new RecordTooLargeError(
        `${where}.payload has ${r.payload.length} bytes; the store accepts at most ${this.maxRecordBytes}`,
      );
    }
  }

  /**
   * Append records; all or none are stored. Resolves once durable and anchored. Appends that
   * arrive while a commit is under way are committed together in the next one (group commit:
   * one transaction and one counter increment for all of them), each still all or none.
   */
  append(records: readonly NewRecord[]): Promise<{ first: number; last: number }> {
    try {
      this.live();
      if (!Array.isArray(records) || records.length === 0 || records.length > this.maxBatch) {
        throw new BadInputError(`append takes 1 to ${this.maxBatch} records`);
      }
      for (const [i, r] of records.entries()) this.validate(r, `records[${i}]`);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.pendingAppends.push({ records, resolve, reject });
      if (this.pendingAppends.length === 1) void this.exclusive(() => this.flushAppends());
    });
  }

  private async flushAppends(): Promise<void> {
    // As many waiting appends as fit in one batch (at least one).
    let total = 0;
    let n = 0;
    for (const p of this.pendingAppends) {
      if (n > 0 && total + p.records.length > this.maxBatch) break;
      total += p.records.length;
      n++;
    }
    const group = this.pendingAppends.splice(0, n);
    if (this.pendingAppends.length > 0) void this.exclusive(() => this.flushAppends());
    if (group.length === 0) return;
    const run = (members: PendingAppend[]) =>
      this.commit((dirty) =>
        members.map((m) => {
          let first = 0;
          let last = 0;
          for (const r of m.records) {
            last = this.insert(r.stream, this.token(r.stream, r.series), r.time, r.payload, dirty);
            if (first === 0) first = last;
          }
          return { first, last };
        }),
      );
    try {
      const ranges = await run(group);
      for (const [i, m] of group.entries()) m.resolve(ranges[i] as AppendRange);
    } catch (e) {
      if (group.length > 1 && e instanceof StorageFullError) {
        // Together they did not fit; alone some may.
        for (const m of group) {
          try {
            m.resolve((await run([m]))[0] as AppendRange);
          } catch (alone) {
            m.reject(alone);
          }
        }
        return;
      }
      for (const m of group) m.reject(e);
    }
  }

  private token(stream: string, series: string | undefined): Uint8Array {
    const name = `${stream}\u0000${series ?? ""}`;
    let t = this.tokens.get(name);
    if (!t) {
      t = seriesToken(this.indexKey, stream, series ?? "");
      if (this.tokens.size >= 4096) this.tokens.clear();
      this.tokens.set(name, t);
    }
    return t;
  }

  // ---------------------------------------------------------------- reads

  private decrypt(
    state: State,
    stream: string,
    seq: number,
    series: Uint8Array,
    ts: number,
    keyId: number,
    body: Uint8Array,
  ): Buffer {
    if (seq > state.lastSeq) {
      this.integrity({
        code: "extra-record",
        message: `record ${seq} lies beyond the anchored last seq ${state.lastSeq}`,
      });
    }
    const key = state.dataKeys.get(keyId);
    const plain = key
      ? openSealed(key, body, recordAad(this.id, stream, seq, series, ts))
      : undefined;
    if (!plain) {
      this.integrity({
        code: "record",
        message: `record ${seq} does not decrypt (altered, or moved from another row, store or domain)`,
      });
    }
    return plain as Buffer;
  }

  private integrity(problem: Problem): never {
    this.enterQuarantine([problem]);
    throw new QuarantinedError(this.counterName, [problem]);
  }

  /** Run a read; SQLite finding the file damaged quarantines the store like a failed check. */
  private guarded<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isCorrupt(e)) {
        this.integrity({ code: "unreadable", message: `SQLite reports damage: ${errorText(e)}` });
      }
      throw mapSqliteError(e, this.counterName);
    }
  }

  /** Records of one stream (and series) in time order, a page at a time. */
  read(q: RangeQuery): RecordPage {
    return this.guarded(() => this.readRange(q));
  }

  private readRange(q: RangeQuery): RecordPage {
    const { state } = this.live();
    checkStream(q.stream, "stream");
    const names =
      q.series === undefined ? [""] : typeof q.series === "string" ? [q.series] : [...q.series];
    if (names.length === 0 || names.length > 64) throw new BadInputError("series: 1 to 64 names");
    for (const n of names) checkSeries(n, "series");
    const from = q.from ?? -MAX_TIME;
    const to = q.to ?? MAX_TIME + 1;
    checkTime(from, "from");
    if (q.to !== undefined) checkTime(to, "to");
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new BadInputError(`limit must be an integer in 1..${MAX_PAGE}`);
    }
    if (q.cursor !== undefined && q.after !== undefined) {
      throw new BadInputError("give cursor or after, not both");
    }
    let [afterTs, afterSeq] = q.cursor === undefined ? [-MAX_TIME - 1, 0] : parseCursor(q.cursor);
    if (q.after !== undefined) {
      if (!Number.isSafeInteger(q.after) || q.after < 1) {
        throw new BadInputError(`after ${String(q.after)} is not a seq`);
      }
      const row = this.stmt("SELECT ts FROM records WHERE seq = ? AND stream = ?").values(
        q.after,
        q.stream,
      )[0] as [number | null] | undefined;
      if (!row || row[0] === null) {
        throw new BadInputError(`after: record ${q.after} is not a ${q.stream} record (deleted?)`);
      }
      [afterTs, afterSeq] = [row[0], q.after];
    }
    const byToken = new Map([...new Set(names)].map((n) => [hex(this.token(q.stream, n)), n]));
    const tokens = [...byToken.keys()].map((t) => Buffer.from(t, "hex"));
    const rows = this.stmt(
      `SELECT seq, series, ts, key_id, body FROM records WHERE stream = ? AND series IN (${tokens.map(() => "?").join(", ")}) AND ts >= ? AND ts < ? AND (ts, seq) > (?, ?) ORDER BY ts, seq LIMIT ?`,
    ).values(q.stream, ...tokens, from, to, afterTs, afterSeq, limit + 1) as [
      number,
      Uint8Array,
      number,
      number,
      Uint8Array,
    ][];
    const records: StoredRecord[] = [];
    const single = byToken.size === 1 ? (byToken.values().next().value as string) : undefined;
    for (const [seq, series, ts, keyId, body] of rows.slice(0, limit)) {
      records.push({
        seq,
        stream: q.stream,
        time: ts,
        payload: this.decrypt(state, q.stream, seq, series, ts, keyId, body),
        series: single ?? byToken.get(hex(series)) ?? "",
      });
    }
    const last = records[records.length - 1];
    return rows.length > limit && last
      ? { records, next: `${last.time}.${last.seq}` }
      : { records };
  }

  /** One record by seq; undefined when deleted by retention or beyond the last seq. */
  get(seq: number): StoredRecord | undefined {
    return this.guarded(() => this.getOne(seq));
  }

  private getOne(seq: number): StoredRecord | undefined {
    const { state } = this.live();
    if (!Number.isSafeInteger(seq) || seq < 1) throw new BadInputError(`seq ${seq} is not a seq`);
    if (seq > state.lastSeq) return undefined;
    const idx = Math.floor((seq - 1) / this.segmentSize);
    if ((state.segs[idx] as Segment).pruned) return undefined;
    const v = this.stmt(`SELECT ${RECORD_COLUMNS} FROM records WHERE seq = ?`).values(seq)[0] as
      | RecordValues
      | undefined;
    if (!v)
      this.integrity({ code: "missing-record", message: `record ${seq} is missing (deleted)` });
    const r = rowFromValues(v as RecordValues);
    if (r.deletedBy !== null) return undefined;
    if (r.series === null || r.ts === null || r.keyId === null || r.body === null) {
      this.integrity({ code: "record", message: `record ${seq} has malformed columns (altered)` });
    }
    return {
      seq,
      stream: r.stream,
      time: r.ts as number,
      payload: this.decrypt(
        state,
        r.stream,
        seq,
        r.series as Uint8Array,
        r.ts as number,
        r.keyId as number,
        r.body as Uint8Array,
      ),
    };
  }

  /** All live records in seq order (every stream), a page at a time. */
  scan(q: { after?: number; limit?: number } = {}): { records: StoredRecord[]; next?: number } {
    return this.guarded(() => this.scanAll(q));
  }

  private scanAll(q: { after?: number; limit?: number }): {
    records: StoredRecord[];
    next?: number;
  } {
    const { state } = this.live();
    const after = q.after ?? 0;
    const limit = q.limit ?? 1000;
    if (!Number.isSafeInteger(after) || after < 0) throw new BadInputError("after must be a seq");
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new BadInputError(`limit must be an integer in 1..${MAX_PAGE}`);
    }
    const rows = this.stmt(
      "SELECT seq, stream, series, ts, key_id, body FROM records WHERE seq > ? AND deleted_by IS NULL ORDER BY seq LIMIT ?",
    ).values(after, limit + 1) as [number, string, Uint8Array, number, number, Uint8Array][];
    const records = rows.slice(0, limit).map(([seq, stream, series, ts, keyId, body]) => ({
      seq,
      stream,
      time: ts,
      payload: this.decrypt(state, stream, seq, series, ts, keyId, body),
    }));
    const last = records[records.length - 1];
    return rows.length > limit && last ? { records, next: last.seq } : { records };
  }

  /** How many live records a stream (and series) holds in [from, to). */
  count(stream: string, series?: string, from?: number, to?: number): number {
    return this.guarded(() => this.countRange(stream, series, from, to));
  }

  private countRange(stream: string, series?: string, from?: number, to?: number): number {
    this.live();
    checkStream(stream, "stream");
    if (series !== undefined) checkSeries(series, "series");
    const row = this.stmt(
      "SELECT count(*) FROM records WHERE stream = ? AND series = ? AND ts >= ? AND ts < ?",
    ).values(stream, this.token(stream, series), from ?? -MAX_TIME, to ?? MAX_TIME + 1)[0] as [
      number,
    ];
    return row[0];
  }

  /** The time of the newest live record of a stream (and series). */
  lastTime(stream: string, series?: string): number | undefined {
    return this.guarded(() => this.lastTimeOf(stream, series));
  }

  private lastTimeOf(stream: string, series?: string): number | undefined {
    this.live();
    checkStream(stream, "stream");
    if (series !== undefined) checkSeries(series, "series");
    const row = this.stmt("SELECT max(ts) FROM records WHERE stream = ? AND series = ?").values(
      stream,
      this.token(stream, series),
    )[0] as [number | null];
    return row[0] ?? undefined;
  }

  // ---------------------------------------------------------------- retention

  /**
   * Delete the records of a stream (and series) older than `before`. The deletion is an event
   * record of the chain (stream "_retention": what, how many, why); the deleted records stay in
   * the chain as tombstones naming that event, and segments that hold only tombstones are
   * pruned to their checkpoint. Nothing vanishes without a trace in the chain.
   */
  deleteBefore(
    stream: string,
    series: string | undefined,
    before: number,
    reason: string,
  ): Promise<{ deleted: number; event?: number }> {
    try {
      this.live();
      checkStream(stream, "stream");
      if (series !== undefined) checkSeries(series, "series");
      checkTime(before, "before");
      if (typeof reason !== "string" || reason.length === 0 || reason.length > 200) {
        throw new BadInputError("reason must be a text of 1 to 200 characters");
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return this.exclusive(async () => {
      const { state } = this.live();
      const token = this.token(stream, series);
      const select = this.stmt(
        "SELECT seq FROM records WHERE stream = ? AND series = ? AND ts < ? ORDER BY seq",
      );
      if (this.guarded(() => select.values(stream, token, before).length === 0)) {
        return { deleted: 0 };
      }
      return this.commit((dirty) => {
        const seqs = (select.values(stream, token, before) as [number][]).map((r) => r[0]);
        const touched = [...new Set(seqs.map((s) => Math.floor((s - 1) / this.segmentSize)))];
        for (const idx of touched) this.checkTouched(idx);
        const event = this.insert(
          RETENTION_STREAM,
          EMPTY,
          this.now(),
          Buffer.from(
            JSON.stringify({
              stream,
              series: series ?? "",
              before,
              deleted: seqs.length,
              firstSeq: seqs[0],
              lastSeq: seqs[seqs.length - 1],
              reason,
            }),
          ),
          dirty,
        );
        this.stmt(
          "UPDATE records SET series = NULL, ts = NULL, key_id = NULL, body = NULL, deleted_by = ? WHERE stream = ? AND series = ? AND ts < ?",
        ).run(event, stream, token, before);
        for (const idx of touched) {
          const seg = state.segs[idx] as Segment;
          const rows = this.segmentRows(idx, seg.count);
          let h: Buffer = segmentGenesis(this.id, idx);
          for (const r of rows) h = chainStep(h, r.seq, recordBytes(r));
          const prune = seg.count === this.segmentSize && rows.every((r) => r.deletedBy !== null);
          if (prune) {
            this.stmt("DELETE FROM records WHERE seq BETWEEN ? AND ?").run(
              idx * this.segmentSize + 1,
              idx * this.segmentSize + seg.count,
            );
          }
          state.segs[idx] = { count: seg.count, hash: h, pruned: prune };
          dirty.add(idx);
        }
        return { deleted: seqs.length, event };
      });
    });
  }

  private segmentRows(idx: number, count: number): RecordRow[] {
    const lo = idx * this.segmentSize + 1;
    return (
      this.stmt(
        `SELECT ${RECORD_COLUMNS} FROM records WHERE seq BETWEEN ? AND ? ORDER BY seq`,
      ).values(lo, lo + count - 1) as RecordValues[]
    ).map(rowFromValues);
  }

  /** A segment about to be rewritten is verified first, so a tampered one is never re-sealed. */
  private checkTouched(idx: number): void {
    const state = this.state as State;
    const seg = state.segs[idx] as Segment;
    const problems = checkSegment(
      {
        db: this.db as Database,
        id: this.id,
        segmentSize: this.segmentSize,
        dataKeys: state.dataKeys,
      },
      idx,
      seg,
    );
    if (problems.length > 0) throw new IntegrityFailure(problems[0] as Problem);
  }

  /** A segment found not to match its checkpoint: name the problem and abort the commit. */
  private touchedFailed(idx: number): never {
    this.checkTouched(idx);
    throw new IntegrityFailure({
      code: "segment",
      message: `segment ${idx} does not hash to its checkpoint`,
    });
  }

  // ---------------------------------------------------------------- key rotation

  /**
   * Rotate the data key: a new key becomes active (new records and the anchor use it), then the
   * records under the old key are re-encrypted a few segments per commit, and the old key is
   * deleted once none is left. Writes go on between the commits. Interrupted (crash, kill), the
   * store verifies as it is and a later call continues where the rotation stopped.
   */
  async rotateKey(
    options: { segmentsPerCommit?: number; onProgress?: (reencrypted: number) => void } = {},
  ): Promise<{ from: number; to: number; reencrypted: number }> {
    const perCommit = options.segmentsPerCommit ?? 8;
    if (!Number.isInteger(perCommit) || perCommit < 1) {
      throw new BadInputError("segmentsPerCommit must be a positive integer");
    }
    this.live();
    await this.exclusive(async () => {
      const { state } = this.live();
      if (state.retiringKey !== undefined) return;
      const newKey = randomBytes(32);
      const wrapped = await this.wrap(newKey);
      await this.commit((dirty) => {
        const from = state.activeKey;
        const to = Math.max(...state.keyRows.map((k) => k.id)) + 1;
        const created = this.now();
        this.stmt("UPDATE data_keys SET state = 'retiring' WHERE id = ?").run(from);
        this.stmt(
          "INSERT INTO data_keys (id, purpose, state, wrapped, created) VALUES (?, 'data', 'active', ?, ?)",
        ).run(to, wrapped, created);
        state.keyRows = readKeyRows(this.db as Database);
        state.dataKeys.set(to, newKey);
        state.activeKey = to;
        state.retiringKey = from;
        state.macKey = anchorMacKey(newKey, this.id);
        this.insert(
          KEYS_STREAM,
          EMPTY,
          created,
          Buffer.from(JSON.stringify({ event: "rotation-started", from, to })),
          dirty,
        );
      });
    });
    let reencrypted = 0;
    let cursor = 0;
    for (;;) {
      const step = await this.exclusive(() => this.rotationStep(cursor, perCommit));
      reencrypted += step.reencrypted;
      options.onProgress?.(reencrypted);
      if (step.done) return { from: step.from, to: step.to, reencrypted };
      cursor = step.next;
    }
  }

  private async rotationStep(
    cursor: number,
    perCommit: number,
  ): Promise<{ done: boolean; next: number; reencrypted: number; from: number; to: number }> {
    const { state } = this.live();
    const from = state.retiringKey as number;
    const to = state.activeKey;
    const K = this.segmentSize;
    const hasOld = this.stmt(
      "SELECT 1 FROM records WHERE seq BETWEEN ? AND ? AND key_id = ? LIMIT 1",
    );
    const batch: number[] = [];
    let idx = cursor;
    for (; idx < state.segs.length && batch.length < perCommit; idx++) {
      if (this.guarded(() => hasOld.values(idx * K + 1, (idx + 1) * K, from).length > 0)) {
        batch.push(idx);
      }
    }
    if (batch.length === 0) {
      await this.commit((dirty) => {
        if (this.stmt("SELECT 1 FROM records WHERE key_id = ? LIMIT 1").values(from).length > 0) {
          throw new SecureStoreError("io", "records under the retiring key remain");
        }
        this.stmt("DELETE FROM data_keys WHERE id = ?").run(from);
        state.keyRows = readKeyRows(this.db as Database);
        state.dataKeys.delete(from);
        state.retiringKey = undefined;
        this.insert(
          KEYS_STREAM,
          EMPTY,
          this.now(),
          Buffer.from(JSON.stringify({ event: "rotation-finished", from, to })),
          dirty,
        );
      });
      return { done: true, next: idx, reencrypted: 0, from, to };
    }
    const reencrypted = await this.commit((dirty) => {
      let n = 0;
      const oldKey = state.dataKeys.get(from) as Uint8Array;
      const newKey = state.dataKeys.get(to) as Uint8Array;
      const update = this.stmt("UPDATE records SET key_id = ?, body = ? WHERE seq = ?");
      for (const i of batch) {
        const seg = state.segs[i] as Segment;
        const rows = this.segmentRows(i, seg.count);
        let before: Buffer = segmentGenesis(this.id, i);
        for (const r of rows) before = chainStep(before, r.seq, recordBytes(r));
        if (rows.length !== seg.count || !before.equals(seg.hash)) this.touchedFailed(i);
        let after: Buffer = segmentGenesis(this.id, i);
        for (const r of rows) {
          if (r.keyId === from && r.body && r.series && r.ts !== null) {
            const aad = recordAad(this.id, r.stream, r.seq, r.series, r.ts);
            const plain = openSealed(oldKey, r.body, aad);
            if (!plain) {
              throw new IntegrityFailure({
                code: "record",
                message: `record ${r.seq} does not decrypt (altered)`,
              });
            }
            r.body = seal(newKey, plain, aad);
            r.keyId = to;
            update.run(to, r.body, r.seq);
            n++;
          }
          after = chainStep(after, r.seq, recordBytes(r));
        }
        state.segs[i] = { count: seg.count, hash: after, pruned: false };
        dirty.add(i);
      }
      return n;
    });
    return { done: false, next: idx, reencrypted, from, to };
  }

  // ---------------------------------------------------------------- verification, status

  /**
   * Full verification: every segment, the anchor, the counter and SQLite's own check. A store
   * that fails is quarantined. Writes wait while it runs; reads go on.
   */
  verify(): Promise<VerifyReport> {
    if (this.closed) return Promise.reject(new StoreClosedError(this.counterName));
    return this.exclusive(async () => {
      const quarantined = this.problems !== undefined;
      const { report } = await verifyDatabase(this.db, this.file, {
        keys: this.keys,
        expect: this.id,
        mode: "full",
      });
      if (!report.ok && !quarantined) this.enterQuarantine(report.problems);
      if (quarantined) {
        report.ok = false;
        if (report.problems.length === 0) report.problems = [...(this.problems as Problem[])];
      }
      return report;
    });
  }

  status(): StoreStatus {
    const s = this.state;
    return {
      domain: this.domain,
      store: this.name,
      file: this.file,
      lastSeq: s?.lastSeq ?? 0,
      counter: (s?.counter ?? 0n).toString(),
      segments: s?.segs.length ?? 0,
      ...(this.problems ? { quarantined: [...this.problems] } : {}),
      ...(s?.retiringKey !== undefined
        ? { rotation: { retiringKey: s.retiringKey, activeKey: s.activeKey } }
        : {}),
      counterPending: this.counterPending,
    };
  }

  /** Close after pending writes; the WAL is checkpointed into the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.forget();
  }
}

// ---------------------------------------------------------------- helpers

const stderrLogger: StoreLogger = {
  warn: (msg, fields) => writeLine("warn", msg, fields),
  error: (msg, fields) => writeLine("error", msg, fields),
};

function writeLine(level: string, msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(
    `${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`,
  );
}

function checkStream(stream: unknown, where: string): void {
  if (typeof stream !== "string" || !STREAM_PATTERN.test(stream)) {
    throw new BadInputError(
      `${where}: stream ${JSON.stringify(stream)} must match ${STREAM_PATTERN}`,
    );
  }
}

function checkSeries(series: unknown, where: string): void {
  if (typeof series !== "string" || series.length > MAX_SERIES_LENGTH) {
    throw new BadInputError(
      `${where}: series must be a text of at most ${MAX_SERIES_LENGTH} characters`,
    );
  }
}

function checkTime(t: unknown, where: string): void {
  if (typeof t !== "number" || !Number.isSafeInteger(t) || Math.abs(t) > MAX_TIME) {
    throw new BadInputError(
      `${where} must be whole milliseconds since the epoch, got ${String(t)}`,
    );
  }
}

function parseCursor(cursor: unknown): [number, number] {
  const m = typeof cursor === "string" ? /^(-?\d{1,16})\.(\d{1,16})$/.exec(cursor) : null;
  const ts = m ? Number(m[1]) : Number.NaN;
  const seq = m ? Number(m[2]) : Number.NaN;
  if (!Number.isSafeInteger(ts) || !Number.isSafeInteger(seq)) {
    throw new BadInputError(`cursor ${JSON.stringify(cursor)} is not a cursor of this store`);
  }
  return [ts, seq];
}

function readKeyRows(db: Database): KeyRow[] {
  return (
    db.query("SELECT id, purpose, state, wrapped, created FROM data_keys ORDER BY id").values() as [
      number,
      string,
      string,
      Uint8Array,
      number,
    ][]
  ).map(([id, purpose, state, wrapped, created]) => ({ id, purpose, state, wrapped, created }));
}

function readMarker(file: string): Problem[] {
  try {
    const doc = JSON.parse(readFileSync(file, "utf8")) as { problems?: Problem[] };
    const earlier = (doc.problems ?? []).map((p) => `${p.code}: ${p.message}`).join("; ");
    return [
      { code: "marked", message: `quarantined earlier (${earlier || "no reason recorded"})` },
    ];
  } catch {
    return [{ code: "marked", message: "quarantined earlier (the mark is unreadable)" }];
  }
}

/** A file created by a store whose first commit never completed. The schema, the keys and
 * the anchor are written in that one transaction, so such a file has no tables at all; tables
 * without an anchor are not a crash but tampering, and are verified (and refused) as such. */
function isUnfinishedCreation(db: Database): boolean {
  try {
    return db.query("SELECT count(*) FROM sqlite_master").values()[0]?.[0] === 0;
  } catch {
    return false;
  }
}

function safeLastSeq(db: Database): number {
  try {
    const row = db.query("SELECT last_seq FROM anchor WHERE id = 1").values()[0] as
      | [number]
      | undefined;
    return typeof row?.[0] === "number" ? row[0] : 0;
  } catch {
    return 0;
  }
}

function removeStoreFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

/** SQLite's codes for a damaged file (extended codes carry a suffix). */
function isCorrupt(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return (
    typeof code === "string" && (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB")
  );
}

export function mapSqliteError(e: unknown, store: string): Error {
  if (e instanceof SecureStoreError) return e;
  const code = (e as { code?: unknown })?.code;
  if (code === "SQLITE_FULL") {
    return new StorageFullError(
      `store ${store} is full (disk or page quota); nothing of the write was stored`,
      {
        cause: e,
      },
    );
  }
  return new SecureStoreError("io", `store ${store}: ${errorText(e)}`, { cause: e });
}

export function fileMode(file: string): number {
  return statSync(file).mode & 0o777;
}
