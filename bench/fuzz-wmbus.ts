/**
 * Fuzz bench for the wM-Bus decoder: random and mutated frames through decodeFrame; fragments
 * of fragmented messages (AFL) go to one AflReassembler (the input number is its clock) and
 * complete messages through decodeReassembled. Now and then a fragment sequence is fed in a
 * row: in order, reordered, with a fragment dropped, repeated or mutated.
 * Every input must decode or fail with WmbusError, and quickly. Exits 1 on a crash or hang.
 *
 *   bun bench/fuzz-wmbus.ts [--count N] [--seed S]
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  ellCtrPayload,
  fragmentedTelegrams,
  linkHeader,
  mode5Payload,
  mode7Payload,
  toFormatA,
  toFormatB,
  wiredLongFrame,
  wirelessFrame,
} from "../userland/lib/wmbus/frame-builder.ts";
import {
  AflReassembler,
  decodeFrame,
  decodeReassembled,
  FormatCache,
  parseHex,
  toHex,
  WmbusError,
} from "../userland/lib/wmbus/index.ts";

/** One decode taking longer than this counts as a hang. */
const HANG_MS = 1000;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`${name} needs a non-negative integer`);
    process.exit(2);
  }
  return value;
}

/** mulberry32: small deterministic PRNG, so a failing run can be repeated with --seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function goldenSeeds(): Uint8Array[] {
  const dir = process.env.SMGW_GOLDEN ?? path.resolve(import.meta.dir, "..", "../shared/golden");
  const file = path.join(dir, "wmbus", "telegrams.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => (JSON.parse(line) as { frames: string[] }).frames)
    .map((frame) => parseHex(frame, { allowTrailingNibble: true }).bytes);
}

const count = option("--count", 1_000_000);
const seed = option("--seed", 1);
const random = prng(seed);
const int = (n: number) => Math.floor(random() * n);

const key = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
const header = linkHeader({ manufacturer: "KAM", id: "11223344" });
const records = parseHex(
  "04 06 D2040000 04 13 39300000 02 59 A109 02 FD17 0000 0D FD11 03 414243",
).bytes;
const plainFrame = wirelessFrame(header, Uint8Array.of(0x78, ...records));
const golden = goldenSeeds();
const otherHeader = linkHeader({ manufacturer: "ESY", id: "55667788", deviceType: 2 });
/** Fragmented messages (CRC-free, so that mutations reach the AFL and above). */
const fragmentSequences = [
  fragmentedTelegrams({
    security: 7,
    key,
    header,
    accessNumber: 7,
    messageCounter: 99,
    records,
    fragments: 3,
    format: "none",
  }),
  fragmentedTelegrams({
    security: 5,
    key,
    header,
    accessNumber: 8,
    records,
    fragments: 2,
    format: "none",
  }),
  fragmentedTelegrams({
    security: 7,
    key,
    header: otherHeader,
    accessNumber: 9,
    messageCounter: 5,
    records,
    clearTail: Uint8Array.of(...records, ...records, ...records, ...records, ...records),
    fragments: 4,
    format: "none",
  }),
];
const seeds = [
  ...fragmentSequences.flat(),
  ...golden,
  plainFrame,
  toFormatA(plainFrame),
  toFormatB(plainFrame),
  wirelessFrame(header, mode5Payload(key, header, 7, records)),
  wirelessFrame(header, mode7Payload(key, header, 7, 99, records)),
  wirelessFrame(header, ellCtrPayload(key, header, 0x20, 7, 5, Uint8Array.of(0x78, ...records))),
  wiredLongFrame(
    0x08,
    1,
    Uint8Array.of(0x72, 0x44, 0x33, 0x22, 0x11, 0x2d, 0x2c, 1, 4, 0, 0, 0, 0, ...records),
  ),
];

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = int(256);
  return out;
}

function mutate(source: Uint8Array): Uint8Array {
  let frame = Uint8Array.from(source);
  const operations = 1 + int(4);
  for (let op = 0; op < operations && frame.length > 0; op++) {
    const at = int(frame.length);
    switch (int(5)) {
      case 0:
        frame[at] = (frame[at] as number) ^ (1 << int(8));
        break;
      case 1:
        frame[at] = int(256);
        break;
      case 2:
        frame = frame.subarray(0, at);
        break;
      case 3:
        frame = Uint8Array.of(...frame, ...randomBytes(1 + int(8)));
        break;
      default:
        frame = Uint8Array.of(...frame.subarray(0, at), ...frame.subarray(at + 1 + int(4)));
    }
  }
  // Half of the mutants keep a consistent L-field so they reach the upper layers.
  if (random() < 0.5 && frame.length > 0 && frame.length <= 256) frame[0] = frame.length - 1;
  return frame;
}

/** Frames of a fragment sequence still to be fed, in this order. */
const queue: Uint8Array[] = [];

function queueFragmentSequence(): void {
  const sequence = [...(fragmentSequences[int(fragmentSequences.length)] as Uint8Array[])];
  const at = int(sequence.length);
  switch (int(5)) {
    case 0: {
      const other = int(sequence.length);
      [sequence[at], sequence[other]] = [sequence[other] as Uint8Array, sequence[at] as Uint8Array];
      break;
    }
    case 1:
      sequence.splice(at, 1);
      break;
    case 2:
      sequence.splice(at, 0, sequence[at] as Uint8Array);
      break;
    case 3:
      sequence[at] = mutate(sequence[at] as Uint8Array);
      break;
    default: // in order
  }
  queue.push(...sequence);
}

function input(): Uint8Array {
  const queued = queue.shift();
  if (queued) return queued;
  if (random() < 0.03) {
    queueFragmentSequence();
    return queue.shift() as Uint8Array;
  }
  const pick = random();
  if (pick < 0.2) return randomBytes(int(300));
  if (pick < 0.85) return mutate(seeds[int(seeds.length)] as Uint8Array);
  // A valid link header, a random CI and body, sometimes wrapped with correct CRCs.
  const ci = [0x72, 0x78, 0x79, 0x7a, 0x7b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x70, 0xa0][
    int(12)
  ] as number;
  const frame = wirelessFrame(header, Uint8Array.of(ci, ...randomBytes(int(200))));
  const wrap = int(3);
  if (wrap === 1) return toFormatA(frame);
  if (wrap === 2 && frame.length + 4 <= 256) return toFormatB(frame);
  return frame;
}

const started = performance.now();
let decoded = 0;
let held = 0;
let reassembled = 0;
let crashes = 0;
let hangs = 0;
let slowest = 0;
const errorKinds = new Map<string, number>();
const cache = new FormatCache();
// The input number is the reassembler's clock: a partial message waits 1000 inputs.
const reassembler = new AflReassembler({ timeoutMs: 1000 });
for (let i = 0; i < count; i++) {
  const frame = input();
  const options = random() < 0.5 ? { key, formatCache: cache } : { formatCache: cache };
  const t0 = performance.now();
  try {
    const result = decodeFrame(frame, options);
    if (result.kind === "telegram") {
      decoded++;
    } else {
      const step = reassembler.push(result.fragment, i);
      if (step.status === "held") {
        held++;
      } else {
        decodeReassembled(step.message, options);
        reassembled++;
        decoded++;
      }
    }
  } catch (error) {
    if (error instanceof WmbusError) {
      errorKinds.set(error.kind, (errorKinds.get(error.kind) ?? 0) + 1);
    } else {
      crashes++;
      if (crashes <= 5) console.error(`crash on input ${i} (${toHex(frame)}):`, error);
    }
  }
  const elapsed = performance.now() - t0;
  if (elapsed > slowest) slowest = elapsed;
  if (elapsed > HANG_MS) {
    hangs++;
    if (hangs <= 5) console.error(`input ${i} took ${elapsed.toFixed(0)} ms: ${toHex(frame)}`);
  }
}
const seconds = (performance.now() - started) / 1000;
const kinds = [...errorKinds]
  .sort((a, b) => b[1] - a[1])
  .map(([kind, n]) => `${kind} ${n}`)
  .join(", ");
console.log(
  `fuzz-wmbus: ${count} inputs (seed ${seed}, ${golden.length} golden seeds) in ${seconds.toFixed(1)} s: ` +
    `${decoded} decoded (${reassembled} reassembled from fragments), ${held} fragments held, ` +
    `${count - decoded - held - crashes} WmbusError (${kinds}), ${crashes} crashes, ` +
    `${hangs} hangs, slowest ${slowest.toFixed(2)} ms`,
);
process.exit(crashes > 0 || hangs > 0 ? 1 : 0);
