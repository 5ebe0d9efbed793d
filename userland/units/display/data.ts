// What a consumer may see, fetched through the IFM on their behalf. Every meter is checked
// against the consumer's meters from the policy here, before anything is asked; the IFM checks
// the same rule again (scope consumer-own-meters), and the storage reads within that scope.
import {
  type Ar2418Document,
  fnnStatusWord,
  type MeterReadingInput,
  obisToHex,
  uomOf,
  writeAr2418,
} from "@smgw/ar2418";
import type { ConsumerLogEntry, MessageType, RequestBody, ResponseBody } from "@smgw/ipc";
import type { RuleTable } from "@smgw/policy";
import { decodeStatusWord } from "@smgw/sml";
import type { Step } from "./schemas.ts";
import { aggregate, bucketBounds, kindOf, type TimedValue } from "./series.ts";

/** The part of the IFM client the display uses (IpcClient has it; tests pass a fake). */
export interface IfmClient {
  request<M extends MessageType>(
    to: string,
    type: M,
    body: RequestBody<M>,
    options?: { onBehalfOf?: string },
  ): Promise<ResponseBody<M>>;
}

/** An answer the API gives instead of data, with its HTTP status. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Ranges a chart or an export may span. */
export const MAX_RANGE_DAYS = 400;
/** Readings read for one chart (a year of quarter hours is 35,040). */
export const MAX_SERIES_READINGS = 60_000;
/** Readings in one export: a year of quarter hours for five registers. */
export const MAX_EXPORT_READINGS = 200_000;
const DEFAULT_OBIS = "1-0:1.8.0*255";
const LOOKAHEAD = 15 * 60_000;

type Reading = ResponseBody<"storage.query-readings">["readings"][number];

export interface ExportIdentity {
  gatewayId: string;
  version: string;
}

export class ConsumerData {
  constructor(
    private readonly ifm: IfmClient,
    private readonly table: RuleTable,
  ) {}

  ownMeters(account: string): string[] {
    return Object.hasOwn(this.table.consumers, account)
      ? [...(this.table.consumers[account] ?? [])]
      : [];
  }

  /** Refuse a meter that is not the consumer's, exactly as one that does not exist. */
  assertOwn(account: string, meter: string): void {
    if (!this.ownMeters(account).includes(meter)) {
      throw new ApiError(404, "not-found", "no such meter");
    }
  }

  async meters(account: string) {
    const own = new Set(this.ownMeters(account));
    const r = await this.ifm.request("storage", "storage.list-meters", {}, { onBehalfOf: account });
    return {
      meters: r.meters
        .filter((m) => own.has(m.meter))
        .map((m) => {
          const id = this.table.meters[m.meter]?.id;
          return {
            meter: m.meter,
            ...(id ? { meterId: id } : {}),
            readings: m.readings,
            ...(m.last ? { last: m.last } : {}),
          };
        }),
    };
  }

  async readings(account: string, body: RequestBody<"storage.query-readings">) {
    this.assertOwn(account, body.meter);
    return this.ifm.request("storage", "storage.query-readings", body, { onBehalfOf: account });
  }

  /** The latest value of each register, from the hour before the meter's last reading. */
  async current(account: string, meter: string) {
    this.assertOwn(account, meter);
    const list = await this.ifm.request(
      "storage",
      "storage.list-meters",
      {},
      { onBehalfOf: account },
    );
    const last = list.meters.find((m) => m.meter === meter)?.last;
    if (!last) return { meter, values: [] };
    const end = Date.parse(last);
    const readings = await this.all(
      account,
      {
        meter,
        from: new Date(end - 3_600_000).toISOString(),
        to: new Date(end + 1).toISOString(),
      },
      5_000,
    );
    const latest = new Map<string, Reading>();
    for (const r of readings.readings) {
      const seen = latest.get(r.obis);
      if (!seen || Date.parse(r.capturedAt) >= Date.parse(seen.capturedAt)) latest.set(r.obis, r);
    }
    return {
      meter,
      values: [...latest.values()]
        .sort((a, b) => a.obis.localeCompare(b.obis, "en", { numeric: true }))
        .map((r) => ({ obis: r.obis, value: r.value, unit: r.unit, capturedAt: r.capturedAt })),
    };
  }

  async series(
    account: string,
    meter: string,
    q: { from: string; to: string; obis?: string; step: Step },
  ) {
    this.assertOwn(account, meter);
    const from = Date.parse(q.from);
    const to = Date.parse(q.to);
    const bounds = bucketBounds(from, to, q.step);
    if (!bounds) {
      throw new ApiError(
        400,
        "too-many-points",
        "the range has too many buckets for this step; use a coarser step",
      );
    }
    const obis = q.obis ?? DEFAULT_OBIS;
    const kind = kindOf(obis);
    const end = bounds[bounds.length - 1] ?? to;
    // A little past the end: the reading that closes the last interval (gateway-stamped, so
    // it may arrive a few seconds after the quarter hour).
    const got = await this.all(
      account,
      {
        meter,
        obis,
        from: new Date(bounds[0] ?? from).toISOString(),
        to: new Date(end + (kind === "consumption" ? LOOKAHEAD : 0)).toISOString(),
      },
      MAX_SERIES_READINGS,
    );
    const sorted: TimedValue[] = got.readings
      .map((r) => ({ t: Date.parse(r.capturedAt), v: r.value }))
      .sort((a, b) => a.t - b.t);
    const values = aggregate(sorted, bounds, kind);
    const points = values.map((value, i) => ({
      start: new Date(bounds[i] as number).toISOString(),
      value,
    }));
    const unit = got.readings[0]?.unit;
    const total =
      kind === "consumption"
        ? Math.round(values.reduce<number>((s, v) => s + (v ?? 0), 0) * 1e6) / 1e6
        : undefined;
    return {
      meter,
      obis,
      ...(unit ? { unit } : {}),
      kind,
      step: q.step,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      points,
      ...(total !== undefined ? { total } : {}),
      truncated: got.truncated,
    };
  }

  async tariff(account: string, meter: string) {
    this.assertOwn(account, meter);
    const r = await this.ifm.request(
      "storage",
      "storage.tariff-registers",
      { meter },
      { onBehalfOf: account },
    );
    return { meter, ...r };
  }

  async log(account: string, body: RequestBody<"storage.consumer-log">) {
    if (body.meter !== undefined) this.assertOwn(account, body.meter);
    const own = new Set(this.ownMeters(account));
    const r = await this.ifm.request("storage", "storage.consumer-log", body, {
      onBehalfOf: account,
    });
    // Only the consumer's own entries, and of those not the ones about a meter that is no
    // longer theirs (the storage should not send either; this is the second line).
    const entries = r.entries.filter(
      (e) => e.consumer === account && (e.meter === undefined || own.has(e.meter)),
    );
    return r.next === undefined ? { entries } : { entries, next: r.next };
  }

  /** The calibration log's entries about the consumer's meters (and gateway-wide ones). */
  async calibration(account: string, body: RequestBody<"storage.calibration-log">) {
    if (body.meter !== undefined) this.assertOwn(account, body.meter);
    const own = new Set(this.ownMeters(account));
    const r = await this.ifm.request("storage", "storage.calibration-log", body, {
      onBehalfOf: account,
    });
    // The second line again: nothing about a meter that is not the consumer's.
    const entries = r.entries.filter((e) => e.meter === undefined || own.has(e.meter));
    return r.next === undefined ? { entries } : { entries, next: r.next };
  }

  /** The consumer's data of one meter as an AR 2418-6 document (TRuDI reads it). */
  async exportXml(
    account: string,
    meter: string,
    range: { from: string; to: string },
    id: ExportIdentity,
  ): Promise<{ xml: string; skipped: string[] }> {
    this.assertOwn(account, meter);
    const from = Date.parse(range.from);
    const to = Date.parse(range.to);
    const got = await this.all(
      account,
      { meter, from: range.from, to: range.to },
      MAX_EXPORT_READINGS,
    );
    if (got.truncated) {
      throw new ApiError(
        413,
        "export-too-large",
        `the range holds more than ${MAX_EXPORT_READINGS} readings; export a shorter range`,
      );
    }
    const log: ConsumerLogEntry[] = [];
    let after: number | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await this.log(account, {
        meter,
        from: range.from,
        to: range.to,
        limit: 1000,
        ...(after !== undefined ? { after } : {}),
      });
      log.push(...r.entries);
      if (r.next === undefined) break;
      after = r.next;
    }
    let tariffName: string | undefined;
    try {
      tariffName = (await this.tariff(account, meter)).tariff?.name;
    } catch {
      // No tariff information is not a reason to refuse the readings.
    }
    const meterId = this.table.meters[meter]?.id ?? meter;
    const groups = new Map<string, Reading[]>();
    for (const r of got.readings) {
      const k = `${r.obis} ${r.unit}`;
      const g = groups.get(k);
      if (g) g.push(r);
      else groups.set(k, [r]);
    }
    const skipped: string[] = [];
    const meterReadings: MeterReadingInput[] = [];
    for (const [k, rs] of [...groups].sort(([a], [b]) =>
      a.localeCompare(b, "en", { numeric: true }),
    )) {
      const first = rs[0] as Reading;
      if (!uomOf(first.unit)) {
        skipped.push(k);
        continue;
      }
      const hex = obisToHex(first.obis);
      rs.sort((a, b) => Date.parse(a.capturedAt) - Date.parse(b.capturedAt) || a.seq - b.seq);
      meterReadings.push({
        meterId,
        meterReadingId: `${meterId}.${hex}`,
        obis: first.obis,
        unit: first.unit,
        qualifiedLogicalName: `${hex}.${meterId}.sm`,
        interval: { start: from, durationSeconds: Math.round((to - from) / 1000) },
        readings: rs.map((r) => {
          const status = decodeStatusWord(r.status);
          return {
            time: Date.parse(r.capturedAt),
            value: r.value,
            ...(status.format === "fnn-basic-meter"
              ? { statusFNN: fnnStatusWord(0x05, r.status), statusPTB: status.ptbStatus ?? 0 }
              : {}),
          };
        }),
      });
    }
    const levels = { info: 1, warning: 2, error: 3, fatal: 4 } as const;
    const doc: Ar2418Document = {
      generatorVersion: `smgw display ${id.version}`,
      usagePoint: {
        serviceKind: 0,
        usagePointId: meterId,
        customerId: account,
        smgwId: id.gatewayId,
        firmwareVersion: id.version,
        ...(tariffName ? { tariffName } : {}),
        logEntries: log.map((e) => ({
          recordNumber: e.seq,
          level: levels[e.level],
          text: e.text,
          outcome: e.outcome === "success" ? 0 : 1,
          timestamp: Date.parse(e.at),
        })),
        meterReadings,
      },
    };
    return { xml: writeAr2418(doc), skipped };
  }

  /** All pages of a reading query, up to `max` readings. */
  private async all(
    account: string,
    body: RequestBody<"storage.query-readings">,
    max: number,
  ): Promise<{ readings: Reading[]; truncated: boolean }> {
    const readings: Reading[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await this.ifm.request(
        "storage",
        "storage.query-readings",
        { ...body, limit: 1000, ...(after !== undefined ? { after } : {}) },
        { onBehalfOf: account },
      );
      readings.push(...page.readings);
      if (page.next === undefined) return { readings, truncated: false };
      if (readings.length >= max) return { readings: readings.slice(0, max), truncated: true };
      after = page.next;
    }
  }
}
