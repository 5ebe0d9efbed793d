// The tariff profiles at work on a gateway clock the test moves: readings in, TAF7 series and
// TAF1/TAF2 billing periods out as signed deliveries in the outbox of a real secure store, the
// state resumed after a restart, nothing lost when a commit fails. The deliveries are AR 2418-6
// documents (checked against the official schema), CMS-signed (checked with `openssl cms`), and
// pseudonymised where the profile says so.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { validateAr2418 } from "@smgw/ar2418";
import { signCms } from "@smgw/cms";
import { createLogger } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import { compileRuleTable, loadPolicyFile, type Profile } from "@smgw/policy";
import {
  openCalibrationLog,
  openMeterStore,
  ProfileData,
  SoftwareKeyService,
} from "@smgw/securestore";
import { verifyWithOpenssl } from "@smgw/sim/emt.ts";
import { parseSupplier, type SupplierDocument } from "@smgw/taf";
import { commitProfile } from "@smgw/unit-storage/calibration.ts";
import { ProfileRuntime, type ProfileRuntimeOptions } from "./profiles.ts";
import type { DeliverySigner } from "./signer.ts";

const REPO = path.resolve(import.meta.dir, "../../..");
const policy = await loadPolicyFile(path.join(REPO, "policy", "smgw.policy.yaml"));
const table = compileRuleTable(policy);
const tariff = (f: string): SupplierDocument =>
  parseSupplier(readFileSync(path.join(REPO, "policy", "tariffs", f)));
const log = createLogger("meter-test", { level: "error", write: () => {} });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "smgw-profiles-"));
  dirs.push(d);
  return d;
}

/** A brainpool signature key and self-signed certificate made with openssl, signing via pkeyutl. */
function testSigner(dir: string): DeliverySigner & { cert: string } {
  const key = path.join(dir, "sig.key");
  const cert = path.join(dir, "sig.pem");
  const run = (args: string[]) => {
    const p = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0) throw new Error(p.stderr.toString());
    return p.stdout;
  };
  run(["ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", key]);
  run([
    "req",
    "-new",
    "-x509",
    "-key",
    key,
    "-subj",
    "/CN=smgw-test/OU=SIG",
    "-days",
    "2",
    "-out",
    cert,
  ]);
  const der = new Uint8Array(
    Buffer.from(readFileSync(cert, "utf8").replace(/-----[A-Z ]+-----|\s+/g, ""), "base64"),
  );
  return {
    cert,
    gatewayName: "smgw-test",
    sign: (content) =>
      signCms({
        content,
        certificate: der,
        digest: "sha256",
        sign: async (digest) => {
          const d = path.join(dir, "digest.bin");
          writeFileSync(d, digest);
          return new Uint8Array(run(["pkeyutl", "-sign", "-inkey", key, "-in", d]));
        },
      }),
  };
}

/** The IFM as far as the profiles use it: storage's profile messages over a real secure store. */
async function storageIfm(dir: string) {
  const keys = new SoftwareKeyService({
    masterKey: Buffer.alloc(32, 7),
    counterFile: path.join(dir, "counters.json"),
    log: { warn: () => {} },
  });
  const quiet = { log: { warn: () => {}, error: () => {} } };
  const store = await openMeterStore(dir, keys, quiet);
  const calibrationLog = await openCalibrationLog(dir, keys, quiet);
  const data = new ProfileData(store.store);
  let failCommits = 0;
  const ifm = {
    failNextCommits(n: number) {
      failCommits = n;
    },
    // biome-ignore lint/suspicious/noExplicitAny: the fake answers the few message types used
    async request(_to: string, type: string, body: any): Promise<any> {
      if (type === "storage.profile-load") return data.load(body.profile);
      if (type === "storage.profile-commit") {
        if (failCommits > 0) {
          failCommits--;
          throw new Error("storage unavailable");
        }
        return { deliveries: await commitProfile(data, calibrationLog, body) };
      }
      throw new Error(`unexpected ${type}`);
    },
  };
  return {
    ifm,
    data,
    calibration: () => calibrationLog.query({ limit: 1000 }).entries,
    close: async () => {
      await store.close();
      await calibrationLog.close();
    },
  };
}

function reading(obis: string, value: number, at: number, unit = "Wh"): Reading {
  return { obis, value, unit, capturedAt: new Date(at).toISOString(), status: 0 };
}

function profile(name: string): Profile {
  const p = policy.profiles[name];
  if (!p) throw new Error(`no profile ${name}`);
  return p;
}

/** The document in a delivery, after `openssl cms -verify` (the simulated EMT's check). */
async function verified(d: { payload: string } | undefined, cert: string): Promise<string> {
  if (!d) throw new Error("no delivery");
  return (await verifyWithOpenssl(Buffer.from(d.payload, "base64"), cert)).content.toString();
}

/** A runtime of a shipped profile on the test's store, signer and clock. */
function openProfile(
  name: string,
  s: { ifm: ProfileRuntimeOptions["ifm"]; signer: DeliverySigner },
  now: () => number,
  options: Partial<ProfileRuntimeOptions> = {},
): Promise<ProfileRuntime> {
  return ProfileRuntime.open({
    profile: profile(name),
    meters: table.meters,
    periodSeconds: 900,
    deliverEverySeconds: 86400,
    ifm: s.ifm,
    signer: s.signer,
    identity: { gatewayId: "smgw-test", consumerOf: () => "alice" },
    log,
    now,
    ...options,
  });
}

describe("tariff profiles", () => {
  test("TAF7: quarter-hour series of every meter, delivered signed and pseudonymised when due", async () => {
    const dir = tempDir();
    const signer = testSigner(dir);
    const s = await storageIfm(dir);
    let now = Date.UTC(2026, 10, 25, 10, 0, 0);
    let kicked = 0;
    const rt = await openProfile("taf7-grid", { ifm: s.ifm, signer }, () => now, {
      deliverEverySeconds: 3600,
      onDelivery: () => kicked++,
    });
    // Readings every minute for two hours; the water meter's in m³.
    for (let m = 0; m <= 120; m++) {
      now = Date.UTC(2026, 10, 25, 10, m, 2);
      await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 1000 + m * 10, now)]);
      await rt.onReadings("wmbus-2", [reading("8-0:1.0.0*255", 12.5 + m / 1000, now, "m³")]);
      await rt.tick();
    }
    expect(kicked).toBeGreaterThan(0);
    const first = s.data.next("taf7-grid");
    expect(first).toBeDefined();
    const xml = await verified(first, signer.cert);
    expect(validateAr2418([xml])).toEqual({ valid: true, errors: [] });
    // Pseudonymised: neither the meters' nor the gateway's identity, no consumer.
    expect(xml).toContain("GRID-PSEUDO-0001");
    for (const secret of [
      "1ESY1161234561",
      "XSM30000002",
      "smgw-test",
      "alice",
      "meter-1",
      "wmbus-2",
    ]) {
      expect(xml).not.toContain(secret);
    }
    // The quarter hours with the reading nearest each (within ±9 s): 10:00:02 is taken for 10:00.
    const all: string[] = [];
    for (let d = s.data.next("taf7-grid"); d; d = s.data.next("taf7-grid", d.id)) {
      all.push(await verified(d, signer.cert));
      expect(d.recipient).toBe("emt-dso");
    }
    const values = all.flatMap((x) =>
      [...x.matchAll(/<espi:value>(\d+)<\/espi:value>/g)].map((m) => Number(m[1])),
    );
    // meter-1 at 10:00, 10:15, … (value 1000 + minutes*10).
    expect(values).toEqual(expect.arrayContaining([1000, 1150, 1300, 1450, 1600]));
    expect(rt.counters.missing).toBe(0);
    await s.close();
  });

  test("TAF7: a gap is delivered as missing, never as a value", async () => {
    const dir = tempDir();
    const signer = testSigner(dir);
    const s = await storageIfm(dir);
    let now = Date.UTC(2026, 10, 25, 10, 0, 0);
    const rt = await openProfile("taf7-supplier", { ifm: s.ifm, signer }, () => now, {
      deliverEverySeconds: 7200,
    });
    // Readings at 10:00:01 and 10:45:03: 10:15 and 10:30 have none within tolerance.
    now = Date.UTC(2026, 10, 25, 10, 0, 1);
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 500, now)]);
    now = Date.UTC(2026, 10, 25, 10, 45, 3);
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 800, now)]);
    now = Date.UTC(2026, 10, 25, 12, 0, 30);
    await rt.tick();
    expect(rt.counters.missing).toBeGreaterThanOrEqual(2);
    const d = s.data.next("taf7-supplier");
    const xml = await verified(d, signer.cert);
    expect(validateAr2418([xml]).valid).toBe(true);
    // Not pseudonymised: the meter's printed id, the gateway, the consumer.
    expect(xml).toContain("1ESY1161234561");
    expect(xml).toContain("smgw-test");
    // The gaps carry the fatal PTB status, so no one bills them.
    expect(xml).toMatch(
      /<espi:value>0<\/espi:value>\s*<timePeriod>\s*<duration>0<\/duration>\s*<start>2026-11-25T11:15:00\+01:00<\/start>\s*<\/timePeriod>\s*<statusPTB>4<\/statusPTB>/,
    );
    await s.close();
  });

  test("TAF2: registers by the switching program; a closed billing period is delivered", async () => {
    const dir = tempDir();
    const signer = testSigner(dir);
    const s = await storageIfm(dir);
    const supplier = tariff("taf2-day-night.xml");
    // Start on 29 November: two days of quarter hours, then the period ends on 1 December.
    let now = Date.UTC(2026, 10, 28, 23, 0, 0);
    const tariffDigest = "a1".repeat(32);
    const open = () =>
      openProfile("taf2-alice", { ifm: s.ifm, signer }, () => now, { supplier, tariffDigest });
    let rt = await open();
    // 100 Wh per quarter hour, on the quarter hours exactly.
    let value = 10_000;
    const end = Date.UTC(2026, 10, 30, 23, 30, 0);
    for (let t = now; t <= end; t += 900_000) {
      now = t;
      await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", value, t)]);
      value += 100;
      // A restart on the way: the state comes back from the store.
      if (t === Date.UTC(2026, 10, 29, 12, 0, 0)) rt = await open();
    }
    const regs = rt.currentRegisters().get("meter-1");
    expect(regs?.final).toBe(false);
    const delivered = s.data.next("taf2-alice");
    expect(delivered).toBeDefined();
    const xml = await verified(delivered, signer.cert);
    expect(validateAr2418([xml]).valid).toBe(true);
    expect(delivered?.summary).toContain(
      "TAF2 billing period 2026-11-01T00:00:00+01:00 to 2026-12-01T00:00:00+01:00",
    );
    // Berlin days 29 and 30 November booked (Nov 29 00:00 Berlin = Nov 28 23:00 UTC): 16 h day
    // and 8 h night each, 400 Wh an hour.
    const amount = (obis: string) =>
      Number(
        new RegExp(`${obis}</obisCode>[\\s\\S]*?<espi:value>(\\d+)</espi:value>`).exec(xml)?.[1],
      );
    expect(amount("0100010802FF")).toBe(2 * 16 * 400);
    expect(amount("0100010801FF")).toBe(2 * 8 * 400);
    // The calibration log: the tariff in use once (not again at the restart), then the closed
    // period with the registers the delivery carries.
    const events = s.calibration();
    expect(events.map((e) => e.event)).toEqual(["tariff.configured", "billing.period-closed"]);
    expect(events[0]).toMatchObject({
      meter: "meter-1",
      detail: {
        profile: "taf2-alice",
        useCase: 2,
        sha256: tariffDigest,
        from: "2026-11-01T00:00:00+01:00",
      },
    });
    expect(events[1]).toMatchObject({
      meter: "meter-1",
      detail: {
        start: "2026-11-01T00:00:00+01:00",
        end: "2026-12-01T00:00:00+01:00",
        "1-0:1.8.1*255": 2 * 8 * 400,
        "1-0:1.8.2*255": 2 * 16 * 400,
        unit: "Wh",
      },
    });
    await s.close();
  });

  test("TAF1: one reading at each end of the billing period; the consumption delivered", async () => {
    const dir = tempDir();
    const signer = testSigner(dir);
    const s = await storageIfm(dir);
    let now = Date.UTC(2026, 9, 31, 22, 59, 0);
    const rt = await openProfile("taf1-bob", { ifm: s.ifm, signer }, () => now, {
      supplier: tariff("taf1-monthly.xml"),
      identity: { gatewayId: "smgw-test", consumerOf: () => "bob" },
    });
    const feed = async (t: number, v: number) => {
      now = t;
      await rt.onReadings("meter-3", [reading("1-0:1.8.0*255", v, t)]);
    };
    await feed(Date.UTC(2026, 9, 31, 23, 0, 1), 50_000); // 1 November 00:00 Berlin
    await feed(Date.UTC(2026, 10, 15, 12, 0, 0), 60_000);
    await feed(Date.UTC(2026, 10, 30, 22, 59, 58), 71_234); // 1 December 00:00 Berlin
    await feed(Date.UTC(2026, 10, 30, 23, 15, 0), 71_300);
    const d = s.data.next("taf1-bob");
    const xml = await verified(d, signer.cert);
    expect(validateAr2418([xml]).valid).toBe(true);
    expect(xml).toContain("<obisCode>0100010801FF</obisCode>");
    expect(xml).toContain("<espi:value>21234</espi:value>");
    // Each meter's period closes with its own readings: wmbus-5 sent none here.
    expect(d?.meters).toEqual(["meter-3"]);
    await s.close();
  });

  test("a new tariff file is recorded from the end of the running period, one that cannot follow as refused", async () => {
    const dir = tempDir();
    const signer = testSigner(dir);
    const s = await storageIfm(dir);
    let now = Date.UTC(2026, 10, 10, 8, 0, 0);
    const november = tariff("taf2-day-night.xml");
    const december = parseSupplier(
      Buffer.from(
        readFileSync(path.join(REPO, "policy", "tariffs", "taf2-day-night.xml"), "utf8").replace(
          "<start>2026-11-01T00:00:00+01:00</start>",
          "<start>2026-12-01T00:00:00+01:00</start>",
        ),
      ),
    );
    const open = (supplier: SupplierDocument, tariffDigest: string) =>
      openProfile("taf2-alice", { ifm: s.ifm, signer }, () => now, { supplier, tariffDigest });
    const step = async (rt: ProfileRuntime) => {
      now += 900_000;
      await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", now / 1e6, now)]);
      // Events alone are committed with the next tick, readings or not.
      await rt.tick();
    };
    await step(await open(november, "01".repeat(32)));
    await step(await open(december, "02".repeat(32)));
    // The same file again: nothing new. A third that starts where the running one started: refused.
    await step(await open(december, "02".repeat(32)));
    s.ifm.failNextCommits(1);
    const third = await open(november, "03".repeat(32));
    now += 900_000;
    await expect(third.tick()).rejects.toThrow("storage unavailable");
    await third.tick();
    const events = s.calibration().map((e) => [e.event, e.detail.sha256, e.detail.from]);
    expect(events).toEqual([
      ["tariff.configured", "01".repeat(32), "2026-11-01T00:00:00+01:00"],
      ["tariff.configured", "02".repeat(32), "2026-12-01T00:00:00+01:00"],
      ["tariff.refused", "03".repeat(32), undefined],
    ]);
    expect(String(s.calibration()[2]?.detail.reason)).toContain("the running one ends");
    await s.close();
  });

  test("a failed commit loses nothing: the delivery is committed with the next tick", async () => {
    const dir = tempDir();
    const signer = testSigner(dir);
    const s = await storageIfm(dir);
    let now = Date.UTC(2026, 10, 25, 10, 0, 0);
    const rt = await openProfile("taf7-supplier", { ifm: s.ifm, signer }, () => now, {
      deliverEverySeconds: 1800,
    });
    for (let m = 0; m <= 30; m++) {
      now = Date.UTC(2026, 10, 25, 10, m, 0);
      await rt.onReadings("meter-2", [reading("1-0:1.8.0*255", 100 + m, now)]);
      // The delivery due at 10:30 meets a storage that refuses the commit.
      if (m === 30) s.ifm.failNextCommits(1);
      if (m === 30) await expect(rt.tick()).rejects.toThrow("storage unavailable");
      else await rt.tick();
    }
    expect(s.data.next("taf7-supplier")).toBeUndefined();
    now = Date.UTC(2026, 10, 25, 10, 31, 0);
    await rt.tick();
    const d = s.data.next("taf7-supplier");
    expect(d?.summary).toContain("meter-2");
    const xml = await verified(d, signer.cert);
    expect(xml).toContain("<espi:value>100</espi:value>");
    expect(xml).toContain("<espi:value>115</espi:value>");
    await s.close();
  });

  test("readings of other registers, out of order or twice are not used, and do no harm", async () => {
    const dir = tempDir();
    const s = await storageIfm(dir);
    let now = Date.UTC(2026, 10, 25, 10, 0, 0);
    const rt = await openProfile(
      "taf7-supplier",
      { ifm: s.ifm, signer: testSigner(dir) },
      () => now,
      {
        deliverEverySeconds: 3600,
      },
    );
    const t = Date.UTC(2026, 10, 25, 10, 0, 1);
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 10, t)]);
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 10, t)]); // twice
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 9, t - 5000)]); // out of order
    await rt.onReadings("meter-1", [reading("1-0:2.8.0*255", 9, t + 1000)]); // other register
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 11, t + 1000, "kWh")]); // other unit
    await rt.onReadings("nobody", [reading("1-0:1.8.0*255", 11, t + 1000)]); // not in the profile
    expect(rt.counters.refused).toBe(3);
    now = Date.UTC(2026, 10, 25, 10, 15, 2);
    await rt.onReadings("meter-1", [reading("1-0:1.8.0*255", 20, now)]);
    // 10:00 (from 10:00:01) and 10:15 (from 10:15:02) are decided.
    expect(rt.counters.points).toBe(2);
    await s.close();
  });
});
