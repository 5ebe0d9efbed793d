// meter: the LMN domain, the only place meter data enters the gateway and the only place it is
// processed before anything leaves. Meters deliver SML over TCP (each connection from a meter's
// configured address, each SML file naming that meter's server id) and wireless M-Bus telegrams
// through the radio receiver on the LMN (OMS security mode 5 or 7, the meters' keys unwrapped by
// the crypto manager). Readings are validated, stamped with the gateway's clock and handed to
// storage through the IFM; what storage acknowledged feeds the policy's tariff profiles (TAF1,
// TAF2, TAF7), whose signed deliveries the TCM carries to the EMTs. Bad input is logged and
// dropped; the unit keeps serving.
//
// Environment beyond the daemon's:
//   SMGW_LISTEN_ADDRESS          listen here instead of the policy's LMN address (tests)
//   SMGW_TAF_PERIOD_SECONDS      measuring period of all profiles instead of theirs (host mode
//                                shortens it to show the profiles at work; must divide 3600)
//   SMGW_TAF_DELIVERY_SECONDS    TAF7 delivery interval instead of the profiles' (host mode)
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";
import { parseSupplier } from "@smgw/taf";
import { signatureChainFile } from "@smgw/unit-tcm/provision.ts";
import { CalibrationRecorder } from "./calibration.ts";
import { DeliveryLoop } from "./delivery.ts";
import { loadMeterKeys } from "./keys.ts";
import { type IngestCounters, startLmnListener } from "./lmn.ts";
import { ProfileRuntime } from "./profiles.ts";
import { loadSigner } from "./signer.ts";
import {
  newWmbusCounters,
  startWmbusRadio,
  type WmbusMeter,
  type WmbusRadio,
} from "./wmbus-radio.ts";

function envSeconds(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 86400)
    throw new Error(`${name} must be 1 to 86400 seconds`);
  return n;
}

export const main: DaemonMain = async (ctx) => {
  const policy = await loadPolicyFile(ctx.config.SMGW_POLICY);
  const table = compileRuleTable(policy);
  const tcp = table.listeners.find((l) => l.unit === "meter" && l.protocol === "tcp");
  const udp = table.listeners.find((l) => l.unit === "meter" && l.protocol === "udp");
  if (!tcp && !udp) throw new Error("the policy gives the meter domain no LMN listener");
  const periodOverride = envSeconds("SMGW_TAF_PERIOD_SECONDS");
  const deliveryOverride = envSeconds("SMGW_TAF_DELIVERY_SECONDS");
  const ifm = await connectToIfm(ctx);
  const problems: string[] = [];
  const calibration = new CalibrationRecorder(ifm, ctx.log);

  // --- the tariff profiles -------------------------------------------------------------------
  const profiles = new Map<string, ProfileRuntime>();
  const loops: DeliveryLoop[] = [];
  const byMeter = new Map<string, ProfileRuntime[]>();
  const profileList = Object.values(policy.profiles);
  if (profileList.length > 0) {
    try {
      const signer = loadSigner(signatureChainFile(ctx.config.SMGW_STATE_DIR), ifm);
      for (const p of profileList) {
        const tariffFile =
          p.tariff !== undefined
            ? readFileSync(path.join(path.dirname(ctx.config.SMGW_POLICY), p.tariff))
            : undefined;
        const supplier = tariffFile ? parseSupplier(tariffFile) : undefined;
        const loop = new DeliveryLoop(p.name, ifm, ctx.log, {
          sender: p.pseudonym ?? signer.gatewayName,
        });
        const runtime = await ProfileRuntime.open({
          profile: p,
          meters: table.meters,
          ...(supplier && tariffFile
            ? { supplier, tariffDigest: createHash("sha256").update(tariffFile).digest("hex") }
            : {}),
          periodSeconds: periodOverride ?? p.periodSeconds ?? 900,
          deliverEverySeconds: deliveryOverride ?? p.deliverEverySeconds ?? 86400,
          ifm,
          signer,
          identity: {
            gatewayId: signer.gatewayName,
            consumerOf: (m) =>
              Object.entries(table.consumers).find(([, ms]) => ms.includes(m))?.[0],
          },
          log: ctx.log,
          onDelivery: () => loop.kick(),
        });
        profiles.set(p.name, runtime);
        loops.push(loop);
        loop.start();
        for (const m of p.meters) byMeter.set(m, [...(byMeter.get(m) ?? []), runtime]);
      }
    } catch (e) {
      // Readings are still taken and stored; only the profiles wait for what they lack.
      problems.push(`tariff profiles not running: ${(e as Error).message}`);
      ctx.log.error("tariff profiles not running", { error: (e as Error).message });
    }
  }
  const tickMs = Math.min(5, periodOverride ?? 5) * 1000;
  const ticker = setInterval(() => {
    for (const r of profiles.values()) void r.tick().catch(() => {});
  }, tickMs);

  /** Store, then hand what storage acknowledged to the meter's profiles. */
  const store = async (meter: string, readings: Reading[]) => {
    const r = await ifm.request("storage", "storage.append-readings", { meter, readings });
    for (const p of byMeter.get(meter) ?? []) void p.onReadings(meter, readings).catch(() => {});
    return r;
  };

  // --- SML over TCP ----------------------------------------------------------------------------
  const counters: IngestCounters = { accepted: 0, rejected: 0, badFrames: 0, unknownPeers: 0 };
  const smlMeters = Object.fromEntries(
    Object.entries(table.meters).filter(([, m]) => m.protocol === "sml"),
  );
  const lmn = tcp
    ? startLmnListener({
        hostname: process.env.SMGW_LISTEN_ADDRESS ?? tcp.address,
        port: tcp.port,
        meters: smlMeters,
        store,
        log: ctx.log,
        counters,
        calibration,
      })
    : undefined;

  // --- wireless M-Bus --------------------------------------------------------------------------
  const wmbusCounters = newWmbusCounters();
  let radio: WmbusRadio | undefined;
  const wmbusEntries = Object.entries(table.meters).filter(([, m]) => m.wmbus !== undefined);
  if (udp && wmbusEntries.length > 0) {
    try {
      const keys = await loadMeterKeys(ctx.config.SMGW_STATE_DIR, {
        wrap: async (data) =>
          Buffer.from(
            (
              await ifm.request("crypto", "crypto.wrap", {
                domain: "meter-keys",
                dataKey: Buffer.from(data).toString("hex"),
              })
            ).wrapped,
            "hex",
          ),
        unwrap: async (wrapped) =>
          Buffer.from(
            (
              await ifm.request("crypto", "crypto.unwrap", {
                domain: "meter-keys",
                wrapped: Buffer.from(wrapped).toString("hex"),
              })
            ).dataKey,
            "hex",
          ),
      });
      const meters: WmbusMeter[] = [];
      for (const [name, m] of wmbusEntries) {
        const key = keys.get(name);
        const w = m.wmbus;
        if (!w) continue;
        if (!key) {
          problems.push(`no key for wireless M-Bus meter ${name}`);
          ctx.log.error("no key for a wireless M-Bus meter; its telegrams are refused", {
            meter: name,
          });
          continue;
        }
        meters.push({
          name,
          manufacturer: w.manufacturer,
          id: w.id,
          security: w.security,
          key,
          medium: w.medium,
        });
      }
      radio = await startWmbusRadio({
        hostname: process.env.SMGW_LISTEN_ADDRESS ?? udp.address,
        port: udp.port,
        meters,
        store,
        log: ctx.log,
        counters: wmbusCounters,
        peers: udp.peers,
        calibration,
      });
    } catch (e) {
      problems.push(`wireless M-Bus receiver not running: ${(e as Error).message}`);
      ctx.log.error("wireless M-Bus receiver not running", { error: (e as Error).message });
    }
  }

  serveStatus(
    ifm,
    ctx,
    () => ({
      sml: { ...counters },
      wmbus: { ...wmbusCounters },
      meters: Object.keys(table.meters).length,
      calibration: { ...calibration.counters, waiting: calibration.pending },
      profiles: Object.fromEntries(
        [...profiles].map(([n, r], i) => [n, { ...r.counters, ...loops[i]?.counters }]),
      ),
      ...(problems.length > 0 ? { problems } : {}),
    }),
    () => problems.length > 0,
  );
  return {
    stop: async () => {
      clearInterval(ticker);
      lmn?.stop(true);
      radio?.stop();
      await Promise.all(loops.map((l) => l.stop()));
      await calibration.stop();
      ifm.close();
    },
    status: () =>
      `LMN: SML on ${tcp ? `${tcp.address}:${tcp.port}` : "-"}, wireless M-Bus on ${udp ? `${udp.address}:${udp.port}` : "-"}; ${profiles.size} profile(s)`,
  };
};
