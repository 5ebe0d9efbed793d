// The TCM under test as it runs on a gateway: its own process (smgwd tcm), behind a real IFM
// with the crypto unit and the software security module in another process, the test policy's
// endpoints played by simulated TLS peers on loopback, and domains played by IPC clients on
// their own IFM sockets. As root the TCM runs as user nobody, so the test can show what that
// user cannot read.
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ifmSocketPath } from "@smgw/daemon";
import { IpcClient } from "@smgw/ipc";
import type { Policy, UnitName } from "@smgw/policy";
import { createSoftwareModule } from "@smgw/secmod";
import { createTestPki, DEFAULT_CAS, type EntitySpec } from "@smgw/tls";
import type { Server, Subprocess } from "bun";
import { type Provisioned, policyEntities, provisionTcmCredentials } from "../provision.ts";
import { type SimulatedPeer, startPeer } from "./peer.ts";
import { randomPorts, type TestPorts, writeTestPolicy } from "./policy.ts";

const USERLAND = path.resolve(import.meta.dir, "../../..");
const SMGWD = path.join(USERLAND, "smgwd", "main.ts");
const BACKEND = path.join(import.meta.dir, "backend.ts");

/** Certificates beside the policy's: a wrong subject, a foreign CA, an expired one. */
export const EXTRA_ENTITIES: readonly EntitySpec[] = [
  {
    name: "impostor",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test", CN: "EMT Impostor" },
    usages: ["tls"],
  },
  {
    name: "foreign-gwa",
    issuer: "foreign-root",
    subject: { C: "DE", O: "GWA-Test", CN: "GWA Test" },
    usages: ["tls"],
  },
  {
    name: "expired-gwa",
    issuer: "gwa-sub-ca",
    subject: { C: "DE", O: "GWA-Test", CN: "GWA Test" },
    usages: ["tls"],
    defect: "expired",
  },
];

export interface HarnessOptions {
  /** Run the TCM as this user (needs root). */
  runAs?: { uid: number; gid: number };
  /** Start a stand-in for the display's TCM listener (echoes what it gets). */
  display?: boolean;
  /** How to start the TCM; default `bun smgwd/main.ts tcm` (e.g. a compiled smgwd instead). */
  command?: string[];
}

export interface Harness {
  dir: string;
  policy: Policy;
  policyFile: string;
  ports: TestPorts;
  runDir: string;
  tcmState: string;
  cryptoState: string;
  provisioned: Provisioned;
  tcm: Subprocess;
  tcmLog: string[];
  backendLog: string[];
  /** The stand-in display's port, when started. */
  displayPort?: number;
  client(unit: UnitName): IpcClient;
  /** Starts (or restarts) the peer for `endpoint`, presenting `entity`'s certificate. */
  peer(endpoint: string, entity?: string): SimulatedPeer;
  restartBackend(): Promise<void>;
  /** The first log line (of the TCM or the backend) matching `test`, waiting up to `ms`. */
  waitForLog(
    which: "tcm" | "backend",
    test: (line: string) => boolean,
    ms?: number,
  ): Promise<string>;
  stop(): Promise<void>;
}

/** The test PKI, kept in the temp directory between runs (keyed by its layout). */
function cachedPki(entities: readonly EntitySpec[]): string {
  const layout = createHash("sha256")
    .update(JSON.stringify([DEFAULT_CAS, entities]))
    .digest("hex")
    .slice(0, 12);
  const dir = path.join(tmpdir(), `smgw-tcm-test-pki-${layout}`);
  const fresh = existsSync(dir) && Date.now() - statSync(dir).mtimeMs < 7 * 24 * 3600 * 1000;
  if (!fresh) {
    const work = mkdtempSync(path.join(tmpdir(), "smgw-tcm-pki-"));
    try {
      createTestPki(work, { cas: DEFAULT_CAS, entities });
      rmSync(dir, { recursive: true, force: true });
      renameSync(work, dir);
    } catch {
      // A parallel run won the rename.
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return dir;
}

function collect(stream: ReadableStream<Uint8Array>, into: string[]): void {
  void (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      into.push(...lines.filter((l) => l !== ""));
    }
  })();
}

async function waitFor(lines: string[], test: (l: string) => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  for (;;) {
    const hit = lines.find(test);
    if (hit !== undefined) return hit;
    if (Date.now() > end)
      throw new Error(`${what} not seen within ${ms} ms:\n${lines.slice(-30).join("\n")}`);
    await Bun.sleep(20);
  }
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-tcm-"));
  chmodSync(dir, 0o755);
  const ports = randomPorts();
  const policyFile = path.join(dir, "policy.yaml");
  const policy = await writeTestPolicy(policyFile, ports);
  chmodSync(policyFile, 0o644);
  const runDir = path.join(dir, "run");
  const tcmState = path.join(dir, "state", "tcm");
  const cryptoState = path.join(dir, "state", "crypto");
  mkdirSync(tcmState, { recursive: true, mode: 0o700 });
  mkdirSync(cryptoState, { recursive: true, mode: 0o700 });
  chmodSync(path.join(dir, "state"), 0o755);
  mkdirSync(path.join(runDir, "ipc"), { recursive: true, mode: 0o755 });

  // Personalisation: keys made in the (software) security module, certificates issued for them.
  const entities = [...policyEntities(policy), ...EXTRA_ENTITIES];
  const module = createSoftwareModule({
    stateFile: path.join(cryptoState, "software-secmod.json"),
    production: false,
    warn: () => {},
  });
  let provisioned: Provisioned;
  try {
    provisioned = await provisionTcmCredentials({
      policy,
      module,
      pkiDir: cachedPki(entities),
      tcmStateDir: tcmState,
      extraEntities: EXTRA_ENTITIES,
    });
  } finally {
    await module.close();
  }
  if (o.runAs) {
    const tcmIpc = path.dirname(ifmSocketPath(runDir, "tcm"));
    mkdirSync(tcmIpc, { mode: 0o710 });
    chmodSync(tcmIpc, 0o710);
    chownSync(tcmIpc, 0, o.runAs.gid);
    for (const d of [
      tcmState,
      path.join(tcmState, "credentials"),
      path.join(tcmState, "credentials", "anchors"),
    ]) {
      chownSync(d, o.runAs.uid, o.runAs.gid);
    }
  }

  let display: Server<undefined> | undefined;
  if (o.display) {
    display = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (request, server) =>
        Response.json({
          method: request.method,
          path: new URL(request.url).pathname,
          headers: Object.fromEntries(request.headers),
          body: await request.text(),
          from: server.requestIP(request)?.address,
        }),
    });
  }

  const backendLog: string[] = [];
  let backend: Subprocess<"ignore", "pipe", "pipe">;
  const startBackend = async () => {
    const before = backendLog.length;
    backend = Bun.spawn([process.execPath, BACKEND], {
      env: {
        ...process.env,
        SMGW_POLICY: policyFile,
        SMGW_RUN_DIR: runDir,
        SMGW_STATE_DIR: cryptoState,
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    collect(backend.stdout, backendLog);
    collect(backend.stderr, backendLog);
    const end = Date.now() + 20_000;
    while (!backendLog.slice(before).some((l) => l.includes("backend ready"))) {
      if (Date.now() > end || backend.exitCode !== null) {
        throw new Error(`the backend did not start:\n${backendLog.join("\n")}`);
      }
      await Bun.sleep(20);
    }
  };
  await startBackend();

  const tcmLog: string[] = [];
  const runAs = o.runAs
    ? [
        "setpriv",
        `--reuid=${o.runAs.uid}`,
        `--regid=${o.runAs.gid}`,
        "--clear-groups",
        "--no-new-privs",
      ]
    : [];
  const tcm = Bun.spawn([...runAs, ...(o.command ?? [process.execPath, SMGWD, "tcm"])], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0",
      SMGW_POLICY: policyFile,
      SMGW_RUN_DIR: runDir,
      SMGW_STATE_DIR: tcmState,
      SMGW_LOG_LEVEL: "info",
      ...(display ? { SMGW_DISPLAY_TCM_PORT: String(display.port) } : {}),
    },
    cwd: dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  collect(tcm.stdout, tcmLog);
  collect(tcm.stderr, tcmLog);
  await waitFor(
    tcmLog,
    (l) => l.includes('"msg":"ready"') || l.includes('"level":"error"'),
    30_000,
    "the TCM's ready line",
  );
  if (!tcmLog.some((l) => l.includes('"msg":"ready"'))) {
    throw new Error(`the TCM did not start:\n${tcmLog.join("\n")}`);
  }

  const clients = new Map<UnitName, IpcClient>();
  const peers = new Map<string, SimulatedPeer>();
  const h: Harness = {
    dir,
    policy,
    policyFile,
    ports,
    runDir,
    tcmState,
    cryptoState,
    provisioned,
    tcm,
    tcmLog,
    backendLog,
    ...(display ? { displayPort: display.port as number } : {}),
    client(unit) {
      let c = clients.get(unit);
      if (!c) {
        c = new IpcClient({ socketPath: ifmSocketPath(runDir, unit), timeoutMs: 12_000 });
        clients.set(unit, c);
      }
      return c;
    },
    peer(endpoint, entity = endpoint) {
      peers.get(endpoint)?.stop();
      const e = policy.endpoints[endpoint];
      if (!e) throw new Error(`no endpoint ${endpoint}`);
      const peer = startPeer({
        address: e.addresses[0] ?? "",
        port: ports.wan,
        pki: provisioned.pki,
        identity: provisioned.peer(entity),
      });
      peers.set(endpoint, peer);
      return peer;
    },
    async restartBackend() {
      backend.kill("SIGTERM");
      await backend.exited;
      await startBackend();
    },
    waitForLog(which, test, ms = 5000) {
      return waitFor(which === "tcm" ? tcmLog : backendLog, test, ms, `a ${which} log line`);
    },
    async stop() {
      for (const c of clients.values()) c.close();
      for (const p of peers.values()) p.stop();
      tcm.kill("SIGTERM");
      backend.kill("SIGTERM");
      await Promise.race([Promise.all([tcm.exited, backend.exited]), Bun.sleep(5000)]);
      tcm.kill("SIGKILL");
      backend.kill("SIGKILL");
      await display?.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
