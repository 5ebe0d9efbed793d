// The meter domain's store of readings and the system log, in SQLite (WAL, synchronous
// FULL: an acknowledged write survives a crash or a power cut). Encryption per domain and
// the integrity chain build on this (secure-storage work).
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { ConsumerLogEntry, Reading } from "@smgw/ipc";

export interface StoredReading extends Reading {
  seq: number;
}

export interface ReadingQuery {
  meter: string;
  obis?: string;
  from?: string;
  to?: string;
  limit?: number;
  after?: number;
}

export class ReadingStore {
  private readonly db: Database;
  private readonly insert;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.db = new Database(path.join(dir, "meter.sqlite"), { create: true, strict: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
    this.db.exec(`CREATE TABLE IF NOT EXISTS readings (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      meter TEXT NOT NULL,
      obis TEXT NOT NULL,
      value REAL NOT NULL,
      unit TEXT NOT NULL,
      captured_at TEXT NOT NULL,
      captured_ms INTEGER NOT NULL,
      status INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS readings_by_meter ON readings (meter, captured_ms, seq);
    CREATE TABLE IF NOT EXISTS consumer_log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      consumer TEXT NOT NULL,
      at TEXT NOT NULL,
      at_ms INTEGER NOT NULL,
      level TEXT NOT NULL,
      outcome TEXT NOT NULL,
      meter TEXT,
      text TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS consumer_log_by_consumer ON consumer_log (consumer, seq);
    CREATE TABLE IF NOT EXISTS system_log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      ts TEXT NOT NULL,
      unit TEXT NOT NULL,
      event TEXT NOT NULL,
      severity TEXT NOT NULL,
      detail TEXT NOT NULL
    );`);
    this.insert = this.db.prepare(
      "INSERT INTO readings (meter, obis, value, unit, captured_at, captured_ms, status) VALUES ($meter, $obis, $value, $unit, $capturedAt, $capturedMs, $status)",
    );
  }

  /** Store readings of one meter atomically; returns how many were stored. */
  appendReadings(meter: string, readings: readonly Reading[]): number {
    const tx = this.db.transaction((rows: readonly Reading[]) => {
      for (const r of rows) {
        const ms = Date.parse(r.capturedAt);
        if (!Number.isFinite(ms)) throw new RangeError(`capturedAt ${r.capturedAt} is not a time`);
        if (!Number.isFinite(r.value)) throw new RangeError(`value of ${r.obis} is not finite`);
        this.insert.run({ meter, ...r, capturedMs: ms });
      }
      return rows.length;
    });
    return tx(readings);
  }

  queryReadings(q: ReadingQuery): { readings: StoredReading[]; next?: number } {
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const where = ["meter = $meter", "seq > $after"];
    const params: Record<string, string | number> = {
      meter: q.meter,
      after: q.after ?? 0,
      limit: limit + 1,
    };
    if (q.obis) {
      where.push("obis = $obis");
      params.obis = q.obis;
    }
    if (q.from) {
      where.push("captured_ms >= $from");
      params.from = Date.parse(q.from);
    }
    if (q.to) {
      where.push("captured_ms < $to");
      params.to = Date.parse(q.to);
    }
    const rows = this.db
      .query(
        `SELECT seq, obis, value, unit, captured_at AS capturedAt, status FROM readings WHERE ${where.join(" AND ")} ORDER BY seq LIMIT $limit`,
      )
      .all(params) as StoredReading[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return rows.length > limit && last ? { readings: page, next: last.seq } : { readings: page };
  }

  listMeters(only?: readonly string[]): { meter: string; readings: number; last?: string }[] {
    const rows = this.db
      .query(
        "SELECT meter, COUNT(*) AS readings, MAX(captured_at) AS last FROM readings GROUP BY meter ORDER BY meter",
      )
      .all() as { meter: string; readings: number; last: string }[];
    const known = new Map(rows.map((r) => [r.meter, r]));
    const names = only ?? rows.map((r) => r.meter);
    return names.map((m) => {
      const r = known.get(m);
      return r ? { meter: m, readings: r.readings, last: r.last } : { meter: m, readings: 0 };
    });
  }

  appendLog(
    unit: string,
    event: string,
    severity: string,
    detail: Record<string, unknown>,
  ): number {
    const row = this.db
      .query(
        "INSERT INTO system_log (ts, unit, event, severity, detail) VALUES ($ts, $unit, $event, $severity, $detail) RETURNING seq",
      )
      .get({
        ts: new Date().toISOString(),
        unit,
        event,
        severity,
        detail: JSON.stringify(detail),
      }) as {
      seq: number;
    };
    return row.seq;
  }

  /** Record an information flow concerning a consumer: what, to whom, when. */
  appendConsumerLog(entry: {
    consumer: string;
    meter?: string;
    level?: "info" | "warning" | "error" | "fatal";
    outcome?: "success" | "failure";
    text: string;
  }): number {
    const at = new Date();
    const row = this.db
      .query(
        "INSERT INTO consumer_log (consumer, at, at_ms, level, outcome, meter, text) VALUES ($consumer, $at, $atMs, $level, $outcome, $meter, $text) RETURNING seq",
      )
      .get({
        consumer: entry.consumer,
        at: at.toISOString(),
        atMs: at.getTime(),
        level: entry.level ?? "info",
        outcome: entry.outcome ?? "success",
        meter: entry.meter ?? null,
        text: entry.text.slice(0, 2000),
      }) as { seq: number };
    return row.seq;
  }

  /** One consumer's log entries, oldest first, paged by `seq`. */
  queryConsumerLog(q: {
    consumer: string;
    meter?: string;
    from?: string;
    to?: string;
    limit?: number;
    after?: number;
  }): { entries: ConsumerLogEntry[]; next?: number } {
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const where = ["consumer = $consumer", "seq > $after"];
    const params: Record<string, string | number> = {
      consumer: q.consumer,
      after: q.after ?? 0,
      limit: limit + 1,
    };
    if (q.meter) {
      where.push("meter = $meter");
      params.meter = q.meter;
    }
    if (q.from) {
      where.push("at_ms >= $from");
      params.from = Date.parse(q.from);
    }
    if (q.to) {
      where.push("at_ms < $to");
      params.to = Date.parse(q.to);
    }
    const rows = this.db
      .query(
        `SELECT seq, consumer, at, level, outcome, meter, text FROM consumer_log WHERE ${where.join(" AND ")} ORDER BY seq LIMIT $limit`,
      )
      .all(params) as (Omit<ConsumerLogEntry, "meter"> & { meter: string | null })[];
    const entries = rows.slice(0, limit).map(({ meter, ...e }) => (meter ? { ...e, meter } : e));
    const last = entries[entries.length - 1];
    return rows.length > limit && last ? { entries, next: last.seq } : { entries };
  }

  counts(): { readings: number; systemLog: number } {
    const r = this.db
      .query("SELECT (SELECT COUNT(*) FROM readings) AS a, (SELECT COUNT(*) FROM system_log) AS b")
      .get() as {
      a: number;
      b: number;
    };
    return { readings: r.a, systemLog: r.b };
  }

  close(): void {
    this.db.close();
  }
}
