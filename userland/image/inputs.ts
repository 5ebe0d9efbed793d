// The files other parts of the project generate from the policy, which the image installs:
// systemd units with sysusers/tmpfiles entries, the nftables ruleset, the SELinux module and
// its file contexts. A missing one stops the build with the command that makes it.
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { UNIT_NAMES } from "@smgw/policy";

export interface InputDirs {
  /** Generated systemd units and the nftables ruleset (default: image/generated). */
  generated: string;
  /** Generated SELinux module and file contexts (default: selinux/generated). */
  selinux: string;
}

export interface Inputs {
  units: string[];
  sysusers: string;
  tmpfiles: string;
  nftables: string;
  selinuxModule: string;
  fileContexts: string;
  /** Port labels as `semanage import` lines: local records win over the base policy's. */
  selinuxPorts: string;
}

export class MissingInputError extends Error {
  override name = "MissingInputError";
}

export function defaultInputDirs(repoRoot: string): InputDirs {
  return {
    generated: path.join(repoRoot, "image", "generated"),
    selinux: path.join(repoRoot, "selinux", "generated"),
  };
}

/** The expected files, each with what produces it. */
export function expectedInputs(d: InputDirs): { file: string; producer: string }[] {
  const systemd = path.join(d.generated, "systemd");
  const units = "the policy compiler's systemd output (smgw policy build)";
  return [
    ...UNIT_NAMES.map((u) => ({ file: path.join(systemd, `smgw-${u}.service`), producer: units })),
    { file: path.join(systemd, "smgw.target"), producer: units },
    { file: path.join(systemd, "smgw-sysusers.conf"), producer: units },
    { file: path.join(systemd, "smgw-tmpfiles.conf"), producer: units },
    {
      file: path.join(d.generated, "nftables.conf"),
      producer: "the policy compiler's nftables output (smgw policy build)",
    },
    {
      file: path.join(d.selinux, "smgw.cil"),
      producer: "the policy compiler's SELinux output (selinux/)",
    },
    {
      file: path.join(d.selinux, "file_contexts"),
      producer: "the policy compiler's SELinux output (selinux/)",
    },
    {
      file: path.join(d.selinux, "smgw.semanage"),
      producer: "the policy compiler's SELinux output (selinux/)",
    },
  ];
}

/** All inputs, or a MissingInputError naming each missing file and what makes it. */
export function findInputs(d: InputDirs): Inputs {
  const missing = expectedInputs(d).filter((e) => !isFile(e.file));
  if (missing.length > 0) {
    throw new MissingInputError(
      `the image needs files generated from the policy that are missing:\n${missing
        .map((m) => `  ${m.file}  (from ${m.producer})`)
        .join("\n")}`,
    );
  }
  const systemd = path.join(d.generated, "systemd");
  // Every unit file there is installed, also ones added after this list was written.
  const units = readdirSync(systemd)
    .filter((n) => /\.(service|target|socket|timer|path)$/.test(n))
    .sort()
    .map((n) => path.join(systemd, n));
  return {
    units,
    sysusers: path.join(systemd, "smgw-sysusers.conf"),
    tmpfiles: path.join(systemd, "smgw-tmpfiles.conf"),
    nftables: path.join(d.generated, "nftables.conf"),
    selinuxModule: path.join(d.selinux, "smgw.cil"),
    fileContexts: path.join(d.selinux, "file_contexts"),
    selinuxPorts: path.join(d.selinux, "smgw.semanage"),
  };
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}
