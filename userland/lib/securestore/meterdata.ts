// The meter domain's data: time series per meter and OBIS register, 15-minute values for years,
// queried by time range with a cursor, deleted by retention rules per profile (each deletion a
// chained event of the store).

import { Type as T } from "@sinclair/typebox";
import { ObisSchema, type Reading, ReadingSchema } from "@smgw/ipc";
import { BadInputError, SecureStoreError } from "./errors.ts";
import type { KeyService } from "./keys.ts";
import { checker, isoToMs, Name } from "./schema.ts";
import { type DomainStore, type DomainStoreOptions, openDomainStore } from "./store.ts";
import type { VerifyReport } from "./verify.ts";

export interface StoredReading extends Reading {
  seq: number;
}

export interface ReadingQuery {
  meter: string;
  /** One register; all registers of the meter, merged in time order, when absent. */
  obis?: string;
  /** Inclusive lower bound: ISO time or ms. */
  from?: string | number;
  /** Exclusive upper bound: ISO time or ms. */
  to?: string | number;
  cursor?: string;
  /** Instead of `cursor`: the seq of the last reading of the previous page. */
  after?: number;
  limit?: number;
}

export interface Register {
  meter: string;
  obis: string;
  profile: string;
}

export interface MeterSummary {
  meter: string;
  readings: number;
  last?: string;
}

export interface MeterStoreOptions extends Omit<DomainStoreOptions, "name"> {
  /** Days to keep per profile; a profile without a rule is kept. */
  retention?: Record<string, number>;
  /** Profile of registers appended without one. */
  defaultProfile?: string;
}

/** 15-minute load profiles are kept 25 months: at least the 24 the tariff use cases need. */
export const DEFAULT_RETENTION: Record<string, number> = { "15min": 762 };

const READINGS = "readings";
const REGISTERS = "registers";
const DAY_MS = 86_400_000;
const checkMeter = checker(Name);
const checkObis = checker(ObisSchema);
const checkReading = checker(ReadingSchema);
const RegisterSchema = T.Object(
  { meter: Name, obis: ObisSchema, profile: T.String({ pattern: "^[a-z0-9][a-z0-9-]{0,31}$" }) },
  { additionalProperties: false },
);
const checkRegister = checker(RegisterSchema);
const PROFILE_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

export async function openMeterStore(
  dir: string,
  keys: KeyService,
  options: MeterStoreOptions = {},
): Promise<MeterStore> {
  const retention = options.retention ?? DEFAULT_RETENTION;
  for (const [profile, days] of Object.entries(retention)) {
    if (!PROFILE_PATTERN.test(profile) || !Number.isInteger(days) || days < 1) {
      throw new BadInputError(`retention ${profile}: days must be a positive integer`);
    }
  }
  const store = await openDomainStore(dir, "meter", keys, { ...options, name: "readings" });
  return new MeterStore(store, retention, options.defaultProfile ?? "15min");
}

export class MeterStore {
  readonly store: DomainStore;
  private readonly retention: Record<string, number>;
  private readonly defaultProfile: string;
  private registers = new Map<string, Register>();
  private loaded = false;

  constructor(store: DomainStore, retention: Record<string, number>, defaultProfile: string) {
    this.store = store;
    this.retention = retention;
    this.defaultProfile = defaultProfile;
  }

  private loadRegisters(): void {
    if (this.loaded) return;
    let cursor: string | undefined;
    for (;;) {
      const page = this.store.read({
        stream: REGISTERS,
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      for (const r of page.records) {
        const reg = checkRegister.check(JSON.parse(r.payload.toString("utf8")), "register");
        this.registers.set(seriesOf(reg.meter, reg.obis), reg);
      }
      if (!page.next) break;
      cursor = page.next;
    }
    this.loaded = true;
  }

  /** Store readings of one meter in one commit; all or none. */
  async append(
    meter: string,
    readings: readonly Reading[],
    options: { profile?: string } = {},
  ): Promise<{ stored: number; first: number; last: number }> {
    checkMeter.check(meter, "meter");
    if (!Array.isArray(readings) || readings.length === 0) {
      throw new BadInputError("readings: at least one reading");
    }
    if (options.profile !== undefined && !PROFILE_PATTERN.test(options.profile)) {
      throw new BadInputError(`profile ${JSON.stringify(options.profile)} is not a profile name`);
    }
    this.loadRegisters();
    const records = [];
    const added = new Map<string, Register>();
    for (const [i, raw] of readings.entries()) {
      const r = checkReading.check(raw, `readings[${i}]`);
      const ms = isoToMs(r.capturedAt);
      if (ms === undefined) throw new BadInputError(`readings[${i}].capturedAt is not a time`);
      if (!Number.isFinite(r.value)) throw new BadInputError(`readings[${i}].value is not finite`);
      const series = seriesOf(meter, r.obis);
      const known = added.get(series) ?? this.registers.get(series);
      const profile = options.profile ?? known?.profile ?? this.defaultProfile;
      if (!known || known.profile !== profile) {
        const reg = { meter, obis: r.obis, profile };
        added.set(series, reg);
        records.push({
          stream: REGISTERS,
          time: ms,
          payload: Buffer.from(JSON.stringify(reg)),
        });
      }
      records.push({ stream: READINGS, series, time: ms, payload: encodeReading(r, ms) });
    }
    const { first, last } = await this.store.append(records);
    for (const [k, v] of added) this.registers.set(k, v);
    return { stored: readings.length, first, last };
  }

  /** Readings in time order, a page at a time (`next` is the cursor of the following page). */
  query(q: ReadingQuery): { readings: StoredReading[]; next?: string } {
    checkMeter.check(q.meter, "meter");
    if (q.obis !== undefined) checkObis.check(q.obis, "obis");
    this.loadRegisters();
    const series =
      q.obis !== undefined
        ? [seriesOf(q.meter, q.obis)]
        : [...this.registers.values()]
            .filter((r) => r.meter === q.meter)
            .map((r) => seriesOf(r.meter, r.obis));
    if (series.length === 0) return { readings: [] };
    const page = this.store.read({
      stream: READINGS,
      series,
      ...(q.from !== undefined ? { from: toMs(q.from, "from") } : {}),
      ...(q.to !== undefined ? { to: toMs(q.to, "to") } : {}),
      ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      ...(q.after !== undefined ? { after: q.after } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
    });
    const readings = page.records.map((r) => ({
      seq: r.seq,
      ...decodeReading(r.payload, obisOf(r.series ?? ""), r.time),
    }));
    return page.next ? { readings, next: page.next } : { readings };
  }

  /** The registers known for a meter (or all). */
  registersOf(meter?: string): Register[] {
    this.loadRegisters();
    return [...this.registers.values()].filter((r) => meter === undefined || r.meter === meter);
  }

  /** Meters with their number of stored readings and the time of the newest. */
  listMeters(only?: readonly string[]): MeterSummary[] {
    this.loadRegisters();
    const names = only ?? [...new Set([...this.registers.values()].map((r) => r.meter))].sort();
    return names.map((meter) => {
      let readings = 0;
      let last: number | undefined;
      for (const r of this.registers.values()) {
        if (r.meter !== meter) continue;
        const series = seriesOf(r.meter, r.obis);
        readings += this.store.count(READINGS, series);
        const t = this.store.lastTime(READINGS, series);
        if (t !== undefined && (last === undefined || t > last)) last = t;
      }
      return last === undefined
        ? { meter, readings }
        : { meter, readings, last: new Date(last).toISOString() };
    });
  }

  /**
   * Delete readings older than their profile's retention. Each register's deletion is one
   * chained event in the store, naming the register, the cut-off, the count and the rule.
   */
  async applyRetention(
    now = Date.now(),
  ): Promise<{ meter: string; obis: string; profile: string; deleted: number; event?: number }[]> {
    this.loadRegisters();
    const out = [];
    for (const r of this.registers.values()) {
      const days = this.retention[r.profile];
      if (days === undefined) continue;
      const before = now - days * DAY_MS;
      const res = await this.store.deleteBefore(
        READINGS,
        seriesOf(r.meter, r.obis),
        before,
        `retention of profile ${r.profile}: ${days} days`,
      );
      if (res.deleted > 0) out.push({ ...r, ...res });
    }
    return out;
  }

  verify(): Promise<VerifyReport> {
    return this.store.verify();
  }

  rotateKey(options?: Parameters<DomainStore["rotateKey"]>[0]) {
    return this.store.rotateKey(options);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function seriesOf(meter: string, obis: string): string {
  return `${meter} ${obis}`;
}

function obisOf(series: string): string {
  return series.slice(series.indexOf(" ") + 1);
}

function toMs(t: string | number, where: string): number {
  if (typeof t === "number") return t;
  const ms = typeof t === "string" ? isoToMs(t) : undefined;
  if (ms === undefined) throw new BadInputError(`${where}: ${JSON.stringify(t)} is not a time`);
  return ms;
}

const textEncoder = new TextEncoder();

/** value f64, status u32, unit, and the capture time's text when it is not the canonical one. */
function encodeReading(r: Reading, ms: number): Buffer {
  const unit = textEncoder.encode(r.unit);
  const iso =
    r.capturedAt === new Date(ms).toISOString()
      ? new Uint8Array(0)
      : textEncoder.encode(r.capturedAt);
  const b = Buffer.alloc(1 + 8 + 4 + 1 + unit.length + 1 + iso.length);
  let o = b.writeUInt8(1, 0);
  o = b.writeDoubleBE(r.value, o);
  o = b.writeUInt32BE(r.status, o);
  o = b.writeUInt8(unit.length, o);
  b.set(unit, o);
  o += unit.length;
  o = b.writeUInt8(iso.length, o);
  b.set(iso, o);
  return b;
}

function decodeReading(b: Buffer, obis: string, ms: number): Reading {
  // Authenticated bytes this module wrote; the checks catch a format it does not know.
  const unitLen = b.length > 14 ? (b[13] as number) : -1;
  const isoLen = unitLen >= 0 && b.length > 14 + unitLen ? (b[14 + unitLen] as number) : -1;
  if (b[0] !== 1 || isoLen < 0 || 15 + unitLen + isoLen !== b.length) {
    throw new SecureStoreError("io", "stored reading has an unknown encoding");
  }
  return {
    obis,
    value: b.readDoubleBE(1),
    unit: b.toString("utf8", 14, 14 + unitLen),
    capturedAt:
      isoLen > 0 ? b.toString("utf8", 15 + unitLen, b.length) : new Date(ms).toISOString(),
    status: b.readUInt32BE(9),
  };
}
