// The tariff use cases running in the meter domain. Each profile of the policy gets a runtime:
// its meters' readings (only those storage has acknowledged) become a measurement series per
// meter (lib/taf MeasurementSeries: one point per period boundary, ±1 % per PTB-A 50.8), and
//
//   TAF7  collects the points and delivers them every `deliverEverySeconds`;
//   TAF2  books them into tariff-stage registers by the supplier's switching program (lib/taf
//         Taf2Accumulator, the same registers as TRuDI) and delivers each closed billing period;
//   TAF1  keeps the register at the billing period's start and end and delivers the consumption.
//
// A delivery is an AR 2418-6 document (pseudonymised where the profile says so), signed as CMS
// with the gateway's signature key and committed to the profile's outbox in the same storage
// commit as the state that produced it; the DeliveryLoop sends it. After a restart the runtime
// resumes from its last committed state. Between boundaries nothing is committed: a crash there
// costs at most the readings since the last boundary for deciding the next point, which is then
// decided from the readings after the restart (or recorded as missing).
//
// The calibration log learns, per meter, which tariff (by its file's SHA-256) a TAF1/TAF2
// profile bills by and from when, a tariff that cannot follow the running one, and every
// closed billing period with its registers. These events go with the profile's next commit,
// which storage makes only after it has logged them.
import type { Logger } from "@smgw/daemon";
import type { CalibrationEvent, Delivery, IpcClient, ProfileRegisters, Reading } from "@smgw/ipc";
import type { MeterEntry, Profile } from "@smgw/policy";
import {
  accumulatorFromJSON,
  createAccumulator,
  MeasurementSeries,
  type PeriodResult,
  type SeriesPoint,
  type SupplierDocument,
  type Taf1Accumulator,
  type Taf2Accumulator,
} from "@smgw/taf";
import { billingDocument, type Identity, seriesDocument } from "./payload.ts";
import type { DeliverySigner } from "./signer.ts";

type Accumulator = Taf1Accumulator | Taf2Accumulator;
type Ifm = Pick<IpcClient, "request">;

/** The register a profile uses for a meter: the meter's main cumulative register. */
export function registerOf(meter: MeterEntry): { obis: string; unit: string } {
  switch (meter.wmbus?.medium ?? "electricity") {
    case "electricity":
      return { obis: "1-0:1.8.0*255", unit: "Wh" };
    case "heat":
      return { obis: "6-0:1.0.0*255", unit: "Wh" };
    case "water":
      return { obis: "8-0:1.0.0*255", unit: "m³" };
    case "gas":
      return { obis: "7-0:3.0.0*255", unit: "m³" };
  }
}

/** A document to deliver, before it is signed. */
interface Prepared {
  xml: string;
  meters: string[];
  summary: string;
}

/** A point as the state keeps it: [time, value or null, statusPTB or null]. */
type CompactPoint = [number, number | null, number | null];

interface MeterState {
  series: unknown;
  accumulator?: unknown;
  /** TAF7: points not delivered yet. */
  pending?: CompactPoint[];
}

interface RuntimeState {
  version: 1;
  meters: Record<string, MeterState>;
  /** TAF7: when the next delivery is due (ms). */
  nextDeliveryAt?: number;
  /** TAF1/TAF2: SHA-256 of the tariff file last recorded in the calibration log. */
  tariffDigest?: string;
}

export interface ProfileRuntimeOptions {
  profile: Profile;
  meters: Record<string, MeterEntry>;
  /** TAF1/TAF2: the supplier's tariff. */
  supplier?: SupplierDocument;
  /** SHA-256 (hex) of the tariff file, for the calibration log. */
  tariffDigest?: string;
  /** Measuring period; the profile's (900 s) unless host mode shortens it. */
  periodSeconds: number;
  /** TAF7 delivery interval. */
  deliverEverySeconds: number;
  ifm: Ifm;
  signer: DeliverySigner;
  identity: Omit<Identity, "pseudonym" | "profileMeters">;
  log: Logger;
  now?: () => number;
  /** Called after a commit that put a delivery into the outbox. */
  onDelivery?: () => void;
}

export interface ProfileCounters {
  points: number;
  missing: number;
  refused: number;
  deliveries: number;
  closedPeriods: number;
}

export class ProfileRuntime {
  readonly name: string;
  readonly counters: ProfileCounters = {
    points: 0,
    missing: 0,
    refused: 0,
    deliveries: 0,
    closedPeriods: 0,
  };
  private readonly series = new Map<string, MeasurementSeries>();
  private readonly accumulators = new Map<string, Accumulator>();
  private readonly pending = new Map<string, SeriesPoint[]>();
  private nextDeliveryAt: number | undefined;
  private readonly unsent: Prepared[] = [];
  /** Calibration-log events for the next commit. */
  private readonly calibration: CalibrationEvent[] = [];
  private tariffDigest: string | undefined;
  private readonly now: () => number;
  private queue: Promise<void> = Promise.resolve();

  private constructor(private readonly o: ProfileRuntimeOptions) {
    this.name = o.profile.name;
    this.now = o.now ?? Date.now;
  }

  /** Opens the runtime at its last committed state (or fresh). */
  static async open(o: ProfileRuntimeOptions): Promise<ProfileRuntime> {
    const r = new ProfileRuntime(o);
    const loaded = await o.ifm.request("storage", "storage.profile-load", {
      profile: o.profile.name,
    });
    let state: RuntimeState | undefined;
    if (loaded.state !== undefined) {
      try {
        state = JSON.parse(loaded.state) as RuntimeState;
      } catch {
        o.log.error("profile state unreadable; starting afresh", { profile: r.name });
      }
    }
    for (const meter of o.profile.meters) {
      const entry = o.meters[meter];
      if (!entry) throw new Error(`profile ${r.name}: meter ${meter} is not in the policy`);
      const { obis, unit } = registerOf(entry);
      const saved = state?.meters[meter];
      let series: MeasurementSeries | undefined;
      if (saved) {
        try {
          series = MeasurementSeries.fromJSON(saved.series);
          if (series.periodSeconds !== o.periodSeconds || series.obis !== obis) series = undefined;
        } catch (e) {
          o.log.error("saved series refused; starting afresh", {
            profile: r.name,
            meter,
            error: (e as Error).message,
          });
        }
      }
      r.series.set(
        meter,
        series ?? new MeasurementSeries({ obis, unit, periodSeconds: o.periodSeconds }),
      );
      if (o.profile.useCase === 1 || o.profile.useCase === 2) {
        if (!o.supplier)
          throw new Error(`profile ${r.name}: TAF${o.profile.useCase} needs its tariff`);
        let acc: Accumulator | undefined;
        if (saved?.accumulator !== undefined) {
          try {
            acc = accumulatorFromJSON(saved.accumulator);
          } catch (e) {
            o.log.error("saved registers refused; starting afresh", {
              profile: r.name,
              meter,
              error: (e as Error).message,
            });
          }
        }
        const changed = o.tariffDigest !== undefined && state?.tariffDigest !== o.tariffDigest;
        const tariff = {
          profile: r.name,
          useCase: o.profile.useCase,
          tariffId: o.supplier.analysisProfile.tariffId ?? "",
          sha256: o.tariffDigest ?? "",
        };
        if (acc) {
          // A tariff for the following billing period takes over when the running one ends.
          const next = acc.setNextTariff(o.supplier);
          const running = acc.registers().billingPeriod;
          if (!next.ok && (next.reason !== "tariff-mismatch" || changed)) {
            o.log.warn("the policy's tariff cannot follow the running one", {
              profile: r.name,
              error: next.message,
            });
            if (changed) {
              r.calibration.push({
                event: "tariff.refused",
                meter,
                detail: {
                  ...tariff,
                  reason: next.message.slice(0, 512),
                  runningUntil: running.end,
                },
              });
            }
          } else if (next.ok && changed) {
            r.calibration.push({
              event: "tariff.configured",
              meter,
              detail: { ...tariff, from: running.end },
            });
          }
        } else {
          acc = createAccumulator(o.supplier, { obis, unit });
          if (changed) {
            const period = acc.registers().billingPeriod;
            r.calibration.push({
              event: "tariff.configured",
              meter,
              detail: { ...tariff, from: period.start, billingPeriodEnd: period.end },
            });
          }
        }
        r.accumulators.set(meter, acc);
      }
      r.pending.set(
        meter,
        (saved?.pending ?? []).map(([time, value, statusPTB]) => ({
          obis,
          unit,
          time,
          value: value ?? undefined,
          quality:
            value === null ? "missing" : statusPTB !== null && statusPTB >= 3 ? "invalid" : "ok",
          statusPTB: statusPTB ?? undefined,
          status: undefined,
          capturedAt: undefined,
        })),
      );
    }
    r.nextDeliveryAt = state?.nextDeliveryAt;
    // The tariff file just recorded (configured or refused); it goes into the state with the
    // commit that carries its events, so a crash before that commit records it again.
    r.tariffDigest = o.tariffDigest ?? state?.tariffDigest;
    if (o.profile.useCase === 7 && r.nextDeliveryAt === undefined) {
      r.nextDeliveryAt = r.alignedAfter(r.now(), o.deliverEverySeconds);
    }
    return r;
  }

  /** Readings of one meter that storage has acknowledged. */
  onReadings(meter: string, readings: readonly Reading[]): Promise<void> {
    return this.serial(async () => {
      const series = this.series.get(meter);
      if (!series) return;
      const points: SeriesPoint[] = [];
      for (const r of readings) {
        if (r.obis !== series.obis) continue;
        const added = series.add({ ...r, capturedAt: Date.parse(r.capturedAt) });
        if (!added.ok) {
          this.counters.refused++;
          this.o.log.debug("reading not used by profile", {
            profile: this.name,
            meter,
            reason: added.reason,
            message: added.message,
          });
          continue;
        }
        points.push(...added.points);
      }
      if (points.length > 0) await this.process(new Map([[meter, points]]));
    });
  }

  /** Periodic: decides boundaries no reading came for, and makes TAF7 deliveries when due. */
  tick(): Promise<void> {
    return this.serial(async () => {
      const now = this.now();
      const decided = new Map<string, SeriesPoint[]>();
      for (const [meter, s] of this.series) {
        const points = s.advanceTo(now);
        if (points.length > 0) decided.set(meter, [...points]);
      }
      const due =
        this.o.profile.useCase === 7 &&
        this.nextDeliveryAt !== undefined &&
        now >= this.nextDeliveryAt;
      // Documents a failed commit left behind are retried with the next tick.
      if (decided.size > 0 || due || this.unsent.length > 0 || this.calibration.length > 0)
        await this.process(decided, due);
    });
  }

  /** Registers of the running billing period (TAF1/TAF2), per meter. */
  currentRegisters(): Map<string, PeriodResult> {
    return new Map([...this.accumulators].map(([m, a]) => [m, a.registers()]));
  }

  private serial(f: () => Promise<void>): Promise<void> {
    const run = this.queue.then(f);
    this.queue = run.catch((e) =>
      this.o.log.error("profile step failed", { profile: this.name, error: (e as Error).message }),
    );
    return run;
  }

  private alignedAfter(t: number, seconds: number): number {
    const ms = seconds * 1000;
    return Math.floor(t / ms) * ms + ms;
  }

  private identity(): Identity {
    return {
      ...this.o.identity,
      ...(this.o.profile.pseudonym !== undefined ? { pseudonym: this.o.profile.pseudonym } : {}),
      profileMeters: this.o.profile.meters,
    };
  }

  /** Books the points, builds what is due, and commits state + registers + delivery at once. */
  private async process(points: Map<string, SeriesPoint[]>, taf7Due = false): Promise<void> {
    const closed: { meter: string; result: PeriodResult }[] = [];
    for (const [meter, list] of points) {
      for (const p of list) {
        this.counters.points++;
        if (p.quality === "missing") this.counters.missing++;
        if (this.o.profile.useCase === 7) this.pending.get(meter)?.push(p);
        const acc = this.accumulators.get(meter);
        if (acc) {
          const r = acc.add(p);
          if (!r.ok) {
            this.counters.refused++;
            continue;
          }
          for (const result of r.closed) closed.push({ meter, result });
        }
      }
    }
    // TAF1/TAF2: each closed billing period is delivered, unless it had no readings at all
    // (periods before the gateway ran).
    const byPeriod = new Map<string, { meter: string; result: PeriodResult }[]>();
    for (const c of closed) {
      this.counters.closedPeriods++;
      if (c.result.error?.kind === "NO_READINGS_IN_BILLING_PERIOD") continue;
      this.calibration.push(billingEvent(this.name, c.meter, c.result));
      const key = `${c.result.billingPeriod.start}/${c.result.billingPeriod.end}`;
      byPeriod.set(key, [...(byPeriod.get(key) ?? []), c]);
    }
    // Documents made but not signed and committed yet (a failure last time) go first.
    const documents: Prepared[] = this.unsent.splice(0);
    for (const group of byPeriod.values()) documents.push(this.billingDelivery(group));
    if (taf7Due) {
      // The points leave the state with the delivery that carries them.
      const taken = new Map([...this.pending].map(([m, l]) => [m, l.splice(0)]));
      documents.push(...this.seriesDeliveries(taken));
      this.nextDeliveryAt = this.alignedAfter(this.now(), this.o.deliverEverySeconds);
    }
    const registers = this.registersForDisplay();
    // The outbox takes one delivery per commit; each commit carries the current state.
    const batches: (Prepared | undefined)[] = documents.length === 0 ? [undefined] : documents;
    for (let i = 0; i < batches.length; i++) {
      const doc = batches[i];
      try {
        const delivery = doc ? await this.signed(doc) : undefined;
        // The calibration events ride with the first commit (64 at most per commit).
        const calibration = this.calibration.slice(0, 64);
        const ids = await this.o.ifm.request("storage", "storage.profile-commit", {
          profile: this.name,
          state: JSON.stringify(this.state()),
          ...(i === batches.length - 1 && registers.length > 0 ? { registers } : {}),
          ...(delivery ? { deliveries: [delivery] } : {}),
          ...(calibration.length > 0 ? { calibration } : {}),
        });
        this.calibration.splice(0, calibration.length);
        if (ids.deliveries.length > 0) {
          this.counters.deliveries += ids.deliveries.length;
          this.o.onDelivery?.();
        }
      } catch (e) {
        // Nothing made is lost: the documents wait in memory to be signed and committed with
        // the next step; the state (which only moved forward) goes with them.
        this.unsent.push(...documents.slice(i));
        throw e;
      }
    }
  }

  /** One document per meter: a day of quarter hours stays far below a delivery's size limit. */
  private seriesDeliveries(taken: Map<string, SeriesPoint[]>): Prepared[] {
    const out: Prepared[] = [];
    for (const [meter, list] of taken) {
      if (list.length === 0) continue;
      const times = list.map((p) => p.time);
      const from = new Date(Math.min(...times)).toISOString();
      const to = new Date(Math.max(...times)).toISOString();
      const xml = seriesDocument(this.name, this.identity(), [
        {
          meter,
          meterId: this.o.meters[meter]?.id ?? meter,
          obis: this.series.get(meter)?.obis ?? "",
          unit: this.series.get(meter)?.unit ?? "",
          periodSeconds: this.o.periodSeconds,
          points: list.map((p) => ({ time: p.time, value: p.value, statusPTB: p.statusPTB ?? 0 })),
        },
      ]);
      out.push({ xml, meters: [meter], summary: `TAF7 series of ${meter} ${from} to ${to}` });
    }
    return out;
  }

  private billingDelivery(group: { meter: string; result: PeriodResult }[]): Prepared {
    const first = group[0]?.result;
    if (!first) throw new Error("empty billing group");
    const start = Date.parse(first.billingPeriod.start);
    const end = Date.parse(first.billingPeriod.end);
    const failed = group.filter((g) => g.result.error !== undefined);
    for (const f of failed) {
      this.o.log.warn("billing period not billable", {
        profile: this.name,
        meter: f.meter,
        kind: f.result.error?.kind,
        error: f.result.error?.message,
      });
    }
    const xml = billingDocument(
      this.name,
      this.identity(),
      { start, end },
      group
        .filter((g) => g.result.error === undefined)
        .map((g) => ({
          meter: g.meter,
          meterId: this.o.meters[g.meter]?.id ?? g.meter,
          unit: g.result.registers[0]?.unit ?? "Wh",
          registers: g.result.registers.map((r) => ({ obis: r.obis, amount: r.amount })),
        })),
    );
    return {
      xml,
      meters: group.map((g) => g.meter),
      summary: `TAF${first.tariffUseCase} billing period ${first.billingPeriod.start} to ${first.billingPeriod.end}${failed.length > 0 ? ` (${failed.length} meter(s) not billable)` : ""}`,
    };
  }

  private async signed(doc: Prepared): Promise<Delivery> {
    const cms = await this.o.signer.sign(new TextEncoder().encode(doc.xml));
    return {
      recipient: this.o.profile.recipient,
      contentType: "application/pkcs7-mime",
      payload: Buffer.from(cms).toString("base64"),
      meters: doc.meters,
      summary: doc.summary.slice(0, 200),
    };
  }

  private registersForDisplay(): ProfileRegisters[] {
    const out: ProfileRegisters[] = [];
    for (const [meter, acc] of this.accumulators) {
      const r = acc.registers();
      out.push({
        meter,
        tariff: {
          useCase: r.tariffUseCase,
          id: this.o.supplier?.analysisProfile.tariffId ?? this.name,
          ...(this.o.profile.description ? { name: this.o.profile.description.slice(0, 256) } : {}),
          billingPeriodStart: new Date(Date.parse(r.billingPeriod.start)).toISOString(),
        },
        registers: r.registers.map((g) => ({
          obis: g.obis,
          tariffStage: g.tariffStage,
          value: g.amount,
          unit: g.unit,
          capturedAt: new Date(this.now()).toISOString(),
        })),
      });
    }
    return out;
  }

  private state(): RuntimeState {
    const meters: Record<string, MeterState> = {};
    for (const [meter, s] of this.series) {
      const acc = this.accumulators.get(meter);
      const pending = this.pending.get(meter) ?? [];
      meters[meter] = {
        series: s.toJSON(),
        ...(acc ? { accumulator: acc.toJSON() } : {}),
        ...(pending.length > 0
          ? {
              pending: pending.map(
                (p): CompactPoint => [p.time, p.value ?? null, p.statusPTB ?? null],
              ),
            }
          : {}),
      };
    }
    return {
      version: 1,
      meters,
      ...(this.nextDeliveryAt !== undefined ? { nextDeliveryAt: this.nextDeliveryAt } : {}),
      ...(this.tariffDigest !== undefined ? { tariffDigest: this.tariffDigest } : {}),
    };
  }
}

/** A closed billing period of one meter for the calibration log: its span and its registers. */
function billingEvent(profile: string, meter: string, r: PeriodResult): CalibrationEvent {
  const detail: CalibrationEvent["detail"] = {
    profile,
    useCase: r.tariffUseCase,
    start: r.billingPeriod.start,
    end: r.billingPeriod.end,
  };
  if (r.error) {
    detail.error = r.error.kind;
    detail.message = r.error.message.slice(0, 512);
    return { event: "billing.period-not-billable", meter, detail };
  }
  // One detail field per register (a TAF2 tariff has a few stages; the detail holds 32 fields).
  for (const g of r.registers.slice(0, 24)) detail[g.obis] = g.amount;
  detail.unit = r.registers[0]?.unit ?? "Wh";
  return { event: "billing.period-closed", meter, detail };
}
