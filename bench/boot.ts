// Benchmark: boot time of the test image in QEMU, from QEMU's start until every gateway unit
// has reported ready, against the same image with the gateway's units masked, in one run;
// then where the time goes (systemd-analyze, blame top 10). Root.
//
//   userland/node_modules/.bin/bun bench/boot.ts [--no-build] [--selinux DIR] [--generated DIR]
//
// Both boots reuse one data disk and TPM state, so neither pays for the first-boot format of
// the data volume (a priming boot does that when there is no state yet). The guest reports
// the end of its boot on its second serial port once multi-user.target and every unit are
// up; with smgw.target masked (kernel command line) only multi-user.target counts.
import path from "node:path";
import { parseArgs } from "node:util";
import { buildImage } from "../userland/image/build.ts";
import { defaultInputDirs } from "../userland/image/inputs.ts";
import { Machine, machinePaths } from "../userland/image/machine.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    "no-build": { type: "boolean", default: false },
    selinux: { type: "string" },
    generated: { type: "string" },
  },
});
const REPO = path.resolve(import.meta.dir, "..");
const NAME = "smgwbench";

if (process.getuid?.() !== 0) {
  console.error("bench/boot.ts needs root (QEMU with taps, namespaces)");
  process.exit(1);
}

if (!values["no-build"]) {
  const dirs = defaultInputDirs(REPO);
  await buildImage({
    repoRoot: REPO,
    policyFile: path.join(REPO, "policy", "smgw.policy.yaml"),
    inputDirs: {
      generated: values.generated ? path.resolve(values.generated) : dirs.generated,
      selinux: values.selinux ? path.resolve(values.selinux) : dirs.selinux,
    },
    out: (l) => console.log(`build: ${l}`),
  });
}

interface BootResult {
  seconds: number;
  uptime: number;
  failed: string[];
  analyze?: string;
  blame?: string;
}

async function boot(o: { fresh: boolean; gatewayDisabled: boolean; analyze: boolean }) {
  const m = await Machine.start({
    name: NAME,
    repoRoot: REPO,
    fresh: o.fresh,
    gatewayDisabled: o.gatewayDisabled,
  });
  try {
    const ready = await m.waitReady(600_000);
    const r: BootResult = { seconds: ready.seconds, uptime: ready.uptime, failed: ready.failed };
    if (o.analyze) {
      await m.waitShell();
      r.analyze = (await m.sh("systemd-analyze")).trim();
      r.blame = (await m.sh("systemd-analyze blame --no-pager | head -10")).trimEnd();
    }
    return r;
  } finally {
    await m.stop(true);
  }
}

const state = machinePaths(NAME);
if (!(await Bun.file(state.dataDisk).exists())) {
  console.log("priming boot (first boot formats the data volume) ...");
  const p = await boot({ fresh: true, gatewayDisabled: false, analyze: false });
  console.log(`  first boot, with the data volume's format: ${p.seconds.toFixed(1)} s`);
}
console.log("boot with the gateway ...");
const gateway = await boot({ fresh: false, gatewayDisabled: false, analyze: true });
console.log("boot with the gateway's units masked ...");
const baseline = await boot({ fresh: false, gatewayDisabled: true, analyze: false });

const row = (name: string, r: BootResult) =>
  `${name.padEnd(34)} ${r.seconds.toFixed(1).padStart(7)} s   guest uptime ${r.uptime.toFixed(1).padStart(6)} s${r.failed.length ? `   FAILED: ${r.failed.join(", ")}` : ""}`;
console.log("");
console.log("QEMU start -> boot finished (TCG, 2 vCPUs, 1 GiB)");
console.log(row("gateway: all ten units ready", gateway));
console.log(row("same image, gateway masked", baseline));
console.log(
  `ratio ${(gateway.seconds / baseline.seconds).toFixed(2)}x (the gateway adds ${(gateway.seconds - baseline.seconds).toFixed(1)} s)`,
);
console.log("");
console.log(gateway.analyze ?? "");
console.log("systemd-analyze blame, top 10 (gateway boot):");
console.log(gateway.blame ?? "");
if (gateway.failed.length || baseline.failed.length) process.exitCode = 1;
