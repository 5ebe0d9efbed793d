// A stand-in for the IFM and the units behind it, for tests and the benchmark. The IFM part
// does what the broker does for the display's requests: checks the body against its contract,
// asks the rule table (`decide` from @smgw/policy) with the consumer the request is made for,
// passes the consumer's scope, and checks the answer against its contract. The storage part
// keeps readings in SQLite with the query shape of units/storage, the consumer log, the
// calibration log and the tariff registers, and reads only within the scope it is given.
import { Database } from "bun:sqlite";
import {
  type CalibrationLogEntry,
  type ConsumerLogEntry,
  contractOf,
  IpcError,
  type MessageType,
  type Reading,
  type RequestBody,
  type ResponseBody,
  type Scope,
  type TariffRegister,
} from "@smgw/ipc";
import { decide, type RuleTable, type UnitName } from "@smgw/policy";
import type { IfmClient } from "../data.ts";

type StoredReading = ResponseBody<"storage.query-readings">["readings"][number];

export interface FakeStorageOptions {
  /** Simulate a broken storage that ignores the scope (to test the display's own check). */
  ignoreScope?: boolean;
}

export class FakeStorage {
  readonly db: Database;
  private readonly insert;
  private readonly insertLog;
  private readonly tariffs = new Map<string, ResponseBody<"storage.tariff-registers">>();
  private readonly calibration: CalibrationLogEntry[] = [];

  constructor(private readonly options: FakeStorageOptions = {}) {
    this.db = new Database(":memory:", { strict: true });
    this.db.exec(`CREATE TABLE readings (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      meter TEXT NOT NULL,
      obis TEXT NOT NULL,
      value REAL NOT NULL,
      unit TEXT NOT NULL,
      captured_at TEXT NOT NULL,
      captured_ms INTEGER NOT NULL,
      status INTEGER NOT NULL
    );
    CREATE INDEX readings_by_meter ON readings (meter, captured_ms, seq);
    CREATE TABLE consumer_log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      consumer TEXT NOT NULL,
      meter TEXT,
      at TEXT NOT NULL,
      at_ms INTEGER NOT NULL,
      level TEXT NOT NULL,
      outcome TEXT NOT NULL,
      text TEXT NOT NULL
    );`);
    this.insert = this.db.prepare(
      "INSERT INTO readings (meter, obis, value, unit, captured_at, captured_ms, status) VALUES ($meter, $obis, $value, $unit, $capturedAt, $capturedMs, $status)",
    );
    this.insertLog = this.db.prepare(
      "INSERT INTO consumer_log (consumer, meter, at, at_ms, level, outcome, text) VALUES ($consumer, $meter, $at, $atMs, $level, $outcome, $text)",
    );
  }

  addReadings(meter: string, readings: readonly Reading[]): void {
    this.db.transaction((rows: readonly Reading[]) => {
      for (const r of rows) {
        this.insert.run({ meter, ...r, capturedMs: Date.parse(r.capturedAt) });
      }
    })(readings);
  }

  addLog(consumer: string, entry: Omit<ConsumerLogEntry, "seq" | "consumer">): void {
    this.insertLog.run({
      consumer,
      meter: entry.meter ?? null,
      at: entry.at,
      atMs: Date.parse(entry.at),
      level: entry.level,
      outcome: entry.outcome,
      text: entry.text,
    });
  }

  setTariff(meter: string, t: ResponseBody<"storage.tariff-registers">): void {
    this.tariffs.set(meter, t);
  }

  private inScope(scope: Scope | undefined, meter: string): boolean {
    return this.options.ignoreScope === true || (scope?.meters.includes(meter) ?? false);
  }

  queryReadings(
    q: RequestBody<"storage.query-readings">,
    scope: Scope | undefined,
  ): ResponseBody<"storage.query-readings"> {
    if (!this.inScope(scope, q.meter)) {
      throw new IpcError("denied", `meter ${q.meter} is outside the request's consumer scope`);
    }
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

  listMeters(scope: Scope | undefined): ResponseBody<"storage.list-meters"> {
    if (!scope && !this.options.ignoreScope) {
      throw new IpcError("denied", "listing meters needs a consumer scope");
    }
    const rows = this.db
      .query(
        "SELECT meter, COUNT(*) AS readings, MAX(captured_at) AS last FROM readings GROUP BY meter ORDER BY meter",
      )
      .all() as { meter: string; readings: number; last: string }[];
    const known = new Map(rows.map((r) => [r.meter, r]));
    const names = this.options.ignoreScope ? rows.map((r) => r.meter) : (scope?.meters ?? []);
    return {
      meters: names.map((m) => {
        const r = known.get(m);
        return r ? { meter: m, readings: r.readings, last: r.last } : { meter: m, readings: 0 };
      }),
    };
  }

  tariffRegisters(
    q: RequestBody<"storage.tariff-registers">,
    scope: Scope | undefined,
  ): ResponseBody<"storage.tariff-registers"> {
    if (!this.inScope(scope, q.meter)) {
      throw new IpcError("denied", `meter ${q.meter} is outside the request's consumer scope`);
    }
    return this.tariffs.get(q.meter) ?? { registers: [] };
  }

  consumerLog(
    q: RequestBody<"storage.consumer-log">,
    scope: Scope | undefined,
  ): ResponseBody<"storage.consumer-log"> {
    if (!scope && !this.options.ignoreScope) {
      throw new IpcError("denied", "the consumer log needs a consumer scope");
    }
    if (q.meter !== undefined && !this.inScope(scope, q.meter)) {
      throw new IpcError("denied", `meter ${q.meter} is outside the request's consumer scope`);
    }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const where = ["seq > $after"];
    const params: Record<string, string | number> = { after: q.after ?? 0, limit: limit + 1 };
    if (!this.options.ignoreScope) {
      where.push("consumer = $consumer");
      params.consumer = scope?.consumer ?? "";
    }
    if (q.meter !== undefined) {
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
      .all(params) as (ConsumerLogEntry & { meter: string | null })[];
    const entries = rows.slice(0, limit).map(({ meter, ...e }) => (meter ? { ...e, meter } : e));
    const last = entries[entries.length - 1];
    return rows.length > limit && last ? { entries, next: last.seq } : { entries };
  }

  addCalibration(entry: Omit<CalibrationLogEntry, "seq">): void {
    this.calibration.push({ seq: this.calibration.length + 1, ...entry });
  }

  calibrationLog(
    q: RequestBody<"storage.calibration-log">,
    scope: Scope | undefined,
  ): ResponseBody<"storage.calibration-log"> {
    if (!scope && !this.options.ignoreScope) {
      throw new IpcError("denied", "the calibration log is read for a consumer");
    }
    if (q.meter !== undefined && !this.inScope(scope, q.meter)) {
      throw new IpcError("denied", `meter ${q.meter} is outside the request's consumer scope`);
    }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const from = q.from ? Date.parse(q.from) : Number.NEGATIVE_INFINITY;
    const to = q.to ? Date.parse(q.to) : Number.POSITIVE_INFINITY;
    const rows = this.calibration.filter(
      (e) =>
        e.seq > (q.after ?? 0) &&
        Date.parse(e.at) >= from &&
        Date.parse(e.at) < to &&
        (q.meter !== undefined
          ? e.meter === q.meter
          : e.meter === undefined || this.options.ignoreScope || this.inScope(scope, e.meter)),
    );
    const entries = rows.slice(0, limit);
    const last = entries[entries.length - 1];
    return rows.length > limit && last ? { entries, next: last.seq } : { entries };
  }
}

export interface FakeIfmOptions {
  /** Simulate a broken IFM that forwards without asking the rule table. */
  permissive?: boolean;
  /** The gateway status sysmgmt answers. */
  status?: () => ResponseBody<"status.get">;
}

export function defaultStatus(): ResponseBody<"status.get"> {
  const units = ["admin", "cls", "crypto", "display", "meter", "net", "storage", "tcm"];
  return {
    unit: "sysmgmt",
    version: "0.1.0",
    uptimeSeconds: 3600,
    state: "ok",
    detail: {
      units: Object.fromEntries(units.map((u, i) => [u, { state: "ok", uptimeSeconds: 3500 + i }])),
    },
  };
}

/** The display's connection to a fake IFM with the storage and sysmgmt behind it. */
export class FakeIfm implements IfmClient {
  /** Every request as the IFM saw it, and how it decided. */
  readonly seen: { type: string; onBehalfOf?: string; meter?: string; allowed: boolean }[] = [];

  constructor(
    private readonly table: RuleTable,
    readonly storage: FakeStorage,
    private readonly options: FakeIfmOptions = {},
  ) {}

  async request<M extends MessageType>(
    to: string,
    type: M,
    body: RequestBody<M>,
    options: { onBehalfOf?: string } = {},
  ): Promise<ResponseBody<M>> {
    const contract = contractOf(type);
    if (!contract.request.Check(body)) throw new IpcError("invalid-body", `${type}: bad body`);
    const meter = (body as { meter?: unknown }).meter;
    const decision = this.options.permissive
      ? ({ allowed: true, flow: "test", rule: "test", scope: "consumer-own-meters" } as const)
      : decide(this.table, "display", to as UnitName, type, {
          ...(options.onBehalfOf ? { onBehalfOf: options.onBehalfOf } : {}),
          ...(typeof meter === "string" ? { meter } : {}),
        });
    this.seen.push({
      type,
      ...(options.onBehalfOf ? { onBehalfOf: options.onBehalfOf } : {}),
      ...(typeof meter === "string" ? { meter } : {}),
      allowed: decision.allowed,
    });
    if (!decision.allowed) throw new IpcError("denied", decision.reason);
    const scope: Scope | undefined =
      decision.scope === "consumer-own-meters" && options.onBehalfOf
        ? { consumer: options.onBehalfOf, meters: this.table.consumers[options.onBehalfOf] ?? [] }
        : undefined;
    const answer = this.dispatch(to, type, body, scope);
    if (!contract.response.Check(answer)) {
      throw new IpcError("invalid-response", `${type}: the answer broke its contract`);
    }
    return answer as ResponseBody<M>;
  }

  private dispatch(
    to: string,
    type: MessageType,
    body: unknown,
    scope: Scope | undefined,
  ): unknown {
    const s = this.storage;
    if (to === "sysmgmt" && type === "status.get") {
      return (this.options.status ?? defaultStatus)();
    }
    if (to === "storage") {
      switch (type) {
        case "storage.query-readings":
          return s.queryReadings(body as RequestBody<"storage.query-readings">, scope);
        case "storage.list-meters":
          return s.listMeters(scope);
        case "storage.tariff-registers":
          return s.tariffRegisters(body as RequestBody<"storage.tariff-registers">, scope);
        case "storage.consumer-log":
          return s.consumerLog(body as RequestBody<"storage.consumer-log">, scope);
        case "storage.calibration-log":
          return s.calibrationLog(body as RequestBody<"storage.calibration-log">, scope);
        case "storage.append-log":
          return { seq: 1 };
      }
    }
    throw new IpcError("unavailable", `${to} does not answer ${type} here`);
  }
}

/**
 * Quarter-hour readings of a household meter: import register 1.8.0 (Wh, rising with a daily
 * profile), export register 2.8.0 and the current power 16.7.0. `mark` is added to every
 * energy value's fraction so that a test can tell meters' data apart.
 */
export function generateReadings(o: {
  from: number;
  to: number;
  stepMinutes?: number;
  start?: number;
  mark?: number;
  registers?: readonly ("import" | "export" | "power")[];
}): Reading[] {
  const step = (o.stepMinutes ?? 15) * 60_000;
  const registers = o.registers ?? ["import", "export", "power"];
  const out: Reading[] = [];
  let imported = o.start ?? 12_345_000;
  let exported = 1_000_000;
  const mark = o.mark ?? 0;
  const status = 0x04 | (1 << 8); // FNN basic meter word: identification, start-up threshold
  for (let t = o.from; t < o.to; t += step) {
    const hour = new Date(t).getUTCHours() + new Date(t).getUTCMinutes() / 60;
    // A household: low at night, peaks at noon and in the evening; some sun at midday.
    // Days differ: a repeatable pseudo-random factor per day, more on weekends.
    const day = Math.floor(t / 86_400_000);
    const weekend = [0, 6].includes(new Date(t).getUTCDay()) ? 1.25 : 1;
    const noise = Math.sin(day * 12.9898) * 43_758.5453;
    const factor = (0.75 + 0.5 * (noise - Math.floor(noise))) * weekend;
    const load =
      (120 + 300 * Math.exp(-((hour - 12) ** 2) / 8) + 500 * Math.exp(-((hour - 19) ** 2) / 3)) *
      factor;
    const sun = Math.max(0, 400 * Math.sin(((hour - 6) / 12) * Math.PI)) * (1.5 - factor / 2);
    const wh = Math.round(load * (step / 3_600_000) * 10) / 10;
    const feed = Math.round(Math.max(0, sun - load) * (step / 3_600_000) * 10) / 10;
    imported += wh;
    exported += feed;
    const capturedAt = new Date(t).toISOString();
    if (registers.includes("import")) {
      out.push({
        obis: "1-0:1.8.0*255",
        value: round(imported + mark),
        unit: "Wh",
        capturedAt,
        status,
      });
    }
    if (registers.includes("export")) {
      out.push({
        obis: "1-0:2.8.0*255",
        value: round(exported + mark),
        unit: "Wh",
        capturedAt,
        status,
      });
    }
    if (registers.includes("power")) {
      out.push({
        obis: "1-0:16.7.0*255",
        value: Math.round(load - sun),
        unit: "W",
        capturedAt,
        status,
      });
    }
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function sampleTariff(at: string): ResponseBody<"storage.tariff-registers"> {
  const registers: TariffRegister[] = [
    { obis: "1-0:1.8.0*255", tariffStage: 0, value: 812_345.6, unit: "Wh", capturedAt: at },
    {
      obis: "1-0:1.8.1*255",
      tariffStage: 1,
      value: 512_000.4,
      unit: "Wh",
      capturedAt: at,
      description: "HT",
    },
    {
      obis: "1-0:1.8.2*255",
      tariffStage: 2,
      value: 300_345.2,
      unit: "Wh",
      capturedAt: at,
      description: "NT",
    },
  ];
  return {
    tariff: {
      useCase: 2,
      id: "TAF2-HTNT",
      name: "HT/NT",
      billingPeriodStart: "2026-01-01T00:00:00+01:00",
    },
    registers,
  };
}
