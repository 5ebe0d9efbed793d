/**
 * Fuzzes the SML codec with random and mutated input and measures the parse rate of valid files.
 *
 *   bun bench/fuzz-sml.ts [--count N] [--seed S] [--bench-ms MS]
 *
 * Exits non-zero if any input makes the decoder throw something other than SmlError, or takes
 * longer than a second (a hang in the making).
 */

import {
  buildMeterReadingFile,
  crc16X25,
  decodeSmlFile,
  decodeTransportFrame,
  encodeSmlFile,
  encodeTransportFrame,
  SmlError,
  SmlFrameExtractor,
  type SmlMessage,
} from "../userland/lib/sml/index.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`${name} needs a non-negative number`);
    process.exit(2);
  }
  return v;
}

if (process.argv.includes("--help")) {
  console.log("usage: bun bench/fuzz-sml.ts [--count N] [--seed S] [--bench-ms MS]");
  process.exit(0);
}

const COUNT = Math.floor(arg("--count", 1_000_000));
const SEED = Math.floor(arg("--seed", 1));
const BENCH_MS = arg("--bench-ms", 1000);
const SLOW_MS = 1000;

/** mulberry32: small, fast, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = prng(SEED);
const int = (n: number) => Math.floor(rnd() * n);

// ---- valid inputs: simulated meters and every message type ----

function meterFile(i: number): Uint8Array {
  const entries = [
    { obis: "129-129:199.130.3*255", value: "SIM" },
    {
      obis: "1-0:0.0.9*255",
      value: Uint8Array.of(0x0a, 0x01, 0x53, 0x49, 0x4d, 0, 0, 0, i & 0xff, 1),
    },
    { obis: "1-0:1.8.0*255", unit: 30, scaler: -1, value: 1_000_000 + i * 7919, status: 0x1c0104 },
    { obis: "1-0:2.8.0*255", unit: 30, scaler: -1, value: BigInt(i) * 104729n },
    { obis: "1-0:1.8.1*255", unit: 30, scaler: -1, value: 500_000 + i },
    { obis: "1-0:1.8.2*255", unit: 30, scaler: -1, value: 500_000 + i * 3 },
    {
      obis: "1-0:16.7.0*255",
      unit: 27,
      scaler: -2,
      value: (i % 2 ? 1 : -1) * (i * 31),
      signed: true,
    },
    { obis: "1-0:32.7.0*255", unit: 35, scaler: -1, value: 2300 + (i % 17) },
    { obis: "1-0:52.7.0*255", unit: 35, scaler: -1, value: 2301 + (i % 13) },
    { obis: "1-0:72.7.0*255", unit: 35, scaler: -1, value: 2299 + (i % 11) },
    { obis: "1-0:14.7.0*255", unit: 44, scaler: -1, value: 500 },
  ];
  return buildMeterReadingFile({
    serverId: Uint8Array.of(0x0a, 0x01, 0x53, 0x49, 0x4d, 0, 0, 0, i & 0xff, 1),
    transactionId: i * 3,
    time: { kind: "secIndex", secIndex: 1_000_000 + i },
    entries: entries.slice(0, 3 + (i % (entries.length - 2))),
  });
}

const sid = Uint8Array.of(0x0a, 0x01, 0x53, 0x49, 0x4d, 0, 0, 0, 0, 1);
const obis = Uint8Array.of(1, 0, 1, 8, 0, 255);
const tree = {
  parameterName: Uint8Array.of(0x81, 0x81, 0xc7, 0x82, 0x01, 0xff),
  childList: [
    {
      parameterName: Uint8Array.of(0x81, 0x81, 0xc7, 0x82, 0x02, 0xff),
      parameterValue: { kind: "value" as const, value: { type: "octets" as const, value: sid } },
    },
  ],
};
const m = (body: SmlMessage["body"]): SmlMessage => ({
  transactionId: Uint8Array.of(1, 2, 3),
  groupNo: 0,
  abortOnError: 0,
  body,
});
const allTypes = encodeSmlFile([
  m({ kind: "OpenRequest", clientId: sid, reqFileId: sid, serverId: sid, smlVersion: 1 }),
  m({ kind: "GetListRequest", clientId: sid, serverId: sid, listName: obis }),
  m({
    kind: "GetProfileListRequest",
    serverId: sid,
    withRawdata: false,
    beginTime: { kind: "timestamp", timestamp: 1_700_000_000 },
    parameterTreePath: [obis],
    objectList: [obis],
  }),
  m({
    kind: "GetProfileListResponse",
    serverId: sid,
    actTime: { kind: "timestamp", timestamp: 1_700_000_000 },
    regPeriod: 900,
    parameterTreePath: [obis],
    valTime: {
      kind: "localTimestamp",
      timestamp: 1_700_000_000,
      localOffset: 60,
      seasonTimeOffset: 0,
    },
    status: 0n,
    periodList: [
      { objName: obis, unit: 30, scaler: -1, value: { type: "uint", value: 42n, size: 8 } },
    ],
  }),
  m({ kind: "GetProfilePackRequest", parameterTreePath: [obis], dasDetails: tree }),
  m({
    kind: "GetProfilePackResponse",
    serverId: sid,
    actTime: { kind: "secIndex", secIndex: 5 },
    regPeriod: 900,
    parameterTreePath: [obis],
    headerList: [{ objName: obis, unit: 30, scaler: -1 }],
    periodList: [
      {
        valTime: { kind: "timestamp", timestamp: 1_700_000_000 },
        status: 4n,
        valueList: [{ value: { type: "int", value: -1n, size: 8 } }],
      },
    ],
  }),
  m({ kind: "GetProcParameterRequest", serverId: sid, parameterTreePath: [obis] }),
  m({
    kind: "GetProcParameterResponse",
    serverId: sid,
    parameterTreePath: [obis],
    parameterTree: tree,
  }),
  m({ kind: "SetProcParameterRequest", parameterTreePath: [obis], parameterTree: tree }),
  m({
    kind: "AttentionResponse",
    serverId: sid,
    attentionNo: Uint8Array.of(0x81, 0x81, 0xc7, 0xc7, 0xfd, 0),
  }),
  m({ kind: "CloseRequest" }),
]);

const POOL: Uint8Array[] = [allTypes];
for (let i = 0; i < 31; i++) POOL.push(meterFile(i));
const PAYLOADS = POOL.map((f) => decodeTransportFrame(f).payload);

// ---- input generators ----

function randomBytes(): Uint8Array {
  const n = rnd() < 0.8 ? int(64) : int(600);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}

const SPECIAL = [
  0x00, 0x01, 0x1b, 0x1a, 0x62, 0x63, 0x65, 0x69, 0x52, 0x72, 0x76, 0x77, 0x7f, 0x83, 0xf1, 0xff,
];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** 1 to 4 of: bit flip, special byte, insertion, deletion, truncation, duplicated range. */
function mutate(src: Uint8Array): Uint8Array {
  let x: Uint8Array = src.slice();
  const count = 1 + int(4);
  for (let k = 0; k < count; k++) {
    const at = x.length === 0 ? 0 : int(x.length);
    switch (int(6)) {
      case 0:
        if (x.length > 0) x[at] = (x[at] as number) ^ (1 << int(8));
        break;
      case 1:
        if (x.length > 0) x[at] = SPECIAL[int(SPECIAL.length)] as number;
        break;
      case 2:
        x = concat(
          x.subarray(0, at),
          new Uint8Array(1 + int(8)).map(() => int(256)),
          x.subarray(at),
        );
        break;
      case 3:
        x = concat(x.subarray(0, at), x.subarray(at + 1 + int(8)));
        break;
      case 4:
        x = x.slice(0, at);
        break;
      default:
        x = concat(x.subarray(0, at + 1 + int(40)), x.subarray(at));
        break;
    }
  }
  return x;
}

/** One fuzz input and whether its frame CRC is valid (so the message parser gets to run). */
function nextInput(): { bytes: Uint8Array; kind: string } {
  const r = rnd();
  if (r < 0.25) return { bytes: randomBytes(), kind: "random" };
  if (r < 0.35) {
    const b = randomBytes().map((v) => SPECIAL[v % SPECIAL.length] as number);
    return { bytes: encodeTransportFrame(b), kind: "random-framed" };
  }
  if (r < 0.65)
    return { bytes: mutate(POOL[int(POOL.length)] as Uint8Array), kind: "mutated-frame" };
  return {
    bytes: encodeTransportFrame(mutate(PAYLOADS[int(PAYLOADS.length)] as Uint8Array)),
    kind: "mutated-payload",
  };
}

// ---- fuzz loop ----

const hex = (b: Uint8Array) => Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
const rejected = new Map<string, number>();
let decoded = 0;
let decodedLenient = 0;
let crashes = 0;
let slow = 0;
let slowest = 0;

function attempt(input: Uint8Array, run: () => unknown): boolean {
  const t0 = performance.now();
  let ok = false;
  try {
    run();
    ok = true;
  } catch (e) {
    if (e instanceof SmlError) {
      rejected.set(e.kind, (rejected.get(e.kind) ?? 0) + 1);
    } else {
      crashes++;
      if (crashes <= 5) console.error(`CRASH on input ${hex(input)}:\n`, e);
    }
  }
  const dt = performance.now() - t0;
  if (dt > slowest) slowest = dt;
  if (dt > SLOW_MS) {
    slow++;
    if (slow <= 5) console.error(`SLOW (${dt.toFixed(0)} ms) on input ${hex(input)}`);
  }
  return ok;
}

const lenient = { checkFrameCrc: false, checkMessageCrc: false };
const started = performance.now();
for (let i = 0; i < COUNT; i++) {
  const { bytes } = nextInput();
  if (attempt(bytes, () => decodeSmlFile(bytes))) decoded++;
  if (attempt(bytes, () => decodeSmlFile(bytes, lenient))) decodedLenient++;
  if (i % 16 === 0) {
    attempt(bytes, () => {
      const x = new SmlFrameExtractor({ maxFrameBytes: 1024 });
      for (let p = 0; p < bytes.length; ) {
        const n = 1 + int(64);
        for (const res of x.push(bytes.subarray(p, p + n))) {
          if (!res.ok && !(res.error instanceof SmlError)) throw res.error;
        }
        p += n;
      }
      x.end();
    });
  }
}
const seconds = (performance.now() - started) / 1000;

const kinds = [...rejected.entries()]
  .sort((a, b) => b[1] - a[1])
  .map(([k, n]) => `${k} ${n}`)
  .join(", ");
console.log(
  `fuzz-sml: ${COUNT} inputs (seed ${SEED}) in ${seconds.toFixed(1)} s: ${decoded} decoded (${decodedLenient} without CRC checks), ` +
    `rejections [${kinds}], ${crashes} crashes, ${slow} slow, slowest ${slowest.toFixed(2)} ms`,
);

// ---- parse rate of valid files against the CRC-16 over the same bytes ----

function rate(run: () => void): number {
  let frames = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    run();
    frames += POOL.length;
    t = performance.now();
  } while (t - t0 < BENCH_MS);
  return (frames * 1000) / (t - t0);
}

if (BENCH_MS > 0) {
  const bytes = POOL.reduce((s, f) => s + f.length, 0);
  let sink = 0;
  // Warm up both paths before timing.
  for (let k = 0; k < 200; k++)
    for (const f of POOL) sink += decodeSmlFile(f).messages.length + crc16X25(f);
  const parse = rate(() => {
    for (const f of POOL) sink += decodeSmlFile(f).messages.length;
  });
  const crc = rate(() => {
    for (const f of POOL) sink += crc16X25(f);
  });
  const avg = bytes / POOL.length;
  const mb = (r: number) => ((r * avg) / 1e6).toFixed(1);
  console.log(
    `fuzz-sml: valid files (${POOL.length}, ${avg.toFixed(0)} bytes avg): parse ${parse.toFixed(0)} frames/s ` +
      `(${mb(parse)} MB/s); CRC-16 alone over the same bytes ${crc.toFixed(0)} frames/s (${mb(crc)} MB/s); ` +
      `parse/CRC cost ratio ${(crc / parse).toFixed(1)}`,
  );
  // Using the results keeps the JIT from dropping the timed work.
  if (sink < 0) throw new Error("unreachable");
}

process.exit(crashes > 0 || slow > 0 ? 1 : 0);
