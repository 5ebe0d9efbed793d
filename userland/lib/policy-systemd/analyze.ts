// Checks of the generated files with systemd's own tools (Debian package `systemd`, 252 or
// later): `systemd-analyze verify` and `systemd-analyze security --offline`, and
// systemd-sysusers/systemd-tmpfiles for the users and directories. Everything runs against a
// scratch root directory (`--root=`), so the host needs neither the gateway's users nor its
// executable and nothing on the host is read for the units or changed.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { INSTALL } from "./compile.ts";

export class SystemdToolError extends Error {
  override name = "SystemdToolError";
}

/** Where the host keeps its own units: default dependencies (sysinit.target ...) come from it. */
const HOST_UNIT_DIRS = ["/usr/lib/systemd/system", "/lib/systemd/system"];
const TOOL_TIMEOUT_MS = 60_000;

function tool(name: string): string {
  const found = Bun.which(name);
  if (!found) {
    throw new SystemdToolError(
      `${name} not found: install the Debian package systemd (252 or later)`,
    );
  }
  return found;
}

function run(cmd: string[]): { exitCode: number; output: string } {
  const p = Bun.spawnSync(cmd, {
    stdout: "pipe",
    stderr: "pipe",
    // Stable, uncoloured output; UTF-8 so that the table's marks are the documented ones.
    env: { ...process.env, SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "", LC_ALL: "C.UTF-8" },
    timeout: TOOL_TIMEOUT_MS,
  });
  const output = `${p.stdout.toString()}${p.stderr.toString()}`;
  if (p.exitCode === null) {
    throw new SystemdToolError(`${cmd.join(" ")} did not finish (signal ${p.signalCode})`);
  }
  return { exitCode: p.exitCode, output };
}

/**
 * A scratch root with the generated units in /etc/systemd/system, the sysusers.d and
 * tmpfiles.d files in /usr/lib, a stand-in executable at the installed path (verify checks
 * that ExecStart= exists and is executable) and a copy of the host's own units.
 */
export function systemdRoot(files: Record<string, string>, root?: string): string {
  const dir = root ?? mkdtempSync(path.join(tmpdir(), "smgw-systemd-root-"));
  const units = path.join(dir, "etc/systemd/system");
  mkdirSync(units, { recursive: true });
  mkdirSync(path.join(dir, "usr/lib/sysusers.d"), { recursive: true });
  mkdirSync(path.join(dir, "usr/lib/tmpfiles.d"), { recursive: true });
  const placed: Record<string, string> = {
    "smgw-sysusers.conf": "usr/lib/sysusers.d/smgw.conf",
    "smgw-tmpfiles.conf": "usr/lib/tmpfiles.d/smgw.conf",
  };
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(placed[name] ? path.join(dir, placed[name]) : path.join(units, name), text);
  }
  const binary = path.join(dir, INSTALL.binary);
  mkdirSync(path.dirname(binary), { recursive: true });
  writeFileSync(binary, "#!/bin/sh\nexit 0\n");
  chmodSync(binary, 0o755);
  const hostUnits = HOST_UNIT_DIRS.find((d) => existsSync(d));
  if (!hostUnits) {
    throw new SystemdToolError(`no systemd unit directory (${HOST_UNIT_DIRS.join(", ")})`);
  }
  const copy = path.join(dir, "usr/lib/systemd/system");
  if (!existsSync(copy)) cpSync(hostUnits, copy, { recursive: true, verbatimSymlinks: true });
  return dir;
}

export interface VerifyResult {
  ok: boolean;
  exitCode: number;
  /** Lines about the gateway's own units: any of them is a finding (verify warns with exit 0). */
  findings: string[];
  output: string;
}

/** `systemd-analyze verify` of the named units in `root`. */
export function verifyUnits(root: string, units: string[]): VerifyResult {
  const { exitCode, output } = run([
    tool("systemd-analyze"),
    "verify",
    "--man=no",
    "--generators=no",
    `--root=${root}`,
    ...units,
  ]);
  const findings = output.split("\n").filter((l) => l.includes("smgw"));
  return { ok: exitCode === 0 && findings.length === 0, exitCode, findings, output };
}

export interface SecurityScore {
  unit: string;
  /** systemd's overall exposure level, 0.0 (best) to 10.0. */
  exposure: number;
  /** systemd's word for the level: SAFE, OK, MEDIUM, EXPOSED, UNSAFE. */
  rating: string;
  /** The checks that were not fully met, as systemd names them. */
  open: string[];
}

/** `systemd-analyze security --offline=true` of each named unit in `root`. */
export function securityScores(root: string, units: string[]): SecurityScore[] {
  const analyze = tool("systemd-analyze");
  return units.map((unit) => {
    const { output } = run([
      analyze,
      "security",
      "--offline=true",
      "--no-pager",
      `--root=${root}`,
      unit,
    ]);
    const overall = /Overall exposure level for (\S+): (\d+(?:\.\d+)?) ([A-Z]+)/.exec(output);
    if (!overall?.[2] || !overall[3]) {
      throw new SystemdToolError(`no exposure level for ${unit} in:\n${output}`);
    }
    const open = output
      .split("\n")
      .map((l) => /^\s*✗\s+(\S+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    return { unit, exposure: Number(overall[2]), rating: overall[3], open };
  });
}

export interface Account {
  uid: number;
  gid: number;
}

/**
 * Applies the sysusers.d and tmpfiles.d files to `root`: creates the users in root/etc and
 * the directories under root/run and root/var. Needs to run as root (tmpfiles sets owners).
 */
export function applyUsersAndDirectories(root: string): {
  users: Record<string, Account>;
  groups: Record<string, { gid: number; members: string[] }>;
  output: string;
} {
  const sysusers = run([
    tool("systemd-sysusers"),
    `--root=${root}`,
    path.join(root, "usr/lib/sysusers.d/smgw.conf"),
  ]);
  if (sysusers.exitCode !== 0) throw new SystemdToolError(`systemd-sysusers: ${sysusers.output}`);
  const tmpfiles = run([
    tool("systemd-tmpfiles"),
    `--root=${root}`,
    "--create",
    path.join(root, "usr/lib/tmpfiles.d/smgw.conf"),
  ]);
  if (tmpfiles.exitCode !== 0) throw new SystemdToolError(`systemd-tmpfiles: ${tmpfiles.output}`);
  const users: Record<string, Account> = {};
  for (const line of readLines(path.join(root, "etc/passwd"))) {
    const [name, , uid, gid] = line.split(":");
    if (name) users[name] = { uid: Number(uid), gid: Number(gid) };
  }
  const groups: Record<string, { gid: number; members: string[] }> = {};
  for (const line of readLines(path.join(root, "etc/group"))) {
    const [name, , gid, members] = line.split(":");
    if (name) groups[name] = { gid: Number(gid), members: members ? members.split(",") : [] };
  }
  return { users, groups, output: `${sysusers.output}${tmpfiles.output}` };
}

function readLines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0);
}
