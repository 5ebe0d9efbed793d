// The process the crash tests kill: it writes to a store and prints every acknowledged write.
//
//   bun crash-child.ts <dir> write <first-n>    append batches until killed
//   bun crash-child.ts <dir> rotate             rotate the data key one segment per commit
//
// "ack <firstSeq> <lastSeq> <firstN>" means records firstSeq..lastSeq of stream "acked" hold the
// values firstN.. in order. Values are self-checking (see crashValue), so a corrupted record is
// recognised without knowing which write it came from.
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Problem } from "./errors.ts";
import { SoftwareKeyService } from "./keys.ts";
import { openDomainStore } from "./store.ts";

const silent = { warn: () => {}, error: () => {} };

export function crashValue(n: number): Buffer {
  const check = createHash("sha256").update(`value ${n}`).digest("hex").slice(0, 24);
  return Buffer.from(JSON.stringify({ n, check }));
}

/** The n of a value, or undefined when the bytes are not a value crashValue made. */
export function crashValueOf(payload: Uint8Array): number | undefined {
  try {
    const v = JSON.parse(Buffer.from(payload).toString("utf8")) as { n?: unknown };
    return typeof v.n === "number" && crashValue(v.n).equals(Buffer.from(payload))
      ? v.n
      : undefined;
  } catch {
    return undefined;
  }
}

export function crashKeys(dir: string): SoftwareKeyService {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return SoftwareKeyService.fromFiles({
    masterKeyFile: path.join(dir, "master.key"),
    counterFile: path.join(dir, "counters.json"),
    create: true,
    log: silent,
  });
}

export const CRASH_STORE = { segmentSize: 64, log: silent } as const;

async function main(): Promise<void> {
  const [dir, mode, firstN] = process.argv.slice(2);
  if (!dir || (mode !== "write" && mode !== "rotate")) {
    process.stderr.write("usage: crash-child.ts <dir> write <first-n> | rotate\n");
    process.exit(2);
  }
  const store = await openDomainStore(dir, "meter", crashKeys(dir), {
    ...CRASH_STORE,
    verifyOnOpen: "checkpoints",
  });
  if (store.quarantined) {
    process.stdout.write(`quarantined ${JSON.stringify(store.quarantined)}\n`);
    process.exit(3);
  }
  process.stdout.write(`ready ${store.status().lastSeq}\n`);
  if (mode === "rotate") {
    await store.rotateKey({
      segmentsPerCommit: 1,
      onProgress: (n) => process.stdout.write(`rotated ${n}\n`),
    });
    process.stdout.write("rotation done\n");
    await store.close();
    return;
  }
  let n = Number(firstN);
  for (let round = 0; ; round++) {
    const size = 1 + Math.floor(Math.random() * 8);
    const records = [];
    for (let i = 0; i < size; i++) {
      records.push({ stream: "acked", series: "s", time: Date.now(), payload: crashValue(n + i) });
    }
    // Scratch records, and now and then their deletion: retention under crashes too.
    records.push({ stream: "scratch", time: round, payload: crashValue(-1 - round) });
    const { first } = await store.append(records);
    process.stdout.write(`ack ${first} ${first + size - 1} ${n}\n`);
    n += size;
    if (round % 7 === 6) await store.deleteBefore("scratch", undefined, round - 8, "crash test");
    if (round % 41 === 40) await store.rotateKey({ segmentsPerCommit: 2 });
  }
}

export interface CrashOutcome {
  /** Records whose write was acknowledged before the kill. */
  acknowledged: number;
  /** Acknowledged records missing after the restart. */
  lost: number;
  /** Records (acknowledged or not) whose content is not what was written. */
  corrupted: number;
  /** Records in the store after the restart. */
  present: number;
  /** Problems when the restarted store did not verify. */
  problems?: Problem[];
  /** Whether the kill came while the child was still opening the store. */
  killedDuringOpen: boolean;
}

/**
 * One iteration of the crash loop: start a writer, kill -9 it at a random moment, reopen the
 * store in this process, verify it fully and check every acknowledged record.
 */
export async function crashIteration(dir: string, firstN: number): Promise<CrashOutcome> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const child = Bun.spawn([process.execPath, import.meta.path, dir, "write", String(firstN)], {
    stdout: "pipe",
    stderr: "ignore",
  });
  let text = "";
  let ready: () => void = () => {};
  const readyLine = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("ready ")) ready();
    }
    ready();
  })();
  const early = Math.random() < 0.15;
  if (early) {
    await Bun.sleep(Math.random() * 120);
  } else {
    await readyLine;
    await Bun.sleep(Math.random() * 250);
  }
  const killedDuringOpen = !text.includes("ready ");
  child.kill("SIGKILL");
  await child.exited;
  await reading;
  const acks: [number, number, number][] = [];
  for (const line of text.split("\n")) {
    const m = /^ack (\d+) (\d+) (-?\d+)$/.exec(line);
    if (m) acks.push([Number(m[1]), Number(m[2]), Number(m[3])]);
  }
  const store = await openDomainStore(dir, "meter", crashKeys(dir), CRASH_STORE);
  const outcome: CrashOutcome = {
    acknowledged: acks.reduce((n, [a, b]) => n + b - a + 1, 0),
    lost: 0,
    corrupted: 0,
    present: 0,
    killedDuringOpen,
  };
  try {
    if (store.quarantined) {
      outcome.problems = [...store.quarantined];
      return outcome;
    }
    const report = await store.verify();
    if (!report.ok) {
      outcome.problems = report.problems;
      return outcome;
    }
    for (const [first, last, n0] of acks) {
      for (let seq = first; seq <= last; seq++) {
        const r = store.get(seq);
        if (!r) outcome.lost++;
        else if (r.stream !== "acked" || crashValueOf(r.payload) !== n0 + seq - first) {
          outcome.corrupted++;
        }
      }
    }
    let after = 0;
    for (;;) {
      const page = store.scan({ after, limit: 5000 });
      for (const r of page.records) {
        outcome.present++;
        if (
          (r.stream === "acked" || r.stream === "scratch") &&
          crashValueOf(r.payload) === undefined
        ) {
          outcome.corrupted++;
        }
      }
      if (page.next === undefined) break;
      after = page.next;
    }
    return outcome;
  } finally {
    await store.close();
  }
}

if (import.meta.main) await main();
