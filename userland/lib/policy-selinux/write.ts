// Writes the SELinux outputs into the committed folder (selinux/generated/), for
// `smgw policy build`.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Policy } from "@smgw/policy";
import { compileSelinux } from "./cil.ts";

/** Writes smgw.cil, file_contexts and smgw.semanage into outDir; returns the paths written. */
export function write(policy: Policy, outDir: string): string[] {
  const output = compileSelinux(policy);
  mkdirSync(outDir, { recursive: true });
  return Object.entries(output).map(([name, text]) => {
    const file = path.join(outDir, name);
    writeFileSync(file, text);
    return file;
  });
}
