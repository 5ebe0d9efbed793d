/** Property tests: bad input of any shape gives SmlError or a result, never another error or a hang. */

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SmlError } from "./errors.ts";
import { decodeSmlFile, encodeSmlFile } from "./file.ts";
import { type ExtractResult, extractFrames, SmlFrameExtractor } from "./frame-extractor.ts";
import { decodeSmlMessages } from "./message.ts";
import { buildMeterReadingFile } from "./meter-file.ts";
import { readingsFromSml } from "./readings.ts";
import { concat, SAMPLE_FRAMES, SAMPLE_PAYLOADS, STALE_CRC_FRAME } from "./test-support.ts";
import { decodeTransportFrame, encodeTransportFrame } from "./transport.ts";
import type { SmlListEntry, SmlMessage, SmlTime, SmlTree, SmlValue } from "./types.ts";

/** Runs f; any throw other than SmlError fails the test. Returns the time taken in ms. */
function onlySmlErrors(f: () => unknown, inputLength = Number.POSITIVE_INFINITY): number {
  const t0 = performance.now();
  try {
    f();
  } catch (e) {
    if (!(e instanceof SmlError)) throw e;
    expect(e.offset).toBeGreaterThanOrEqual(-1);
    expect(e.offset).toBeLessThanOrEqual(inputLength);
  }
  return performance.now() - t0;
}

function decodeAll(b: Uint8Array): void {
  for (const f of [
    () => decodeSmlFile(b),
    () => decodeSmlFile(b, { checkFrameCrc: false, checkMessageCrc: false }),
    () => decodeSmlMessages(b),
    () => decodeSmlMessages(b, { checkMessageCrc: false }),
    () => decodeTransportFrame(b, { checkCrc: false }),
    () => readingsFromSml(decodeSmlFile(b, { checkFrameCrc: false, checkMessageCrc: false })),
  ]) {
    expect(onlySmlErrors(f, b.length)).toBeLessThan(250);
  }
  for (const r of extractFrames(b, { maxFrameBytes: 512 })) {
    if (r.ok) onlySmlErrors(() => decodeSmlMessages(r.frame.payload, { checkMessageCrc: false }));
    else expect(r.error).toBeInstanceOf(SmlError);
  }
}

const meterFrame = buildMeterReadingFile({
  serverId: "0a0158595a0000123456",
  transactionId: 7,
  time: { kind: "localTimestamp", timestamp: 1_700_000_000, localOffset: 60, seasonTimeOffset: 0 },
  entries: [
    { obis: "1-0:1.8.0*255", unit: 30, scaler: -1, value: 123456789n, status: 0x1c0104 },
    { obis: "1-0:16.7.0*255", unit: 27, scaler: -2, value: -4711 },
    { obis: "1-0:96.1.0*255", value: new Uint8Array(20).fill(0x1b) },
  ],
});
const VALID_FRAMES = [meterFrame, ...SAMPLE_FRAMES, STALE_CRC_FRAME];
const VALID_PAYLOADS = [...SAMPLE_PAYLOADS, decodeTransportFrame(meterFrame).payload];

/** A mutation: flip, set, insert, delete, truncate, duplicate a range. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    op: fc.constant("set" as const),
    at: fc.nat(),
    v: fc.constantFrom(0x00, 0x01, 0x1b, 0x1a, 0x7f, 0x8f, 0xff, 0x70, 0xf1),
  }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 8 }),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    n: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    op: fc.constant("duplicate" as const),
    at: fc.nat(),
    n: fc.integer({ min: 1, max: 40 }),
  }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(b: Uint8Array, ms: Mutation[]): Uint8Array {
  let x = b;
  for (const m of ms) {
    const at = x.length === 0 ? 0 : m.at % x.length;
    switch (m.op) {
      case "flip":
        x = x.slice();
        if (x.length > 0) x[at] = (x[at] as number) ^ (1 << m.bit);
        break;
      case "set":
        x = x.slice();
        if (x.length > 0) x[at] = m.v;
        break;
      case "insert":
        x = concat(x.subarray(0, at), m.bytes, x.subarray(at));
        break;
      case "delete":
        x = concat(x.subarray(0, at), x.subarray(at + m.n));
        break;
      case "truncate":
        x = x.subarray(0, at);
        break;
      case "duplicate":
        x = concat(x.subarray(0, at + m.n), x.subarray(at));
        break;
    }
  }
  return x;
}

describe("fuzz", () => {
  test("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => decodeAll(b)),
      { numRuns: 3000 },
    );
  });

  test("random bytes biased to SML-looking values", () => {
    const smlish = fc
      .uint8Array({ maxLength: 400 })
      .map((b) =>
        b.map(
          (v) =>
            [0x00, 0x01, 0x1b, 0x62, 0x63, 0x65, 0x69, 0x72, 0x76, 0x77, 0x83, 0xf1, 0x52, 0x42, v][
              v % 15
            ] as number,
        ),
      );
    fc.assert(
      fc.property(smlish, (b) => {
        decodeAll(b);
        decodeAll(encodeTransportFrame(b));
      }),
      { numRuns: 3000 },
    );
  });

  test("mutated valid frames", () => {
    fc.assert(
      fc.property(
        fc.nat(VALID_FRAMES.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (i, ms) => {
          decodeAll(mutate(VALID_FRAMES[i] as Uint8Array, ms));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("mutated payloads in a correct frame reach the message parser", () => {
    fc.assert(
      fc.property(
        fc.nat(VALID_PAYLOADS.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (i, ms) => {
          const p = mutate(VALID_PAYLOADS[i] as Uint8Array, ms);
          decodeAll(p);
          decodeAll(encodeTransportFrame(p));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("a frame stream in random chunks with garbage between frames", () => {
    // Garbage without runs of four 1B bytes cannot hold a false start or swallow a frame.
    const garbage = fc.uint8Array({ maxLength: 40 }).map((g) => {
      const out = g.slice();
      for (let i = 3; i < out.length; i++) {
        if (out[i] === 0x1b && out[i - 1] === 0x1b && out[i - 2] === 0x1b && out[i - 3] === 0x1b)
          out[i] = 0;
      }
      return out;
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(garbage, fc.uint8Array({ maxLength: 60 })), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        (parts, cuts) => {
          const stream = concat(...parts.flatMap(([g, p]) => [g, encodeTransportFrame(p)]));
          const x = new SmlFrameExtractor({ maxFrameBytes: 1024 });
          const rs: ExtractResult[] = [];
          let i = 0;
          let k = 0;
          while (i < stream.length) {
            const n = cuts[k++ % cuts.length] as number;
            rs.push(...x.push(stream.subarray(i, i + n)));
            i += n;
          }
          rs.push(...x.end());
          const payloads = rs.map((r) => (r.ok ? r.frame.payload : r.error.kind));
          expect(payloads).toEqual(parts.map(([, p]) => p));
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("any garbage stream: no throw, bounded buffer", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const x = new SmlFrameExtractor({ maxFrameBytes: 256 });
        for (const c of chunks) {
          for (const r of x.push(c)) if (!r.ok) expect(r.error).toBeInstanceOf(SmlError);
          expect(x.bufferedBytes).toBeLessThanOrEqual(256 + 300);
        }
        x.end();
      }),
      { numRuns: 1000 },
    );
  });
});

describe("encoder properties", () => {
  const octets = fc.uint8Array({ maxLength: 300 });
  // An empty optional octet string is 01, the same as "not set": SML cannot tell them apart.
  const someOctets = fc.uint8Array({ minLength: 1, maxLength: 300 });
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const time: fc.Arbitrary<SmlTime> = fc.oneof(
    u32.map((secIndex) => ({ kind: "secIndex" as const, secIndex })),
    u32.map((timestamp) => ({ kind: "timestamp" as const, timestamp })),
    fc
      .tuple(u32, fc.integer({ min: -32768, max: 32767 }), fc.integer({ min: -32768, max: 32767 }))
      .map(([timestamp, localOffset, seasonTimeOffset]) => ({
        kind: "localTimestamp" as const,
        timestamp,
        localOffset,
        seasonTimeOffset,
      })),
  );
  const sized = (signed: boolean) =>
    fc.integer({ min: 1, max: 8 }).chain((size) => {
      const bits = BigInt(8 * size);
      const range = signed
        ? fc.bigInt({ min: -(1n << (bits - 1n)), max: (1n << (bits - 1n)) - 1n })
        : fc.bigInt({ min: 0n, max: (1n << bits) - 1n });
      return range.map((value) => ({
        type: signed ? ("int" as const) : ("uint" as const),
        value,
        size,
      }));
    });
  const value: fc.Arbitrary<SmlValue> = fc.oneof(
    fc.boolean().map((v) => ({ type: "bool" as const, value: v })),
    octets.map((v) => ({ type: "octets" as const, value: v })),
    sized(true),
    sized(false),
    time.map((t) => ({ type: "time" as const, value: t })),
  );
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const entry: fc.Arbitrary<SmlListEntry> = fc.record({
    objName: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    status: opt(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    valTime: opt(time),
    unit: opt(fc.integer({ min: 0, max: 255 })),
    scaler: opt(fc.integer({ min: -128, max: 127 })),
    value,
    valueSignature: opt(someOctets),
  });
  const tree: fc.Arbitrary<SmlTree> = fc.letrec((tie) => ({
    tree: fc.record({
      parameterName: octets,
      parameterValue: opt(
        fc.oneof(
          value.map((v) => ({ kind: "value" as const, value: v })),
          time.map((t) => ({ kind: "time" as const, time: t })),
          entry.map((e) => ({ kind: "listEntry" as const, listEntry: e })),
        ),
      ),
      childList: opt(fc.array(tie("tree") as fc.Arbitrary<SmlTree>, { maxLength: 3 })),
    }),
  })).tree;

  const message: fc.Arbitrary<SmlMessage> = fc.record({
    transactionId: octets,
    groupNo: fc.integer({ min: 0, max: 255 }),
    abortOnError: fc.integer({ min: 0, max: 255 }),
    body: fc.oneof(
      fc.record({
        kind: fc.constant("GetListResponse" as const),
        clientId: opt(someOctets),
        serverId: octets,
        listName: opt(someOctets),
        actSensorTime: opt(time),
        valList: fc.array(entry, { maxLength: 20 }),
        listSignature: opt(someOctets),
        actGatewayTime: opt(time),
      }),
      fc.record({
        kind: fc.constant("GetProcParameterResponse" as const),
        serverId: octets,
        parameterTreePath: fc.array(octets, { maxLength: 4 }),
        parameterTree: tree,
      }),
      fc.record({
        kind: fc.constant("AttentionResponse" as const),
        serverId: octets,
        attentionNo: octets,
        attentionMsg: opt(someOctets),
        attentionDetails: opt(tree),
      }),
    ),
  });

  test("encode then decode gives the messages back", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 4 }), (ms) => {
        const decoded = decodeSmlFile(encodeSmlFile(ms)).messages.map(({ crc16: _, ...m }) => m);
        expect(decoded).toEqual(ms);
      }),
      { numRuns: 300 },
    );
  });
});
