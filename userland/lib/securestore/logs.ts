// The three logs of the protection profile, each an append-only, hash-chained secure store in
// a namespace of its own: the system log (security events, for the gateway administrator), the
// consumer log (every information flow concerning a consumer, for that consumer only) and the
// calibration log (metrologically relevant events; there is no way to delete or overwrite them).
import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { BadInputError, SecureStoreError } from "./errors.ts";
import type { KeyService } from "./keys.ts";
import { type Checker, checker, Detail, IsoTime, Name, Strict } from "./schema.ts";
import { type DomainStore, type DomainStoreOptions, openDomainStore } from "./store.ts";
import type { VerifyReport } from "./verify.ts";

const EventName = T.String({ pattern: "^[a-z][a-z0-9.-]{1,63}$" });
/** A data type of the policy, e.g. "meter-reading". */
const DataType = T.String({ pattern: "^[a-z][a-z0-9-]{0,63}$" });

export const SystemLogInputSchema = T.Object(
  {
    /** The unit that reports the event. */
    unit: Name,
    event: EventName,
    severity: T.Union([T.Literal("info"), T.Literal("warning"), T.Literal("alert")]),
    detail: Detail,
  },
  Strict,
);
export const SystemLogEntrySchema = T.Object(
  { ts: IsoTime, ...SystemLogInputSchema.properties },
  Strict,
);
export type SystemLogInput = Static<typeof SystemLogInputSchema>;
export type SystemLogEntry = Static<typeof SystemLogEntrySchema>;

export const ConsumerLogInputSchema = T.Object(
  {
    /** The consumer the information concerns. */
    consumer: Name,
    /** What flowed: the policy's data type. */
    what: DataType,
    /** To whom: the endpoint or unit that received it. */
    to: Name,
    meter: T.Optional(Name),
    purpose: T.String({ minLength: 1, maxLength: 200 }),
    detail: T.Optional(Detail),
  },
  Strict,
);
export const ConsumerLogEntrySchema = T.Object(
  { ts: IsoTime, ...ConsumerLogInputSchema.properties },
  Strict,
);
export type ConsumerLogInput = Static<typeof ConsumerLogInputSchema>;
export type ConsumerLogEntry = Static<typeof ConsumerLogEntrySchema>;

export const CalibrationLogInputSchema = T.Object(
  {
    event: EventName,
    meter: T.Optional(Name),
    detail: Detail,
  },
  Strict,
);
export const CalibrationLogEntrySchema = T.Object(
  { ts: IsoTime, ...CalibrationLogInputSchema.properties },
  Strict,
);
export type CalibrationLogInput = Static<typeof CalibrationLogInputSchema>;
export type CalibrationLogEntry = Static<typeof CalibrationLogEntrySchema>;

export interface LogQuery {
  /** Inclusive lower bound, ISO time or ms. */
  from?: string | number;
  /** Exclusive upper bound, ISO time or ms. */
  to?: string | number;
  cursor?: string;
  /** Instead of `cursor`: the seq of the last entry of the previous page. */
  after?: number;
  limit?: number;
}

export interface LogPage<E> {
  entries: (E & { seq: number })[];
  next?: string;
}

export type LogOptions = Omit<DomainStoreOptions, "name">;

const ENTRIES = "entries";
/** A log entry is small; this bounds what one entry may take. */
const MAX_ENTRY_BYTES = 16 * 1024;

/** An append-only log: entries checked against their schema, stamped, encrypted, chained. */
class AuditLog<I extends TSchema, E extends TSchema> {
  readonly store: DomainStore;
  private readonly input: Checker<I>;
  private readonly entry: Checker<E>;
  private readonly kind: string;
  private readonly now: () => number;

  constructor(store: DomainStore, kind: string, input: I, entry: E, now: () => number) {
    this.store = store;
    this.kind = kind;
    this.input = checker(input);
    this.entry = checker(entry);
    this.now = now;
  }

  protected async add(
    value: unknown,
    series: (v: Static<I>) => string,
  ): Promise<{ seq: number; ts: string }> {
    const v = this.input.check(value, `${this.kind} entry`);
    const ms = this.now();
    const ts = new Date(ms).toISOString();
    const payload = Buffer.from(JSON.stringify({ ts, ...(v as object) }));
    if (payload.length > MAX_ENTRY_BYTES) {
      throw new BadInputError(
        `${this.kind} entry has ${payload.length} bytes; at most ${MAX_ENTRY_BYTES}`,
      );
    }
    const { last } = await this.store.append([
      { stream: ENTRIES, series: series(v), time: ms, payload },
    ]);
    return { seq: last, ts };
  }

  protected page(series: string, q: LogQuery): LogPage<Static<E>> {
    const page = this.store.read({
      stream: ENTRIES,
      series,
      ...(q.from !== undefined ? { from: toMs(q.from, "from") } : {}),
      ...(q.to !== undefined ? { to: toMs(q.to, "to") } : {}),
      ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      ...(q.after !== undefined ? { after: q.after } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
    });
    const entries = page.records.map((r) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(r.payload.toString("utf8"));
      } catch {
        throw new SecureStoreError("io", `${this.kind} entry ${r.seq} is not JSON`);
      }
      return {
        seq: r.seq,
        ...(this.entry.check(parsed, `${this.kind} entry ${r.seq}`) as object),
      } as Static<E> & { seq: number };
    });
    return page.next ? { entries, next: page.next } : { entries };
  }

  verify(): Promise<VerifyReport> {
    return this.store.verify();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** Security events; readable by the gateway administrator. */
export class SystemLog extends AuditLog<typeof SystemLogInputSchema, typeof SystemLogEntrySchema> {
  append(entry: SystemLogInput): Promise<{ seq: number; ts: string }> {
    return this.add(entry, () => "");
  }
  query(q: LogQuery = {}): LogPage<SystemLogEntry> {
    return this.page("", q);
  }
  /** Drop entries older than `before` (ms); the deletion is itself a chained event. */
  deleteBefore(before: number, reason: string) {
    return this.store.deleteBefore(ENTRIES, "", before, reason);
  }
}

/** Every information flow concerning a consumer; each consumer reads only their own entries. */
export class ConsumerLog extends AuditLog<
  typeof ConsumerLogInputSchema,
  typeof ConsumerLogEntrySchema
> {
  append(entry: ConsumerLogInput): Promise<{ seq: number; ts: string }> {
    return this.add(entry, (v) => v.consumer);
  }
  /** The entries of one consumer: the query is by that consumer's id, nothing else is reachable. */
  query(consumer: string, q: LogQuery = {}): LogPage<ConsumerLogEntry> {
    checker(Name).check(consumer, "consumer");
    const page = this.page(consumer, q);
    for (const e of page.entries) {
      if (e.consumer !== consumer) {
        throw new SecureStoreError("io", `consumer log entry ${e.seq} is not ${consumer}'s`);
      }
    }
    return page;
  }
  deleteBefore(consumer: string, before: number, reason: string) {
    checker(Name).check(consumer, "consumer");
    return this.store.deleteBefore(ENTRIES, consumer, before, reason);
  }
}

/** Metrologically relevant events; append only, never deleted or overwritten. */
export class CalibrationLog extends AuditLog<
  typeof CalibrationLogInputSchema,
  typeof CalibrationLogEntrySchema
> {
  append(entry: CalibrationLogInput): Promise<{ seq: number; ts: string }> {
    return this.add(entry, () => "");
  }
  query(q: LogQuery = {}): LogPage<CalibrationLogEntry> {
    return this.page("", q);
  }
}

export async function openSystemLog(dir: string, keys: KeyService, options: LogOptions = {}) {
  const store = await openDomainStore(dir, "system-log", keys, { ...options, name: "log" });
  return new SystemLog(
    store,
    "system log",
    SystemLogInputSchema,
    SystemLogEntrySchema,
    options.now ?? Date.now,
  );
}

export async function openConsumerLog(dir: string, keys: KeyService, options: LogOptions = {}) {
  const store = await openDomainStore(dir, "consumer-log", keys, { ...options, name: "log" });
  return new ConsumerLog(
    store,
    "consumer log",
    ConsumerLogInputSchema,
    ConsumerLogEntrySchema,
    options.now ?? Date.now,
  );
}

export async function openCalibrationLog(dir: string, keys: KeyService, options: LogOptions = {}) {
  const store = await openDomainStore(dir, "calibration-log", keys, { ...options, name: "log" });
  return new CalibrationLog(
    store,
    "calibration log",
    CalibrationLogInputSchema,
    CalibrationLogEntrySchema,
    options.now ?? Date.now,
  );
}

function toMs(t: string | number, where: string): number {
  const ms = typeof t === "number" ? t : typeof t === "string" ? Date.parse(t) : Number.NaN;
  if (!Number.isFinite(ms)) throw new BadInputError(`${where}: ${JSON.stringify(t)} is not a time`);
  return ms;
}
