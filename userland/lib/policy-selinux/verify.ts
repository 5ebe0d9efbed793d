// Machine checks of the SELinux output: install the module into a copy of Debian's reference
// policy store (never the running system's) and run the assertions with setools.
// Needs the Debian packages semodule-utils, policycoreutils, selinux-policy-default, secilc,
// setools, python3-setools and selinux-utils.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Policy } from "@smgw/policy";
import type { SelinuxOutput } from "./cil.ts";
import { buildModel, domainType, ipcType, nodeType, stateType } from "./model.ts";

export const PYTHON = "/usr/bin/python3";
export const CHECK_SCRIPT = path.join(import.meta.dir, "check_policy.py");
/** Debian's reference policy store and installed policy. */
const STORE = "/var/lib/selinux/default";
const INSTALLED = "/etc/selinux/default";

export class SemanagePortsError extends Error {
  override name = "SemanagePortsError";
}

export interface PortLabel {
  type: string;
  protocol: "tcp" | "udp";
  port: number;
}

/** Reads the `port -m -t TYPE -p PROTO PORT` lines of smgw.semanage. */
export function parseSemanagePorts(text: string): PortLabel[] {
  if (text.length > 1 << 20) throw new SemanagePortsError("smgw.semanage: larger than 1 MiB");
  const labels: PortLabel[] = [];
  text.split("\n").forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const m = /^port -m -t ([a-z][a-z0-9_]{0,62}) -p (tcp|udp) (\d{1,5})$/.exec(trimmed);
    const port = Number(m?.[3]);
    if (!m || !(port >= 1 && port <= 65535)) {
      throw new SemanagePortsError(
        `smgw.semanage line ${i + 1}: expected "port -m -t TYPE -p tcp|udp PORT", got ${JSON.stringify(trimmed.slice(0, 80))}`,
      );
    }
    labels.push({ type: m[1] ?? "", protocol: m[2] as "tcp" | "udp", port });
  });
  return labels;
}

export interface BuiltPolicy {
  root: string;
  policyFile: string;
  fileContexts: string;
  seconds: number;
}

export class SemoduleError extends Error {
  override name = "SemoduleError";
}

/** True when the tools and the reference policy are installed. */
export function selinuxToolsPresent(): boolean {
  return (
    existsSync(STORE) &&
    existsSync(INSTALLED) &&
    Bun.which("semodule") !== null &&
    existsSync(PYTHON) &&
    Bun.spawnSync([PYTHON, "-c", "import setools"]).exitCode === 0
  );
}

/**
 * Installs the module into a temporary copy of the reference policy, as `semanage import`
 * and `semodule -i` would on the appliance (the port labels become the store's local port
 * records), with neverallow checking on (expand-check=1). Returns the binary policy.
 */
export function buildPolicy(output: SelinuxOutput, cil = output["smgw.cil"]): BuiltPolicy {
  const root = mkdtempSync(path.join(tmpdir(), "smgw-selinux-"));
  mkdirSync(path.join(root, "var/lib/selinux"), { recursive: true });
  mkdirSync(path.join(root, "etc/selinux"), { recursive: true });
  const copy = Bun.spawnSync(["cp", "-a", STORE, path.join(root, "var/lib/selinux/")]);
  const copy2 = Bun.spawnSync(["cp", "-a", INSTALLED, path.join(root, "etc/selinux/")]);
  if (copy.exitCode !== 0 || copy2.exitCode !== 0) {
    throw new SemoduleError(`copying the policy store failed: ${copy.stderr}${copy2.stderr}`);
  }
  writeFileSync(
    path.join(root, "etc/selinux/semanage.conf"),
    "module-store = direct\nexpand-check = 1\n",
  );
  const ports = parseSemanagePorts(output["smgw.semanage"])
    .map((p) => `portcon ${p.protocol} ${p.port} system_u:object_r:${p.type}:s0`)
    .join("\n");
  writeFileSync(path.join(root, "var/lib/selinux/default/active/ports.local"), `${ports}\n`);
  const moduleDir = path.join(root, "module");
  mkdirSync(moduleDir);
  writeFileSync(path.join(moduleDir, "smgw.cil"), cil);

  const start = performance.now();
  const run = Bun.spawnSync(["semodule", "-p", root, "-n", "-i", "smgw.cil"], { cwd: moduleDir });
  const seconds = (performance.now() - start) / 1000;
  if (run.exitCode !== 0) {
    const message = `${run.stderr}`.trim();
    rmSync(root, { recursive: true, force: true });
    throw new SemoduleError(`semodule -i smgw.cil failed:\n${message}`);
  }
  return {
    root,
    policyFile: path.join(root, "etc/selinux/default/policy/policy.33"),
    fileContexts: path.join(root, "etc/selinux/default/contexts/files/file_contexts"),
    seconds,
  };
}

export type RuleExpectation =
  | { name: string; source: string; target: string; tclass: string; perms: string[] }
  | { name: string; kind: "port"; protocol: "tcp" | "udp"; port: number; type: string };

/** The allow rules and port labels the policy's flows must have produced. */
export function expectedRules(policy: Policy): RuleExpectation[] {
  const model = buildModel(policy);
  const out: RuleExpectation[] = [];
  for (const u of model.units) {
    out.push({
      name: `${u}-entrypoint`,
      source: domainType(u),
      target: "smgw_exec_t",
      tclass: "file",
      perms: ["entrypoint"],
    });
    out.push({
      name: `${u}-started-by-init`,
      source: "init_t",
      target: domainType(u),
      tclass: "process",
      perms: ["transition"],
    });
    out.push({
      name: `${u}-own-state`,
      source: domainType(u),
      target: stateType(u),
      tclass: "file",
      perms: ["create", "write"],
    });
  }
  for (const u of model.ipcClients) {
    out.push({
      name: `${u}-connects-ifm`,
      source: domainType(u),
      target: "smgw_ifm_t",
      tclass: "unix_stream_socket",
      perms: ["connectto"],
    });
    out.push({
      name: `${u}-own-socket`,
      source: domainType(u),
      target: ipcType(u),
      tclass: "sock_file",
      perms: ["write"],
    });
    out.push({
      name: `ifm-serves-${u}`,
      source: "smgw_ifm_t",
      target: ipcType(u),
      tclass: "sock_file",
      perms: ["create", "unlink"],
    });
  }
  for (const p of model.ports) {
    const cls = `${p.protocol}_socket`;
    out.push({
      name: `${p.protocol}-${p.port}-label`,
      kind: "port",
      protocol: p.protocol,
      port: p.port,
      type: p.type,
    });
    for (const u of p.binders) {
      out.push({
        name: `${u}-binds-${p.protocol}-${p.port}`,
        source: domainType(u),
        target: p.type,
        tclass: cls,
        perms: ["name_bind"],
      });
      for (const f of p.flows.filter((x) => x.unit === u)) {
        out.push({
          name: `${u}-binds-${f.network.toLowerCase()}-address`,
          source: domainType(u),
          target: nodeType(f.network),
          tclass: cls,
          perms: ["node_bind"],
        });
      }
    }
    for (const u of p.protocol === "tcp" ? p.connectors : []) {
      out.push({
        name: `${u}-connects-${p.protocol}-${p.port}`,
        source: domainType(u),
        target: p.type,
        tclass: cls,
        perms: ["name_connect"],
      });
    }
  }
  for (const pk of model.packets) {
    for (const u of pk.units) {
      out.push({
        name: `${u}-packets-${pk.type}`,
        source: domainType(u),
        target: pk.type,
        tclass: "packet",
        perms: ["send", "recv"],
      });
    }
  }
  if (model.units.includes("crypto")) {
    out.push(
      {
        name: "crypto-connects-pcscd",
        source: "smgw_crypto_t",
        target: "pcscd_t",
        tclass: "unix_stream_socket",
        perms: ["connectto"],
      },
      {
        name: "crypto-opens-tpm",
        source: "smgw_crypto_t",
        target: "tpm_device_t",
        tclass: "chr_file",
        perms: ["open", "read", "write"],
      },
    );
  }
  if (model.units.includes("storage")) {
    out.push({
      name: "storage-writes-data",
      source: "smgw_storage_t",
      target: "smgw_data_t",
      tclass: "file",
      perms: ["create", "write", "append"],
    });
  }
  return out;
}

export interface CheckResult {
  file: "assertions" | "infoflow" | "rules";
  name: string;
  desc: string;
  passed: boolean;
  details: string[];
  seconds: number;
}

export class CheckScriptError extends Error {
  override name = "CheckScriptError";
}

/** Runs check_policy.py on a binary policy. */
export function runChecks(
  policyFile: string,
  files: { assertions?: string; infoflow?: string; rules?: RuleExpectation[] },
): CheckResult[] {
  const args = [PYTHON, CHECK_SCRIPT, policyFile];
  if (files.assertions) args.push("--assertions", files.assertions);
  if (files.infoflow) args.push("--infoflow", files.infoflow);
  let rulesDir: string | undefined;
  if (files.rules) {
    rulesDir = mkdtempSync(path.join(tmpdir(), "smgw-rules-"));
    const rulesFile = path.join(rulesDir, "rules.json");
    writeFileSync(rulesFile, JSON.stringify(files.rules));
    args.push("--rules", rulesFile);
  }
  try {
    const run = Bun.spawnSync(args);
    if (run.exitCode !== 0) {
      throw new CheckScriptError(`check_policy.py failed:\n${`${run.stderr}`.slice(-4000)}`);
    }
    const parsed = JSON.parse(`${run.stdout}`) as { results: CheckResult[] };
    return parsed.results;
  } finally {
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  }
}

/** One line per check: result, seconds, file, name; failures with their details. */
export function formatTable(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 4);
  const lines = results.map(
    (r) =>
      `${r.passed ? "PASS" : "FAIL"}  ${r.seconds.toFixed(2).padStart(6)}s  ${r.file.padEnd(10)}  ${r.name.padEnd(width)}  ${r.desc}` +
      (r.passed ? "" : r.details.map((d) => `\n        ${d}`).join("")),
  );
  const failed = results.filter((r) => !r.passed).length;
  return [...lines, `SELinux checks: ${results.length - failed} of ${results.length} hold`].join(
    "\n",
  );
}

/** Reads one file of the built root (for the tests). */
export function readBuilt(file: string): string {
  return readFileSync(file, "utf8");
}
