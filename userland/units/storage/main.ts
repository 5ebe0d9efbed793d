// storage: the only unit that writes the data volume. Every domain's data is encrypted under
// that domain's key (wrapped by the crypto manager) and hash-chained, anchored in the security
// module's monotonic counter (lib/securestore): the meter domain's readings and tariff profiles,
// the system log, the consumer log and the calibration log. Which unit may ask what is the
// IFM's decision; the checks here repeat the policy's intent as a second line.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { IpcError } from "@smgw/ipc";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";
import {
  type CalibrationLogEntry,
  openCalibrationLog,
  openConsumerLog,
  openMeterStore,
  openSystemLog,
  ProfileData,
  type QuarantineReport,
  SecureStoreError,
} from "@smgw/securestore";
import { commitProfile, scanCalibration } from "./calibration.ts";
import { CryptoKeyService } from "./keys.ts";

export const main: DaemonMain = async (ctx) => {
  const table = compileRuleTable(await loadPolicyFile(ctx.config.SMGW_POLICY));
  /** The consumer a meter is assigned to, for the consumer log. */
  const consumerOf = (meter: string) =>
    Object.entries(table.consumers).find(([, meters]) => meters.includes(meter))?.[0];
  const dir = path.join(ctx.config.SMGW_STATE_DIR, "secure");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ifm = await connectToIfm(ctx);
  const keys = new CryptoKeyService(ifm);
  const log = {
    warn: (msg: string, fields?: Record<string, unknown>) => ctx.log.warn(msg, fields),
    error: (msg: string, fields?: Record<string, unknown>) => ctx.log.error(msg, fields),
  };
  const quarantined: string[] = [];
  // A store that fails verification is reported and never served (lib/securestore refuses it).
  const onQuarantine = (report: QuarantineReport) => {
    quarantined.push(report.store);
    ctx.log.error("store quarantined", {
      event: "store.quarantined",
      store: report.store,
      problems: report.problems
        .map((p) => `${p.code}: ${p.message}`)
        .join("; ")
        .slice(0, 1000),
    });
  };
  // The crypto manager may start after storage: its keys are needed to open the stores.
  const open = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    for (let wait = 200; ; wait = Math.min(wait * 2, 5000)) {
      try {
        return await f();
      } catch (e) {
        if (e instanceof SecureStoreError && e.code !== "key-service") throw e;
        ctx.log.warn(`${what} not open yet; retrying`, { error: (e as Error).message });
        await Bun.sleep(wait);
      }
    }
  };
  // First start on a freshly provisioned volume: the stores are created at the security
  // module's counters (it may have served an earlier volume). Only once: afterwards a missing
  // store is a deleted store and is quarantined.
  const marker = path.join(dir, ".provisioned");
  const provision = process.env.SMGW_STORAGE_PROVISION === "1" && !existsSync(marker);
  const options = { log, onQuarantine, provision };
  const readings = await open("meter store", () => openMeterStore(dir, keys, options));
  const systemLog = await open("system log", () => openSystemLog(dir, keys, options));
  const consumerLog = await open("consumer log", () => openConsumerLog(dir, keys, options));
  const calibrationLog = await open("calibration log", () =>
    openCalibrationLog(dir, keys, options),
  );
  const profiles = new ProfileData(readings.store);
  if (provision) {
    writeFileSync(marker, new Date().toISOString(), { mode: 0o600 });
    ctx.log.warn("data volume provisioned: stores anchored at the security module's counters");
  }

  /** Store errors become clear IPC errors; nothing else leaks out. */
  const guard = async <T>(f: () => T | Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof SecureStoreError)
        throw new IpcError(e.code === "quarantined" ? "unavailable" : "invalid-body", e.message);
      throw e;
    }
  };
  const inScope = (meter: string, scope?: { meters: string[] }) => {
    if (!scope?.meters.includes(meter)) {
      throw new IpcError("denied", `meter ${meter} is outside the request's consumer scope`);
    }
  };

  ifm.handle("storage.append-readings", (body, { from }) =>
    guard(async () => {
      if (from !== "meter") throw new IpcError("denied", "only the meter domain writes readings");
      const r = await readings.append(body.meter, body.readings);
      return { stored: r.stored };
    }),
  );
  ifm.handle("storage.query-readings", (body, { from, scope }) =>
    guard(async () => {
      inScope(body.meter, scope);
      const page = readings.query(body);
      const last = page.readings[page.readings.length - 1];
      // The consumer log: every flow of a consumer's data, what went to whom and when.
      await consumerLog.append({
        consumer: scope?.consumer ?? "",
        what: "meter-reading",
        to: from,
        meter: body.meter,
        purpose: `${page.readings.length} readings${body.from ? ` from ${body.from}` : ""}${body.to ? ` to ${body.to}` : ""} shown on the HAN`,
      });
      return page.next !== undefined && last
        ? { readings: page.readings, next: last.seq }
        : { readings: page.readings };
    }),
  );
  ifm.handle("storage.list-meters", (_body, { scope }) =>
    guard(() => {
      if (!scope) throw new IpcError("denied", "listing meters needs a consumer scope");
      return { meters: readings.listMeters(scope.meters) };
    }),
  );
  ifm.handle("storage.tariff-registers", (body, { scope }) =>
    guard(() => {
      inScope(body.meter, scope);
      // The billing registers (TAF1/TAF2) of the meter's profile; a meter in no billing
      // profile has none.
      const billed = profiles.registers(body.meter).filter((r) => r.tariff.useCase <= 2);
      const latest = billed.sort((a, b) => a.profile.localeCompare(b.profile))[0];
      return latest ? { tariff: latest.tariff, registers: latest.registers } : { registers: [] };
    }),
  );
  const meterOnly = (from: string) => {
    if (from !== "meter") throw new IpcError("denied", "tariff profiles are the meter domain's");
  };
  ifm.handle("storage.profile-commit", (body, { from }) =>
    guard(async () => {
      meterOnly(from);
      return { deliveries: await commitProfile(profiles, calibrationLog, body) };
    }),
  );
  ifm.handle("storage.profile-load", (body, { from }) =>
    guard(() => {
      meterOnly(from);
      return profiles.load(body.profile);
    }),
  );
  ifm.handle("storage.delivery-next", (body, { from }) =>
    guard(() => {
      meterOnly(from);
      const delivery = profiles.next(body.profile, body.after ?? 0);
      return delivery ? { delivery } : {};
    }),
  );
  ifm.handle("storage.delivery-done", (body, { from }) =>
    guard(async () => {
      meterOnly(from);
      const d = profiles.pending(body.profile, body.id);
      // The consumer log first: each consumer learns that their meters' data went to the EMT.
      // Should the confirmation then fail, the retry logs it again; never the other way round.
      for (const meter of d.meters) {
        const consumer = consumerOf(meter);
        if (!consumer) continue;
        await consumerLog.append({
          consumer,
          what: "meter-reading",
          to: d.recipient,
          meter,
          purpose: `${body.profile}: ${d.summary}`.slice(0, 200),
        });
      }
      await profiles.done(body.profile, body.id, body.receipt);
      return { done: true as const };
    }),
  );
  ifm.handle("storage.consumer-log", (body, { scope }) =>
    guard(() => {
      if (!scope) throw new IpcError("denied", "the consumer log is read only for its consumer");
      if (body.meter !== undefined) inScope(body.meter, scope);
      const page = consumerLog.query(scope.consumer, {
        ...(body.from ? { from: body.from } : {}),
        ...(body.to ? { to: body.to } : {}),
        ...(body.after ? { after: body.after } : {}),
        limit: body.limit ?? 100,
      });
      const entries = page.entries
        .filter((e) => body.meter === undefined || e.meter === body.meter)
        .map((e) => ({
          seq: e.seq,
          consumer: e.consumer,
          at: e.ts,
          level: "info" as const,
          outcome: "success" as const,
          ...(e.meter ? { meter: e.meter } : {}),
          text: `${e.what} to ${e.to}: ${e.purpose}`.slice(0, 2000),
        }));
      const last = page.entries[page.entries.length - 1];
      return page.next !== undefined && last ? { entries, next: last.seq } : { entries };
    }),
  );
  ifm.handle("storage.calibration-append", (body, { from }) =>
    guard(async () => {
      if (from !== "meter") {
        throw new IpcError("denied", "only the meter domain records metrological events");
      }
      let last = 0;
      for (const e of body.entries) last = (await calibrationLog.append(e)).seq;
      return { last };
    }),
  );
  ifm.handle("storage.calibration-log", (body, { scope }) =>
    guard(() => {
      if (!scope) throw new IpcError("denied", "the calibration log is read for a consumer");
      if (body.meter !== undefined) inScope(body.meter, scope);
      // Entries about the consumer's meters (or the one asked for) and gateway-wide ones.
      const wanted = (e: CalibrationLogEntry) =>
        body.meter !== undefined
          ? e.meter === body.meter
          : e.meter === undefined || scope.meters.includes(e.meter);
      return scanCalibration(calibrationLog, body, wanted);
    }),
  );
  ifm.handle("storage.append-log", (body, { from }) =>
    guard(async () => {
      const r = await systemLog.append({
        unit: from,
        event: body.event,
        severity: body.severity,
        detail: body.detail,
      });
      return { seq: r.seq };
    }),
  );
  serveStatus(
    ifm,
    ctx,
    () => ({ quarantined: [...quarantined], meters: readings.listMeters().length }),
    () => quarantined.length > 0,
  );

  return {
    stop: async () => {
      ifm.close();
      await Promise.allSettled([
        readings.close(),
        systemLog.close(),
        consumerLog.close(),
        calibrationLog.close(),
      ]);
    },
    status: () => "serving encrypted, chained stores",
  };
};
