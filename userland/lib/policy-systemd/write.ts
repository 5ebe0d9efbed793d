// Writes the systemd output into the committed folder, so that every policy change shows up
// in review as a diff of the units it touches.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Policy } from "@smgw/policy";
import { compileSystemd } from "./compile.ts";

/** The committed folder, relative to the repository root. */
export const GENERATED_DIR = "image/generated/systemd";

/** Files this generator owns in its folder; anything else there is left alone. */
const OWNED = /^smgw[-.]/;

/**
 * Writes the files for `policy` into `outDir` (created if missing), rewriting only those that
 * changed and removing generated files the policy no longer produces. Returns the file names.
 */
export function writeSystemd(outDir: string, policy: Policy): string[] {
  const files = compileSystemd(policy);
  mkdirSync(outDir, { recursive: true });
  for (const name of readdirSync(outDir)) {
    if (OWNED.test(name) && !(name in files)) rmSync(path.join(outDir, name));
  }
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(outDir, name);
    if (!existsSync(file) || readFileSync(file, "utf8") !== text) writeFileSync(file, text);
  }
  return Object.keys(files).sort();
}

/** Names of the files in `outDir` that differ from what `policy` produces (missing, changed, extra). */
export function staleSystemdFiles(outDir: string, policy: Policy): string[] {
  const files = compileSystemd(policy);
  const present = existsSync(outDir) ? readdirSync(outDir).filter((n) => OWNED.test(n)) : [];
  const stale = present.filter((n) => !(n in files));
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(outDir, name);
    if (!existsSync(file) || readFileSync(file, "utf8") !== text) stale.push(name);
  }
  return stale.sort();
}
