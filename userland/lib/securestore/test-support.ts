// Helpers shared by the tests: temporary directories, a quiet development key service, and a
// logger that keeps what it was told.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SoftwareKeyService } from "./keys.ts";
import type { QuarantineReport, StoreLogger } from "./store.ts";

export const silent = { warn: () => {}, error: () => {} };

const dirs: string[] = [];

export function tempDir(prefix = "smgw-securestore-"): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The development key service with its counters in `dir`; another master key gets a counter
 * file of its own. */
export function devKeys(dir: string, master = Buffer.alloc(32, 0x5a)): SoftwareKeyService {
  const tag = master.equals(Buffer.alloc(32, 0x5a)) ? "" : `-${master.toString("hex").slice(0, 8)}`;
  return new SoftwareKeyService({
    masterKey: master,
    counterFile: path.join(dir, `counters${tag}.json`),
    log: silent,
  });
}

export function recordingLogger(): StoreLogger & {
  lines: { level: string; msg: string; fields?: Record<string, unknown> }[];
} {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    warn: (msg, fields) => lines.push({ level: "warn", msg, ...(fields ? { fields } : {}) }),
    error: (msg, fields) => lines.push({ level: "error", msg, ...(fields ? { fields } : {}) }),
  };
}

export function quarantineSink(): {
  reports: QuarantineReport[];
  onQuarantine: (r: QuarantineReport) => void;
} {
  const reports: QuarantineReport[] = [];
  return { reports, onQuarantine: (r) => reports.push(r) };
}

export const T0 = Date.UTC(2026, 0, 1);
export const QUARTER = 15 * 60_000;
