// `smgw up` and `smgw down`: the whole gateway on one Linux machine without hardware.
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { compileRuleTable, loadPolicyFile, type Policy } from "@smgw/policy";
import { applyPacketFilter, compileNftables } from "@smgw/policy-nft";
import { layoutOf, prepareAccounts, prepareLayout, prepareMeterKeys } from "./layout.ts";
import { ok } from "./sh.ts";
import { START_ORDER, Supervisor } from "./supervisor.ts";
import { prepareTcmCredentials } from "./tcm-credentials.ts";
import {
  createTopology,
  destroyTopology,
  existingNamespaces,
  type Topology,
  topologyOf,
} from "./topology.ts";

export interface UpOptions {
  prefix: string;
  policyFile: string;
  repoRoot: string;
  meterIntervalMs: number;
  /** Measuring period of the tariff profiles instead of the policy's (demonstration). */
  tafPeriodSeconds?: number;
  /** TAF7 delivery interval instead of the policy's (demonstration). */
  tafDeliverySeconds?: number;
  logLevel: string;
  out: (line: string) => void;
}

const PREFIX = /^[a-z][a-z0-9]{1,11}$/;

export function checkPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) throw new Error(`instance name "${prefix}" must match ${PREFIX}`);
}

function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error("host mode needs root (namespaces, users, setpriv)");
  for (const tool of ["ip", "setpriv", "useradd", "getent", "nft"]) {
    if (!ok(["sh", "-c", `command -v ${tool}`]))
      throw new Error(`${tool} is missing; run ci/setup`);
  }
}

/** Build the multi-call executable, unless it is newer than every source file. */
export function buildBinary(repoRoot: string, out: (l: string) => void): string {
  const userland = path.join(repoRoot, "userland");
  const binary = path.join(userland, "build", "smgwd");
  const newest = newestSource(userland);
  if (existsSync(binary) && statSync(binary).mtimeMs > newest) return binary;
  out("building the gateway executable (bun build --compile) ...");
  const p = Bun.spawnSync(
    [
      process.execPath,
      "build",
      "--compile",
      path.join(userland, "smgwd", "main.ts"),
      "--outfile",
      binary,
    ],
    { cwd: userland, stdout: "pipe", stderr: "pipe" },
  );
  if (!p.success) throw new Error(`build failed: ${p.stderr.toString()}`);
  return binary;
}

function newestSource(dir: string): number {
  let newest = 0;
  const glob = new Bun.Glob("{lib,units,smgwd}/**/*.ts");
  for (const f of glob.scanSync({ cwd: dir })) {
    if (f.includes("node_modules")) continue;
    newest = Math.max(newest, statSync(path.join(dir, f)).mtimeMs);
  }
  return newest;
}

export async function up(o: UpOptions): Promise<never> {
  checkPrefix(o.prefix);
  requireRoot();
  const policy = await loadPolicyFile(o.policyFile);
  const table = compileRuleTable(policy);
  const layout = layoutOf(o.prefix);
  const pidFile = path.join(layout.runDir, "supervisor.pid");
  if (existsSync(pidFile) && alive(Number(readFileSync(pidFile, "utf8")))) {
    throw new Error(
      `host mode "${o.prefix}" is already running (smgw down${o.prefix === "smgw" ? "" : ` --name ${o.prefix}`} stops it)`,
    );
  }
  const topo = topologyOf(o.prefix, policy);
  destroyTopology(topo); // leftovers of a run that was killed
  const binary = buildBinary(o.repoRoot, o.out);
  const ids = prepareLayout(layout, policy, table, binary, o.policyFile);
  const meterKeys = prepareMeterKeys(layout, policy, ids.meter);
  const accounts = await prepareAccounts(layout, policy, ids.display);
  const cryptoEnv = prepareSecurityModule(o.repoRoot, layout.stateDir("crypto"), ids.crypto, o.out);
  await prepareTcmCredentials({ policy, layout, ids, cryptoEnv, out: o.out });
  writeFileSync(pidFile, String(process.pid));

  let supervisor: Supervisor | undefined;
  const peers: import("bun").Subprocess[] = [];
  let tearingDown = false;
  const teardown = async (code: number) => {
    if (tearingDown) return;
    tearingDown = true;
    o.out("stopping ...");
    for (const p of peers) p.kill("SIGTERM");
    await supervisor?.stopAll();
    destroyTopology(topo);
    rmSync(layout.runDir, { recursive: true, force: true });
    o.out("stopped; namespaces and processes removed");
    process.exit(code);
  };
  process.on("SIGINT", () => void teardown(0));
  process.on("SIGTERM", () => void teardown(0));

  try {
    createTopology(topo);
    // The packet filter from the same policy, before any unit listens.
    applyPacketFilter(topo.gateway, compileNftables(policy));
    supervisor = new Supervisor({
      layout,
      namespace: topo.gateway,
      ids,
      logLevel: o.logLevel,
      // The instance's storage is a fresh volume on its first start (see units/storage).
      env: {
        crypto: cryptoEnv,
        storage: { SMGW_STORAGE_PROVISION: "1" },
        meter: {
          ...(o.tafPeriodSeconds ? { SMGW_TAF_PERIOD_SECONDS: String(o.tafPeriodSeconds) } : {}),
          ...(o.tafDeliverySeconds
            ? { SMGW_TAF_DELIVERY_SECONDS: String(o.tafDeliverySeconds) }
            : {}),
        },
      },
      onEvent: (l) => o.out(`  ${l}`),
    });
    for (const unit of START_ORDER) await supervisor.start(unit);
    peers.push(...startPeers(o, topo, policy, table.listeners, layout, meterKeys));
  } catch (e) {
    o.out(`error: ${(e as Error).message}`);
    await teardown(1);
  }
  printSummary(o, topo, layout, accounts, policy);
  o.out("ready");
  return new Promise<never>(() => {});
}

/**
 * The security module for host mode: the project's virtual card behind the real pcscd (the
 * whole PC/SC path, as on a gateway with a smart card). Its PIN goes to the crypto unit's own
 * state directory. Without pcscd the development-only software module stands in, loudly.
 */
function prepareSecurityModule(
  repoRoot: string,
  cryptoState: string,
  crypto: { uid: number; gid: number },
  out: (l: string) => void,
): Record<string, string> {
  const started = Bun.spawnSync(
    [path.join(repoRoot, "ci", "services"), "start", "pcscd", "vcard"],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const pinFile = "/var/lib/smgw-services/vcard.pin";
  if (started.success && existsSync(pinFile)) {
    const own = path.join(cryptoState, "card.pin");
    writeFileSync(own, readFileSync(pinFile), { mode: 0o600 });
    chownSync(own, crypto.uid, crypto.gid);
    out("  security module: the virtual card on pcscd (PC/SC)");
    return { SMGW_SECMOD: "card", SMGW_SECMOD_PIN_FILE: own };
  }
  out(
    `  security module: pcscd unavailable (${started.stderr.toString().trim()}); using the development-only software module`,
  );
  return { SMGW_SECMOD: "software" };
}

/** The EMTs' received deliveries (index.jsonl and the documents) of an instance. */
export function emtOutDir(prefix: string, emt: string): string {
  return path.join(layoutOf(prefix).stateRoot, "emt", emt);
}

function startPeers(
  o: UpOptions,
  topo: Topology,
  policy: Policy,
  listeners: ReturnType<typeof compileRuleTable>["listeners"],
  layout: ReturnType<typeof layoutOf>,
  meterKeys: Record<string, string>,
): import("bun").Subprocess[] {
  const cli = path.join(o.repoRoot, "userland", "cli", "main.ts");
  const procs: import("bun").Subprocess[] = [];
  const spawn = (ns: string, args: string[], what: string) => {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, cli, ...args], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "inherit",
    });
    o.out(`  ${what} in ${ns} (pid ${proc.pid})`);
    procs.push(proc);
  };
  // EMTs first: they take the deliveries of the meter domain's profiles.
  const delivery = policy.networkFlows.find((f) => f.id === "wan-emt-delivery");
  const pkiDir = path.join(layout.stateDir("tcm"), "test-pki");
  if (delivery && existsSync(pkiDir)) {
    for (const e of Object.values(policy.endpoints).filter((x) => x.role === "emt")) {
      const out = emtOutDir(o.prefix, e.name);
      mkdirSync(out, { recursive: true });
      spawn(
        topo.peers.WAN,
        [
          "sim",
          "emt",
          "--policy",
          o.policyFile,
          "--pki",
          pkiDir,
          "--entity",
          e.name,
          "--address",
          e.addresses[0] ?? "",
          "--port",
          String(delivery.port),
          "--out",
          out,
        ],
        `simulated EMT ${e.name} on ${e.addresses[0]}:${delivery.port}`,
      );
    }
  }
  const sml = listeners.find((l) => l.unit === "meter" && l.protocol === "tcp");
  const radio = listeners.find((l) => l.unit === "meter" && l.protocol === "udp");
  const keyDir = path.join(layout.runDir, "sim-keys");
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  for (const e of Object.values(policy.endpoints)) {
    if (e.role !== "meter") continue;
    if (e.credential.kind === "meter-id" && sml) {
      spawn(
        topo.peers.LMN,
        [
          "sim",
          "meter",
          "--id",
          e.credential.id,
          "--source",
          e.addresses[0] ?? "",
          "--gateway",
          sml.address,
          "--port",
          String(sml.port),
          "--interval",
          String(o.meterIntervalMs),
        ],
        `simulated SML meter ${e.name} (${e.credential.id}) from ${e.addresses[0]}`,
      );
    }
    if (e.credential.kind === "wmbus-id" && radio) {
      const keyFile = path.join(keyDir, `${e.name}.key`);
      writeFileSync(keyFile, meterKeys[e.name] ?? "", { mode: 0o600 });
      const c = e.credential;
      spawn(
        topo.peers.LMN,
        [
          "sim",
          "wmbus",
          "--manufacturer",
          c.manufacturer,
          "--id",
          c.id,
          "--medium",
          c.medium,
          "--security",
          String(c.security),
          "--key-file",
          keyFile,
          "--source",
          e.addresses[0] ?? "",
          "--gateway",
          radio.address,
          "--port",
          String(radio.port),
          "--interval",
          String(o.meterIntervalMs),
          // The heat meter sends each message in two AFL fragments, as long OMS messages come.
          ...(c.medium === "heat" ? ["--fragments", "2"] : []),
        ],
        `simulated wireless M-Bus meter ${e.name} (${c.manufacturer}${c.id}, mode ${c.security}) from ${e.addresses[0]}`,
      );
    }
  }
  return procs;
}

function printSummary(
  o: UpOptions,
  topo: Topology,
  layout: ReturnType<typeof layoutOf>,
  accounts: { name: string; role: string; password: string }[],
  policy: Policy,
): void {
  const han = policy.document.networks.HAN.address.split("/")[0];
  const alice = accounts.find((a) => a.role === "consumer");
  o.out("");
  o.out(
    `gateway namespace ${topo.gateway}: wan0 ${topo.nics.WAN.address}, lmn0 ${topo.nics.LMN.address}, han0 ${topo.nics.HAN.address}`,
  );
  o.out(`peer namespaces: ${Object.values(topo.peers).join(", ")}`);
  o.out(`unit logs (JSON lines): ${layout.logDir}/<unit>.log`);
  o.out(`HAN accounts: ${layout.credentials}`);
  if (alice) {
    o.out("try, from the HAN:");
    // From alice's own device address: the packet filter lets only consumers reach the display.
    const from = policy.endpoints[alice.name]?.addresses[0];
    o.out(
      `  ip netns exec ${topo.peers.HAN} curl -s --interface ${from} -u ${alice.name}:${alice.password} http://${han}:8080/api/v1/meters`,
    );
  }
  o.out(`stop with Ctrl-C or: smgw down${o.prefix === "smgw" ? "" : ` --name ${o.prefix}`}`);
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stop a running host mode and remove whatever a killed one left behind. */
export async function down(prefix: string, out: (l: string) => void): Promise<void> {
  checkPrefix(prefix);
  requireRoot();
  const layout = layoutOf(prefix);
  const pidFile = path.join(layout.runDir, "supervisor.pid");
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8"));
    if (alive(pid)) {
      process.kill(pid, "SIGTERM");
      const end = Date.now() + 30_000;
      while (alive(pid) && Date.now() < end) await Bun.sleep(100);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  }
  const left = existingNamespaces().filter((n) => n.startsWith(`${prefix}-`));
  for (const ns of left) {
    for (const p of Bun.spawnSync(["ip", "netns", "pids", ns])
      .stdout.toString()
      .split(/\s+/)
      .filter(Boolean)) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {}
    }
    Bun.spawnSync(["ip", "netns", "delete", ns]);
  }
  rmSync(layout.runDir, { recursive: true, force: true });
  out(`host mode "${prefix}" is down${left.length ? ` (removed ${left.join(", ")})` : ""}`);
}
