// Writes the packet filter into the committed folder of generated files (image/generated),
// where every policy change shows up in review as a ruleset diff.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Policy } from "@smgw/policy";
import { compileNftables } from "./compile.ts";

export const NFTABLES_FILE = "nftables.conf";

/** Write nftables.conf into outDir; returns the paths written. */
export function write(outDir: string, policy: Policy): string[] {
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, NFTABLES_FILE);
  writeFileSync(file, compileNftables(policy));
  return [file];
}
