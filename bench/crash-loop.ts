// Crash loop: a writer process appends to a secure store (with retention deletions and key
// rotations mixed in) and prints every acknowledged write; it is killed with SIGKILL at a random
// moment, the store is reopened and fully verified, and every acknowledged record is checked.
//
//   userland/node_modules/.bin/bun bench/crash-loop.ts [--iterations N] [--fresh-every M]
//
// A fresh store is started every M iterations (default 25) so that each full verification
// stays short. Exit status 1 if any acknowledged record was lost or any record corrupted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { crashIteration } from "../userland/lib/securestore/crash-child.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    iterations: { type: "string", default: "1000" },
    "fresh-every": { type: "string", default: "25" },
  },
});
const ITERATIONS = Number(values.iterations);
const FRESH_EVERY = Number(values["fresh-every"]);

const root = mkdtempSync(path.join(tmpdir(), "smgw-crash-loop-"));
let dir = "";
let acknowledged = 0;
let lost = 0;
let corrupted = 0;
let quarantined = 0;
let killedDuringOpen = 0;
const started = performance.now();
try {
  for (let i = 0; i < ITERATIONS; i++) {
    if (i % FRESH_EVERY === 0) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = path.join(root, `store-${i}`);
    }
    const o = await crashIteration(dir, i * 1_000_000);
    acknowledged += o.acknowledged;
    lost += o.lost;
    corrupted += o.corrupted;
    if (o.killedDuringOpen) killedDuringOpen++;
    if (o.problems) {
      quarantined++;
      console.log(`iteration ${i}: the store did not verify: ${JSON.stringify(o.problems)}`);
    }
    if ((i + 1) % 50 === 0) {
      console.log(
        `  ${i + 1} iterations, ${acknowledged} acknowledged records, ${lost} lost, ${corrupted} corrupted (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
console.log(
  `${ITERATIONS} iterations, ${lost} acknowledged records lost, ${corrupted} corrupted` +
    ` (${acknowledged} acknowledged; ${killedDuringOpen} kills while the store was opening;` +
    ` ${quarantined} stores failed verification; ${((performance.now() - started) / 1000).toFixed(0)} s)`,
);
process.exitCode = lost === 0 && corrupted === 0 && quarantined === 0 ? 0 : 1;
