// Benchmark: IFM-brokered round trips against a direct UNIX-socket round trip, in one run,
// and the memory of the ten running daemons of host mode.
//
//   userland/node_modules/.bin/bun bench/ifm.ts [--seconds N] [--skip-pss]
//
// Part 1 starts the real IFM (the compiled executable) on a temporary run directory; the
// benchmark process is both `display` (asking) and `sysmgmt` (answering status.get), the
// flow display -> sysmgmt of the shipped policy. The anchor is the same framing and the same
// request/answer over one direct UNIX socket, without the broker. Part 2 (root) starts host
// mode and sums the proportional set size (PSS) of the ten unit processes.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { encodeFrame, FrameDecoder, IpcClient } from "../userland/lib/ipc/index.ts";
import { UNIT_NAMES } from "../userland/lib/policy/index.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { seconds: { type: "string", default: "5" }, "skip-pss": { type: "boolean", default: false } },
});
const SECONDS = Number(values.seconds);
const REPO = path.resolve(import.meta.dir, "..");
const BUN = process.execPath;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

async function measure(name: string, once: () => Promise<void>) {
  for (let i = 0; i < 200; i++) await once(); // warm-up
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    const t = performance.now();
    await once();
    lat.push(performance.now() - t);
  }
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const r = { name, perSecond: lat.length / elapsed, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
  console.log(
    `${name.padEnd(28)} ${r.perSecond.toFixed(0).padStart(8)} round trips/s   p50 ${(r.p50 * 1000).toFixed(0)} µs   p99 ${(r.p99 * 1000).toFixed(0)} µs`,
  );
  return r;
}

const STATUS = { unit: "sysmgmt", version: "0", uptimeSeconds: 1, state: "ok" as const, detail: {} };

async function directRoundTrip() {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-bench-"));
  const sock = path.join(dir, "direct.sock");
  const server = Bun.listen<FrameDecoder>({
    unix: sock,
    socket: {
      open: (s) => {
        s.data = new FrameDecoder();
      },
      data: (s, d) => {
        for (const f of s.data.push(d)) {
          if (!f.ok) continue;
          const m = f.value as { id: string };
          s.write(encodeFrame({ kind: "response", id: m.id, ok: true, body: STATUS }));
        }
      },
    },
  });
  let waiting: ((v: unknown) => void) | undefined;
  const dec = new FrameDecoder();
  const client = await Bun.connect({
    unix: sock,
    socket: {
      data: (_s, d) => {
        for (const f of dec.push(d)) if (f.ok) waiting?.(f.value);
      },
    },
  });
  let n = 0;
  const r = await measure("direct UNIX socket", () => {
    const p = new Promise((resolve) => {
      waiting = resolve;
    });
    client.write(encodeFrame({ kind: "request", id: String(n++), to: "sysmgmt", type: "status.get", body: {} }));
    return p.then(() => undefined);
  });
  client.end();
  server.stop(true);
  rmSync(dir, { recursive: true, force: true });
  return r;
}

async function brokeredRoundTrip(binary: string) {
  const runDir = mkdtempSync(path.join(tmpdir(), "smgw-bench-"));
  for (const u of UNIT_NAMES) if (u !== "ifm") mkdirSync(path.join(runDir, "ipc", u), { recursive: true, mode: 0o700 });
  const ifm = Bun.spawn([binary, "ifm"], {
    env: {
      SMGW_POLICY: path.join(REPO, "policy", "smgw.policy.yaml"),
      SMGW_RUN_DIR: runDir,
      SMGW_STATE_DIR: runDir,
      SMGW_LOG_LEVEL: "warn",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const sock = (u: string) => path.join(runDir, "ipc", u, "ifm.sock");
  const sysmgmt = new IpcClient({ socketPath: sock("sysmgmt") });
  sysmgmt.handle("status.get", () => STATUS);
  await sysmgmt.connectWithRetry(20_000);
  const display = new IpcClient({ socketPath: sock("display") });
  await display.connectWithRetry(20_000);
  const r = await measure("through the IFM", async () => {
    await display.request("sysmgmt", "status.get", {});
  });
  display.close();
  sysmgmt.close();
  ifm.kill("SIGTERM");
  await ifm.exited;
  rmSync(runDir, { recursive: true, force: true });
  return r;
}

function build(): string {
  const out = path.join(REPO, "userland", "build", "smgwd");
  const p = Bun.spawnSync([BUN, "build", "--compile", path.join(REPO, "userland", "smgwd", "main.ts"), "--outfile", out], {
    cwd: path.join(REPO, "userland"),
    stdout: "ignore",
    stderr: "inherit",
  });
  if (!p.success) throw new Error("build failed");
  return out;
}

function memoryOf(pid: string): { pss: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return { pss: kb("Pss"), rss: kb("Rss") };
}

async function daemonsPss() {
  if (process.getuid?.() !== 0) {
    console.log("PSS: skipped (host mode needs root)");
    return;
  }
  const name = "smgwbench";
  const up = Bun.spawn([path.join(REPO, "smgw"), "up", "--name", name], { stdout: "pipe", stderr: "inherit" });
  let text = "";
  const dec = new TextDecoder();
  for await (const c of up.stdout) {
    text += dec.decode(c);
    if (text.includes("\nready")) break;
  }
  await Bun.sleep(3000); // let the units settle after start
  const pids = Bun.spawnSync(["ip", "netns", "pids", `${name}-gw`]).stdout.toString().split(/\s+/).filter(Boolean);
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    const m = memoryOf(pid);
    pss += m.pss;
    rss += m.rss;
  }
  console.log(`ten daemons of host mode (${pids.length} processes from one executable):`);
  console.log(`  total PSS ${(pss / 1024).toFixed(1)} MB, total RSS ${(rss / 1024).toFixed(1)} MB, PSS/RSS ${(pss / rss).toFixed(2)} (shared pages counted once)`);
  up.kill("SIGINT");
  await up.exited;
  Bun.spawnSync([path.join(REPO, "smgw"), "down", "--name", name]);
  Bun.spawnSync(["rm", "-rf", `/var/lib/${name}`]);
}

const binary = build();
console.log(`IFM round trips, ${SECONDS} s each, one request in flight:`);
const direct = await directRoundTrip();
const brokered = await brokeredRoundTrip(binary);
console.log(
  `ratio (IFM / direct): throughput ${(brokered.perSecond / direct.perSecond).toFixed(2)}x, p99 latency ${(brokered.p99 / direct.p99).toFixed(2)}x`,
);
if (!values["skip-pss"]) await daemonsPss();
