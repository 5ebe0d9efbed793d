// System tests of the test image, as root: build it (warm cache: under a minute), boot it in
// QEMU with its NICs in the peer namespaces, and check from the host what host mode cannot
// show: SELinux enforcing with every unit in its own domain and no unexpected denial, the
// packet filter on the real NICs, the LUKS2 data volume with a TPM-sealed key, and the
// SELinux layer alone refusing a forbidden connection. The console log is kept under
// artifacts/ (git-ignored) for every run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { UNIT_NAMES } from "@smgw/policy";
import { startMeters } from "./boot.ts";
import { BUILD_TOOLS, type BuiltImage, buildImage, imagePaths } from "./build.ts";
import { defaultInputDirs, expectedInputs, type InputDirs } from "./inputs.ts";
import { BOOT_TOOLS, Machine } from "./machine.ts";
import {
  connectScript,
  helperOutcome,
  type ProbeOutcome,
  parseAvcDenials,
  probeTcp,
  type TcpProbe,
  typeOf,
} from "./probe.ts";
import { which } from "./sh.ts";

const REPO = path.resolve(import.meta.dir, "../..");
const NAME = `smgwi${process.pid % 100000}`;
const inputDirs: InputDirs = {
  generated: process.env.SMGW_IMAGE_GENERATED_DIR ?? defaultInputDirs(REPO).generated,
  selinux: process.env.SMGW_IMAGE_SELINUX_DIR ?? defaultInputDirs(REPO).selinux,
};

function why(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  if (process.env.SMGW_IMAGE_TEST === "0") return "SMGW_IMAGE_TEST=0";
  const tools = [...BUILD_TOOLS, ...BOOT_TOOLS, "curl"].filter((t) => !which(t));
  if (tools.length) return `missing tools: ${tools.join(", ")} (ci/setup installs them)`;
  // Until the policy compiler's outputs exist, there is no image to test.
  const missing = expectedInputs(inputDirs).filter((e) => !existsSync(e.file));
  if (missing.length) return `generated inputs missing: ${missing.map((m) => m.file).join(", ")}`;
  return undefined;
}
const skipReason = why();
if (skipReason) console.warn(`image system tests skipped: ${skipReason}`);

const GW = { WAN: "192.0.2.1", LMN: "198.51.100.1", HAN: "203.0.113.1" };
const ALICE = "203.0.113.10";

let machine: Machine | undefined;
let image: BuiltImage | undefined;
let meters: import("bun").Subprocess[] = [];
const passwords: Record<string, string> = {};
const artifacts = path.join(
  REPO,
  "artifacts",
  `image-${new Date().toISOString().replace(/[:.]/g, "-")}`,
);

function sh(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

function hanGet(user: string, from: string, urlPath: string): { status: number; body: string } {
  const r = sh([
    "ip",
    "netns",
    "exec",
    `${NAME}-han`,
    "curl",
    "-s",
    "-m",
    "15",
    "--interface",
    from,
    "-u",
    `${user}:${passwords[user]}`,
    "-w",
    "\n%{http_code}",
    `http://${GW.HAN}:8080${urlPath}`,
  ]);
  const lines = r.out.trimEnd().split("\n");
  return { status: Number(lines.pop()), body: lines.join("\n") };
}

async function guest(script: string, timeoutMs = 60_000): Promise<string> {
  if (!machine) throw new Error("the machine is not running");
  return machine.sh(script, timeoutMs);
}

/** Starts a helper in a unit's domain through systemd (as the units themselves start). */
async function inDomain(
  unit: string,
  user: string,
  target: { host: string; port: number } | { path: string },
): Promise<{ outcome: ProbeOutcome; since: string; output: string }> {
  const since = (await guest("date +%H:%M:%S")).trim();
  const js = connectScript(target).replaceAll("'", "'\\''");
  const r = await machine?.run(
    `systemd-run --wait --collect -p SELinuxContext=system_u:system_r:smgw_${unit}_t:s0 ` +
      `-p User=${user} -E BUN_BE_BUN=1 /usr/lib/smgw/smgwd -e '${js}' 2>&1`,
    60_000,
  );
  const output = r?.output ?? "";
  // systemd-run --wait ends with "Main processes terminated with: code=exited/status=N".
  const status = /code=exited\/status=(\d+)/.exec(output)?.[1] ?? "1";
  return { outcome: helperOutcome(Number(status)), since, output };
}

describe.skipIf(skipReason !== undefined)("test image in QEMU (needs root)", () => {
  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    const t0 = performance.now();
    image = await buildImage({
      repoRoot: REPO,
      policyFile: path.join(REPO, "policy", "smgw.policy.yaml"),
      inputDirs,
      out: (l) => console.log(`[build] ${l}`),
    });
    console.log(`[build] ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const line of readFileSync(image.credentials, "utf8").split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length === 3 && f[0] && f[2] && !line.startsWith("#")) passwords[f[0]] = f[2];
    }
    machine = await Machine.start({ name: NAME, repoRoot: REPO, fresh: true });
    meters = startMeters(REPO, machine.policy, machine.nets.LMN, 1000);
    const ready = await machine.waitReady(420_000);
    console.log(
      `[boot] ready after ${ready.seconds.toFixed(1)} s (guest uptime ${ready.uptime} s)`,
    );
    await machine.waitShell();
  }, 900_000);

  afterAll(async () => {
    for (const m of meters) m.kill("SIGKILL");
    if (machine) {
      try {
        if (machine.running) {
          const journal = await machine.run(
            "journalctl -b --no-pager -o short-monotonic | tail -4000",
            120_000,
          );
          writeFileSync(path.join(artifacts, "journal.txt"), journal.output);
        }
      } catch {}
      await machine.stop(false, artifacts);
      // The data disk and TPM state of a test machine are of no use after the run.
      rmSync(machine.paths.stateDir, { recursive: true, force: true });
      console.log(`[artifacts] console log and journal in ${artifacts}`);
    } else if (image === undefined) {
      console.log("[artifacts] no machine was started");
    }
  }, 180_000);

  test("SELinux enforces the generated policy; every unit is active in its own domain", async () => {
    expect((await guest("getenforce")).trim()).toBe("Enforcing");
    expect(await guest("semodule -l")).toMatch(/^smgw$/m);
    const failed = (await guest("systemctl list-units --state=failed --plain --no-legend")).trim();
    expect(failed).toBe("");
    const ps = await guest("ps -eo label=,unit=,comm= | grep smgwd || true");
    for (const u of UNIT_NAMES) {
      expect((await guest(`systemctl is-active smgw-${u}.service || true`)).trim()).toBe("active");
      const line = ps.split("\n").find((l) => l.split(/\s+/)[1] === `smgw-${u}.service`);
      expect(line ? typeOf(line.split(/\s+/)[0] ?? "") : `no process of smgw-${u}`).toBe(
        `smgw_${u}_t`,
      );
    }
  }, 120_000);

  test("the packet filter is applied and the NICs carry the policy's addresses", async () => {
    expect(await guest("nft list table inet smgw >/dev/null && echo loaded")).toContain("loaded");
    const addrs = await guest("ip -br -4 addr");
    expect(addrs).toMatch(/^wan0\s+UP\s+192\.0\.2\.1\/24/m);
    expect(addrs).toMatch(/^lmn0\s+UP\s+198\.51\.100\.1\/24/m);
    expect(addrs).toMatch(/^han0\s+UP\s+203\.0\.113\.1\/24/m);
  }, 60_000);

  test("reading slice across the real NICs: simulated meter on the LMN -> HAN curl", async () => {
    const deadline = Date.now() + 120_000;
    let last = { status: 0, body: "" };
    while (Date.now() < deadline) {
      last = hanGet("alice", ALICE, "/api/v1/meters/meter-1/readings?limit=5");
      if (last.status === 200 && last.body.includes("1-0:1.8.0")) break;
      await Bun.sleep(2000);
    }
    expect(last.status).toBe(200);
    expect(last.body).toContain("1-0:1.8.0");
    // Consumer isolation holds on the image too: bob's meter is not alice's.
    expect(hanGet("alice", ALICE, "/api/v1/meters/meter-3/readings").status).toBe(404);
  }, 180_000);

  test("the data volume is LUKS2 with a TPM2-sealed key only, mounted with the data label", async () => {
    const dump = await guest("cryptsetup luksDump /dev/disk/by-id/virtio-smgw-data");
    expect(dump).toMatch(/^Version:\s+2$/m);
    expect(dump).toContain("systemd-tpm2");
    // One key slot: the random first-boot key was wiped once the TPM had sealed a new one.
    expect(dump.match(/^\s+\d+: luks2$/gm)?.length).toBe(1);
    expect((await guest("findmnt -no SOURCE /var/lib/smgw/data")).trim()).toBe(
      "/dev/mapper/smgwdata",
    );
    expect(typeOf((await guest("stat -c %C /var/lib/smgw/data")).trim())).toBe("smgw_data_t");
    expect(
      typeOf((await guest("stat -c %C /var/lib/smgw/data/secure/meter/readings.sqlite")).trim()),
    ).toBe("smgw_data_t");
  }, 60_000);

  test("no plaintext reading on the raw data disk, nor in the opened volume's stores", async () => {
    // Two layers: dm-crypt hides the file system on the disk; inside it, secure storage keeps
    // every record AES-GCM encrypted, so even the opened volume shows SQLite files (the store
    // holds readings) but no reading in the clear.
    const store = "/var/lib/smgw/data/secure/meter/readings.sqlite";
    expect(Number((await guest(`cat ${store}* | wc -c`)).trim())).toBeGreaterThan(4096);
    expect(await guest(`head -c 16 ${store}`)).toContain("SQLite format 3");
    const clear = await guest(
      "cat /var/lib/smgw/data/secure/meter/readings.sqlite* | grep -a -c -e 1-0:1.8.0 -e meter-1 || true",
    );
    expect(Number(clear.trim())).toBe(0);
    await guest("sync; echo 3 > /proc/sys/vm/drop_caches");
    const disk = machine?.paths.dataDisk ?? "";
    for (const needle of ["SQLite format 3", "1-0:1.8.0", "meter-1", "CREATE TABLE"]) {
      const r = sh(["grep", "-c", "-a", "-F", needle, disk]);
      expect(`${needle}: ${r.out.trim()}`).toBe(`${needle}: 0`);
    }
  }, 120_000);

  test("attack matrix from the peer namespaces: 0 leaks (and the allowed flows pass)", async () => {
    const nets = machine?.nets;
    if (!nets) throw new Error("no machine");
    // Routes towards the gateway's other networks, as an attacker would set them.
    sh(["ip", "-n", nets.WAN.namespace, "route", "add", "198.51.100.0/24", "via", GW.WAN]);
    sh(["ip", "-n", nets.WAN.namespace, "route", "add", "203.0.113.0/24", "via", GW.WAN]);
    sh(["ip", "-n", nets.LMN.namespace, "route", "add", "203.0.113.0/24", "via", GW.LMN]);
    sh(["ip", "-n", nets.HAN.namespace, "route", "add", "198.51.100.0/24", "via", GW.HAN]);
    const wan = (host: string, port: number): TcpProbe => ({
      namespace: nets.WAN.namespace,
      from: "192.0.2.10",
      host,
      port,
    });
    const lmn = (host: string, port: number): TcpProbe => ({
      namespace: nets.LMN.namespace,
      from: "198.51.100.11",
      host,
      port,
    });
    const han = (host: string, port: number): TcpProbe => ({
      namespace: nets.HAN.namespace,
      from: ALICE,
      host,
      port,
    });
    const forbidden: { name: string; probe: TcpProbe }[] = [
      // WAN -> each gateway port, on every address of the gateway.
      ...[7259, 8080, 8443, 443, 22].flatMap((port) =>
        Object.values(GW).map((host) => ({
          name: `WAN -> ${host}:${port}`,
          probe: wan(host, port),
        })),
      ),
      // LMN -> HAN: the display through the gateway's HAN address, and a HAN device.
      { name: "LMN -> gateway HAN address :8080", probe: lmn(GW.HAN, 8080) },
      { name: "LMN -> gateway LMN address :8080", probe: lmn(GW.LMN, 8080) },
      { name: "LMN -> HAN device 203.0.113.10:8080", probe: lmn("203.0.113.10", 8080) },
      // HAN -> LMN: the meter listener and a meter.
      { name: "HAN -> gateway LMN address :7259", probe: han(GW.LMN, 7259) },
      { name: "HAN -> gateway HAN address :7259", probe: han(GW.HAN, 7259) },
      { name: "HAN -> meter 198.51.100.11:7259", probe: han("198.51.100.11", 7259) },
    ];
    const results = await Promise.all(
      forbidden.map(async (f) => ({ name: f.name, outcome: await probeTcp(f.probe) })),
    );
    for (const r of results) console.log(`[attack] ${r.name}: ${r.outcome}`);
    const leaks = results.filter((r) => r.outcome === "connected" || r.outcome === "refused");
    expect(leaks).toEqual([]);
    // The same probe passes where the policy allows the flow, so "blocked" means something.
    expect(await probeTcp(han(GW.HAN, 8080))).toBe("connected");
    expect(await probeTcp(lmn(GW.LMN, 7259))).toBe("connected");
  }, 120_000);

  test("zero unexpected AVC denials during normal operation", async () => {
    const log = await guest("ausearch -m avc -ts boot 2>/dev/null || true", 120_000);
    const denials = parseAvcDenials(log);
    // Ours: anything with a gateway type on either side, or the data volume's plumbing.
    const ours = denials.filter(
      (d) =>
        typeOf(d.source).startsWith("smgw_") ||
        typeOf(d.target).startsWith("smgw_") ||
        ["lvm_t", "unconfined_mount_t"].includes(typeOf(d.source)),
    );
    const base = denials.length - ours.length;
    if (base) console.log(`[avc] ${base} denials of the base system (Debian's policy), not ours`);
    for (const d of ours) console.log(`[avc] ${d.line}`);
    expect(
      ours.map((d) => `${d.comm} ${d.source} ${d.permissions} ${d.target} ${d.tclass}`),
    ).toEqual([]);
  }, 120_000);

  test("systemd alone refuses forbidden peers (packet filter flushed): IPAddressAllow per unit", async () => {
    const nets = machine?.nets;
    if (!nets) throw new Error("no machine");
    await guest("nft flush ruleset");
    // A meter and a WAN party towards the display's HAN listener, routed through the gateway:
    // with the packet filter gone, only the display unit's IPAddressAllow= (cgroup BPF) is left.
    sh(["ip", "-n", nets.WAN.namespace, "route", "replace", "203.0.113.0/24", "via", GW.WAN]);
    sh(["ip", "-n", nets.LMN.namespace, "route", "replace", "203.0.113.0/24", "via", GW.LMN]);
    try {
      const lmnToDisplay = await probeTcp({
        namespace: nets.LMN.namespace,
        from: "198.51.100.11",
        host: GW.HAN,
        port: 8080,
      });
      const wanToDisplay = await probeTcp({
        namespace: nets.WAN.namespace,
        from: "192.0.2.10",
        host: GW.HAN,
        port: 8080,
      });
      // Controls: the meter's own address still reaches the meter unit, alice the display.
      const meter = await probeTcp({
        namespace: nets.LMN.namespace,
        from: "198.51.100.11",
        host: GW.LMN,
        port: 7259,
      });
      const alice = await probeTcp({
        namespace: nets.HAN.namespace,
        from: ALICE,
        host: GW.HAN,
        port: 8080,
      });
      console.log(
        `[systemd-only] LMN->display ${lmnToDisplay}, WAN->display ${wanToDisplay}, meter ${meter}, alice ${alice}`,
      );
      expect({ lmnToDisplay, wanToDisplay, meter, alice }).toEqual({
        lmnToDisplay: "blocked",
        wanToDisplay: "blocked",
        meter: "connected",
        alice: "connected",
      });
    } finally {
      await guest("nft -f /etc/nftables.conf");
    }
  }, 120_000);

  test("SELinux alone refuses forbidden connections (packet filter flushed, IFM bypassed)", async () => {
    await guest("nft flush ruleset");
    try {
      // Control: the display's own IPC socket, from its own domain, works.
      const control = await inDomain("display", "smgw-display", {
        path: "/run/smgw/ipc/display/ifm.sock",
      });
      expect(control.outcome).toBe("connected");
      // The meter's domain, to the display's HAN port: no packet filter in the way any more.
      const port = await inDomain("meter", "smgw-meter", { host: GW.HAN, port: 8080 });
      // The meter's domain, under the display's user (so file permissions allow it), to the
      // display's IPC socket: only the type enforcement stands in the way.
      const socket = await inDomain("meter", "smgw-display", {
        path: "/run/smgw/ipc/display/ifm.sock",
      });
      const avcs = parseAvcDenials(
        await guest(`ausearch -m avc -ts ${port.since} 2>/dev/null || true`),
      ).filter((d) => typeOf(d.source) === "smgw_meter_t");
      for (const d of avcs) console.log(`[selinux-only] ${d.line}`);
      expect({ port: port.outcome, socket: socket.outcome }).toEqual({
        port: "denied",
        socket: "denied",
      });
      expect(avcs.some((d) => d.tclass === "tcp_socket")).toBe(true);
      expect(
        avcs.some(
          (d) =>
            d.tclass === "unix_stream_socket" || d.tclass === "sock_file" || d.tclass === "dir",
        ),
      ).toBe(true);
    } finally {
      await guest("nft -f /etc/nftables.conf");
    }
  }, 180_000);
});

test("the image paths sit under image/build", () => {
  expect(imagePaths(path.join(REPO, "image", "build")).rootfs).toEndWith("debian/rootfs.ext4");
});
