// The test image in QEMU: a software TPM, three tap NICs moved into the peer namespaces
// (NAME-wan, NAME-lmn, NAME-han, as in host mode), a data disk, the console on a
// pseudo-terminal (Bun's terminal support) and the machine-readable port ttyS1 in a file.
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { loadPolicyFile, NETWORK_NAMES, type NetworkName, type Policy } from "@smgw/policy";
import { imagePaths } from "./build.ts";
import { type ChannelEvent, LineSplitter, parseChannelLine, runCommandLine } from "./channel.ts";
import { kernelCommandLine } from "./files.ts";
import { VM } from "./layout.ts";
import { ok, requireRoot, requireTools, run } from "./sh.ts";

export const BOOT_TOOLS = ["qemu-system-x86_64", "qemu-img", "swtpm", "ip"] as const;

const NAME = /^[a-z][a-z0-9]{1,10}$/;

export function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new Error(`machine name "${name}" must match ${NAME} (tap names are NAME-wan ...)`);
  }
}

export interface MachinePaths {
  runDir: string;
  stateDir: string;
  overlay: string;
  dataDisk: string;
  tpmState: string;
  tpmSocket: string;
  qmpSocket: string;
  qemuPid: string;
  swtpmPid: string;
  ownerPid: string;
  channel: string;
  console: string;
}

export function machinePaths(name: string): MachinePaths {
  const runDir = `/run/smgw-image/${name}`;
  const stateDir = `/var/lib/smgw-image/${name}`;
  return {
    runDir,
    stateDir,
    overlay: path.join(runDir, "root.qcow2"),
    dataDisk: path.join(stateDir, "data.raw"),
    tpmState: path.join(stateDir, "tpm"),
    tpmSocket: path.join(runDir, "swtpm.sock"),
    qmpSocket: path.join(runDir, "qmp.sock"),
    qemuPid: path.join(runDir, "qemu.pid"),
    swtpmPid: path.join(runDir, "swtpm.pid"),
    ownerPid: path.join(runDir, "owner.pid"),
    channel: path.join(runDir, "ttyS1.log"),
    console: path.join(runDir, "console.log"),
  };
}

export interface PeerNet {
  namespace: string;
  tap: string;
  mac: string;
  /** Endpoint addresses (with prefix length) put on the peer's end, gw0. */
  addresses: string[];
}

export function peerNets(name: string, policy: Policy): Record<NetworkName, PeerNet> {
  return Object.fromEntries(
    NETWORK_NAMES.map((n) => {
      const bits = policy.document.networks[n].address.split("/")[1];
      const addresses = Object.values(policy.endpoints)
        .filter((e) => e.network === n)
        .flatMap((e) => e.addresses.map((a) => `${a}/${bits}`));
      const short = n.toLowerCase();
      return [
        n,
        { namespace: `${name}-${short}`, tap: `${name}-${short}`, mac: VM.macs[n], addresses },
      ];
    }),
  ) as Record<NetworkName, PeerNet>;
}

export interface QemuPlan {
  kernel: string;
  initrd: string;
  overlay: string;
  dataDisk: string;
  tpmSocket: string;
  qmpSocket: string;
  qemuPid: string;
  channel: string;
  nets: PeerNet[];
  cmdline: string;
}

/** QEMU's arguments: TCG (the build machine's KVM is unusable, see FINDINGS), direct boot. */
export function qemuArgs(p: QemuPlan): string[] {
  const args = [
    "qemu-system-x86_64",
    "-accel",
    "tcg,thread=multi",
    "-cpu",
    "max",
    "-M",
    "q35",
    "-smp",
    "2",
    "-m",
    "1024",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-kernel",
    p.kernel,
    "-initrd",
    p.initrd,
    "-append",
    p.cmdline,
    "-drive",
    `if=none,id=root,file=${p.overlay},format=qcow2,discard=unmap`,
    "-device",
    "virtio-blk-pci,drive=root",
    "-drive",
    `if=none,id=data,file=${p.dataDisk},format=raw`,
    "-device",
    `virtio-blk-pci,drive=data,serial=${VM.dataDiskSerial}`,
    "-chardev",
    `socket,id=tpm,path=${p.tpmSocket}`,
    "-tpmdev",
    "emulator,id=tpm0,chardev=tpm",
    "-device",
    "tpm-tis,tpmdev=tpm0",
    "-device",
    "virtio-rng-pci",
    "-serial",
    "stdio",
    "-serial",
    `file:${p.channel}`,
    "-qmp",
    `unix:${p.qmpSocket},server=on,wait=off`,
    "-pidfile",
    p.qemuPid,
  ];
  p.nets.forEach((n, i) => {
    args.push(
      "-netdev",
      `tap,id=net${i},ifname=${n.tap},script=no,downscript=no`,
      "-device",
      `virtio-net-pci,netdev=net${i},mac=${n.mac}`,
    );
  });
  return args;
}

export interface MachineOptions {
  name: string;
  repoRoot: string;
  policyFile?: string;
  /** Start with a blank data disk and a new TPM (first boot). */
  fresh?: boolean;
  gatewayDisabled?: boolean;
  /** Every chunk of console output, as it comes. */
  onConsole?: (text: string) => void;
  out?: (line: string) => void;
}

export interface CommandResult {
  code: number;
  output: string;
}

export class MachineError extends Error {
  override name = "MachineError";
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

function readPid(file: string): number {
  try {
    return Number(readFileSync(file, "utf8").trim());
  } catch {
    return 0;
  }
}

function existingNamespaces(): string[] {
  return run(["ip", "netns", "list"], { allowFail: true })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

/** Removes namespaces, taps and processes of a machine; safe on what is already gone. */
export function removeNetworks(name: string): void {
  const present = new Set(existingNamespaces());
  for (const short of ["wan", "lmn", "han"]) {
    const ns = `${name}-${short}`;
    if (present.has(ns)) {
      for (const pid of run(["ip", "netns", "pids", ns], { allowFail: true })
        .split(/\s+/)
        .filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
      ok(["ip", "netns", "delete", ns]);
    }
    if (existsSync(`/sys/class/net/${ns}`)) ok(["ip", "link", "delete", ns]);
  }
}

export class Machine {
  readonly paths: MachinePaths;
  readonly nets: Record<NetworkName, PeerNet>;
  readonly startedAt: number;
  private readonly events: ChannelEvent[] = [];
  private readonly splitter = new LineSplitter();
  private channelOffset = 0;
  private consoleBuffer = "";
  private nextId = 1;
  private stopped = false;

  private constructor(
    readonly name: string,
    readonly policy: Policy,
    private readonly qemu: import("bun").Subprocess,
    private readonly swtpm: import("bun").Subprocess,
    paths: MachinePaths,
    nets: Record<NetworkName, PeerNet>,
    startedAt: number,
  ) {
    this.paths = paths;
    this.nets = nets;
    this.startedAt = startedAt;
  }

  static async start(o: MachineOptions): Promise<Machine> {
    checkName(o.name);
    requireRoot("booting the test image");
    requireTools(BOOT_TOOLS, "booting the test image");
    const img = imagePaths(path.join(o.repoRoot, "image", "build"));
    for (const f of [img.kernel, img.initrd, img.rootfs]) {
      if (!existsSync(f)) throw new MachineError(`${f} is missing: run smgw image build first`);
    }
    const policy = await loadPolicyFile(
      o.policyFile ?? path.join(o.repoRoot, "policy", "smgw.policy.yaml"),
    );
    const p = machinePaths(o.name);
    const owner = readPid(p.ownerPid);
    if (owner !== process.pid && alive(owner)) {
      throw new MachineError(`machine "${o.name}" is running (smgw image stop --name ${o.name})`);
    }
    cleanup(o.name);
    if (o.fresh) rmSync(p.stateDir, { recursive: true, force: true });
    mkdirSync(p.runDir, { recursive: true, mode: 0o700 });
    mkdirSync(p.tpmState, { recursive: true, mode: 0o700 });
    writeFileSync(p.ownerPid, String(process.pid));
    writeFileSync(p.channel, "");
    writeFileSync(p.console, "");
    if (!existsSync(p.dataDisk)) {
      // Sparse: the blank disk the first boot formats.
      writeFileSync(p.dataDisk, "");
      run(["truncate", "-s", String(VM.dataDiskBytes), p.dataDisk]);
    }
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", img.rootfs, p.overlay]);

    const swtpm = Bun.spawn(
      [
        "swtpm",
        "socket",
        "--tpm2",
        "--tpmstate",
        `dir=${p.tpmState}`,
        "--ctrl",
        `type=unixio,path=${p.tpmSocket}`,
        "--pid",
        `file=${p.swtpmPid}`,
        "--log",
        `file=${path.join(p.runDir, "swtpm.log")},level=1`,
        "--terminate",
      ],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    const tpmDeadline = Date.now() + 10_000;
    while (!existsSync(p.tpmSocket)) {
      if (swtpm.exitCode !== null || Date.now() > tpmDeadline) {
        throw new MachineError(`swtpm did not start: ${await new Response(swtpm.stderr).text()}`);
      }
      await Bun.sleep(20);
    }

    const nets = peerNets(o.name, policy);
    for (const n of Object.values(nets)) {
      run(["ip", "netns", "add", n.namespace]);
      run(["ip", "-n", n.namespace, "link", "set", "lo", "up"]);
      run(["ip", "tuntap", "add", "dev", n.tap, "mode", "tap"]);
      run(["ip", "link", "set", n.tap, "up"]);
    }
    const plan: QemuPlan = {
      kernel: img.kernel,
      initrd: img.initrd,
      overlay: p.overlay,
      dataDisk: p.dataDisk,
      tpmSocket: p.tpmSocket,
      qmpSocket: p.qmpSocket,
      qemuPid: p.qemuPid,
      channel: p.channel,
      nets: NETWORK_NAMES.map((n) => nets[n]),
      cmdline: kernelCommandLine({ gatewayDisabled: o.gatewayDisabled }),
    };
    const startedAt = performance.now();
    let machine: Machine | undefined;
    const decoder = new TextDecoder();
    const qemu = Bun.spawn(qemuArgs(plan), {
      terminal: {
        cols: 160,
        rows: 48,
        data: (_t, bytes) => {
          const text = decoder.decode(bytes, { stream: true });
          appendFileSync(p.console, text);
          machine?.addConsole(text);
          o.onConsole?.(text);
        },
      },
    });
    machine = new Machine(o.name, policy, qemu, swtpm, p, nets, startedAt);
    try {
      await machine.attachTaps();
    } catch (e) {
      await machine.stop();
      throw e;
    }
    o.out?.(
      `QEMU started (pid ${qemu.pid}); peers in ${Object.values(nets)
        .map((n) => n.namespace)
        .join(", ")}`,
    );
    return machine;
  }

  private addConsole(text: string): void {
    this.consoleBuffer += text;
    // The whole log is in the console file; memory keeps the last part for error messages.
    if (this.consoleBuffer.length > 4_000_000)
      this.consoleBuffer = this.consoleBuffer.slice(-2_000_000);
  }

  consoleTail(chars = 4000): string {
    return this.consoleBuffer.slice(-chars);
  }

  /** QEMU has opened a tap once it carries a carrier; then it moves into its namespace. */
  private async attachTaps(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (const n of Object.values(this.nets)) {
      for (;;) {
        if (this.qemu.exitCode !== null) {
          throw new MachineError(`QEMU exited (${this.qemu.exitCode}): ${this.consoleTail()}`);
        }
        let carrier = "0";
        try {
          carrier = readFileSync(`/sys/class/net/${n.tap}/carrier`, "utf8").trim();
        } catch {}
        if (carrier === "1") break;
        if (Date.now() > deadline) throw new MachineError(`QEMU did not open ${n.tap}`);
        await Bun.sleep(50);
      }
      run(["ip", "link", "set", n.tap, "netns", n.namespace]);
      run(["ip", "-n", n.namespace, "link", "set", n.tap, "name", "gw0"]);
      for (const a of n.addresses) run(["ip", "-n", n.namespace, "addr", "add", a, "dev", "gw0"]);
      run(["ip", "-n", n.namespace, "link", "set", "gw0", "up"]);
    }
  }

  /** New complete lines of the machine-readable port, parsed. */
  private poll(): void {
    let size = 0;
    try {
      size = statSync(this.paths.channel).size;
    } catch {
      return;
    }
    if (size <= this.channelOffset) return;
    const fd = openSync(this.paths.channel, "r");
    try {
      const buf = Buffer.alloc(size - this.channelOffset);
      const n = readSync(fd, buf, 0, buf.length, this.channelOffset);
      this.channelOffset += n;
      for (const line of this.splitter.push(buf.subarray(0, n).toString("latin1"))) {
        const ev = parseChannelLine(line);
        if (ev.kind !== "other") this.events.push(ev);
      }
    } finally {
      closeSync(fd);
    }
  }

  private async waitFor<T>(pick: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      const found = pick();
      if (found !== undefined) return found;
      if (this.qemu.exitCode !== null) {
        throw new MachineError(`QEMU exited (${this.qemu.exitCode}) while waiting for ${what}`);
      }
      if (Date.now() > deadline) {
        throw new MachineError(`no ${what} within ${Math.round(timeoutMs / 1000)} s`);
      }
      await Bun.sleep(100);
    }
  }

  /** The guest's report that the boot finished (multi-user and, unless masked, every unit). */
  async waitReady(
    timeoutMs = 300_000,
  ): Promise<{ uptime: number; failed: string[]; seconds: number }> {
    const ev = await this.waitFor(
      () => this.events.find((e) => e.kind === "ready"),
      timeoutMs,
      "ready report from the guest",
    );
    if (ev.kind !== "ready") throw new MachineError("unreachable");
    return {
      uptime: ev.uptime,
      failed: ev.failed,
      seconds: (performance.now() - this.startedAt) / 1000,
    };
  }

  /** Waits for the root shell on the console: the same probe, repeated until it answers. */
  async waitShell(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const id = `shell${this.nextId++}`;
    while (Date.now() < deadline) {
      this.qemu.terminal?.write(runCommandLine(id, "true"));
      try {
        await this.waitFor(
          () => this.events.find((e) => e.kind === "result" && e.id === id),
          3000,
          "shell",
        );
        return;
      } catch (e) {
        if (this.qemu.exitCode !== null) throw e;
      }
    }
    throw new MachineError(`no root shell on the console within ${timeoutMs / 1000} s`);
  }

  /** Runs a shell script as root in the guest; its output comes back on ttyS1. */
  async run(script: string, timeoutMs = 60_000): Promise<CommandResult> {
    const id = `c${this.nextId++}`;
    this.qemu.terminal?.write(runCommandLine(id, script));
    const ev = await this.waitFor(
      () => this.events.find((e) => e.kind === "result" && e.id === id),
      timeoutMs,
      `answer to: ${script.slice(0, 80)}`,
    );
    if (ev.kind !== "result") throw new MachineError("unreachable");
    return { code: ev.code, output: ev.output };
  }

  /** Like run, but a non-zero exit is an error quoting the output. */
  async sh(script: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(script, timeoutMs);
    if (r.code !== 0) {
      throw new MachineError(
        `guest: ${script.slice(0, 120)} exited ${r.code}: ${r.output.slice(-2000)}`,
      );
    }
    return r.output;
  }

  /** Malformed lines seen on the machine-readable port. */
  channelErrors(): string[] {
    this.poll();
    return this.events.flatMap((e) => (e.kind === "error" ? [e.reason] : []));
  }

  get running(): boolean {
    return !this.stopped && this.qemu.exitCode === null;
  }

  /**
   * Ends QEMU, the TPM, the namespaces and taps; keeps the state dir (disk, TPM state). The
   * console log and the machine-readable port's log are copied to `archiveTo` first.
   */
  async stop(graceful = false, archiveTo?: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (graceful && this.qemu.exitCode === null) {
      await qmp(this.paths.qmpSocket, "system_powerdown").catch(() => {});
      const deadline = Date.now() + 60_000;
      while (this.qemu.exitCode === null && Date.now() < deadline) await Bun.sleep(200);
    }
    if (this.qemu.exitCode === null) {
      this.qemu.kill("SIGTERM");
      const deadline = Date.now() + 10_000;
      while (this.qemu.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
      if (this.qemu.exitCode === null) this.qemu.kill("SIGKILL");
    }
    if (this.swtpm.exitCode === null) this.swtpm.kill("SIGTERM");
    await this.qemu.exited;
    this.qemu.terminal?.close();
    if (archiveTo) {
      mkdirSync(archiveTo, { recursive: true });
      for (const f of [this.paths.console, this.paths.channel]) {
        if (existsSync(f)) copyFileSync(f, path.join(archiveTo, path.basename(f)));
      }
    }
    cleanup(this.name);
  }
}

/** One QMP command over the machine's socket (capabilities handshake first). */
async function qmp(socketPath: string, command: string): Promise<void> {
  let buffered = "";
  await new Promise<void>((resolve, reject) => {
    let sentCommand = false;
    const timer = setTimeout(() => reject(new Error("QMP timeout")), 5000);
    Bun.connect({
      unix: socketPath,
      socket: {
        data(s, d) {
          buffered += d.toString();
          if (!sentCommand && buffered.includes("QMP")) {
            sentCommand = true;
            s.write(`{"execute":"qmp_capabilities"}\n{"execute":"${command}"}\n`);
          } else if (sentCommand && buffered.split('"return"').length > 2) {
            clearTimeout(timer);
            s.end();
            resolve();
          }
        },
        error(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    }).catch(reject);
  });
}

/** Whatever a previous run of this machine left: processes, namespaces, taps, run dir. */
export function cleanup(name: string): void {
  const p = machinePaths(name);
  for (const f of [p.qemuPid, p.swtpmPid]) {
    const pid = readPid(f);
    if (alive(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  removeNetworks(name);
  rmSync(p.runDir, { recursive: true, force: true });
}

/** `smgw image stop`: asks the process that booted the machine to stop it, else cleans up. */
export async function stopByName(name: string, out: (l: string) => void): Promise<void> {
  checkName(name);
  requireRoot("smgw image stop");
  const p = machinePaths(name);
  const owner = readPid(p.ownerPid);
  if (alive(owner) && owner !== process.pid) {
    process.kill(owner, "SIGTERM");
    const deadline = Date.now() + 90_000;
    while (alive(owner) && Date.now() < deadline) await Bun.sleep(200);
  }
  cleanup(name);
  out(`machine "${name}" is stopped; its disk and TPM state stay in ${p.stateDir}`);
}
