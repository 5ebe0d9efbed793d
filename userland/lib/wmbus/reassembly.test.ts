/**
 * AFL fragmentation: the fragment builder, decodeFrame, the AflReassembler's checks and limits,
 * decodeReassembled (mode 5 and mode 7, the MAC over the whole message), and properties: random
 * splits reassemble to the same decode; random, mutated, truncated and reordered fragment
 * streams give nothing but WmbusError, never hang, and a good message still comes through.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type AflFragment, decodeFrame, decodeReassembled, decodeTelegram } from "./decode.ts";
import { WmbusError } from "./errors.ts";
import {
  aflFragmentPayloads,
  fragmentedTelegrams,
  linkHeader,
  mode7Payload,
  splitSizes,
  toFormatA,
  wirelessFrame,
} from "./frame-builder.ts";
import {
  AflFragmentError,
  AflReassembler,
  type DroppedMessage,
  type FragmentRefusal,
  type ReassembledMessage,
  type ReassemblyResult,
} from "./reassembly.ts";
import { deriveMode7Keys } from "./security.ts";

const KEY = Uint8Array.from({ length: 16 }, (_, i) => (i * 7 + 3) & 0xff);
const HEADER = linkHeader({ manufacturer: "KAM", id: "12345678", deviceType: 0x02 });
const OTHER = linkHeader({ manufacturer: "ESY", id: "87654321", deviceType: 0x07 });

const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
/** Energy records in Wh (VIF 0x03), 32-bit integers. */
const energies = (values: number[]) =>
  Uint8Array.from(values.flatMap((v) => [0x04, 0x03, ...le32(v)]));
const RECORDS = energies([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);

interface Build {
  security?: 5 | 7;
  header?: Uint8Array;
  access?: number;
  counter?: number;
  records?: Uint8Array;
  clearTail?: Uint8Array;
  fragments?: number | number[];
  format?: "A" | "B" | "none";
}

function build(b: Build = {}): Uint8Array[] {
  return fragmentedTelegrams({
    security: b.security ?? 7,
    key: KEY,
    header: b.header ?? HEADER,
    accessNumber: b.access ?? 1,
    messageCounter: b.counter ?? 100,
    records: b.records ?? RECORDS,
    ...(b.clearTail ? { clearTail: b.clearTail } : {}),
    fragments: b.fragments ?? 3,
    format: b.format ?? "none",
  });
}

function fragmentOf(frame: Uint8Array): AflFragment {
  const decoded = decodeFrame(frame, { key: KEY });
  if (decoded.kind !== "fragment") throw new Error("expected a fragment");
  return decoded.fragment;
}

function complete(result: ReassemblyResult): ReassembledMessage {
  if (result.status !== "complete")
    throw new Error(`expected a complete message: ${result.status}`);
  return result.message;
}

/** Pushes frames in order; returns the last result. */
function pushAll(r: AflReassembler, frames: Uint8Array[], now = 0): ReassemblyResult {
  let last: ReassemblyResult | undefined;
  for (const f of frames) last = r.push(fragmentOf(f), now);
  if (!last) throw new Error("no frames");
  return last;
}

function refusal(fn: () => unknown): AflFragmentError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AflFragmentError) return error;
    throw error;
  }
  throw new Error("expected an AflFragmentError");
}

const reasonOf = (fn: () => unknown): FragmentRefusal => refusal(fn).reason;

/** A CRC-free frame with the AFL replaced: `afl` from the AFL length field on. */
function withAfl(header: Uint8Array, afl: number[], data: Uint8Array): Uint8Array {
  return wirelessFrame(header, Uint8Array.of(0x90, ...afl, ...data));
}

const values = (m: ReassembledMessage, key = KEY) =>
  decodeReassembled(m, { key }).records.map((r) => r.value);

describe("fragment builder", () => {
  test("even split sizes", () => {
    expect(splitSizes(10, 3)).toEqual([4, 3, 3]);
    expect(splitSizes(2, 4)).toEqual([1, 1, 0, 0]);
    expect(() => splitSizes(5, 0)).toThrow(RangeError);
  });

  test("mode 7: the first fragment carries MCL, counter, MAC and ML, the others only the FCL", () => {
    const frames = build({ fragments: 3 });
    expect(frames).toHaveLength(3);
    const [a, b, c] = frames.map(fragmentOf) as [AflFragment, AflFragment, AflFragment];
    // MF | MCL | ML | counter | MAC present, fragment id 1
    expect(a.afl).toMatchObject({
      fragmentControl: 0x7c01,
      fragmentId: 1,
      moreFragments: true,
      messageControl: 0x65, // ML and counter in the message, AT 5
      authenticationType: 5,
      messageCounter: 100,
      length: 2 + 1 + 4 + 8 + 2,
    });
    expect(a.afl.messageLength).toBe(a.data.length + b.data.length + c.data.length);
    expect(a.data[0]).toBe(0x7a); // the TPL CI-field opens the message
    expect(b.afl).toEqual({
      ci: 0x90,
      length: 2,
      fragmentControl: 0x4002,
      fragmentId: 2,
      moreFragments: true,
    });
    expect(c.afl).toMatchObject({ fragmentControl: 0x0003, fragmentId: 3, moreFragments: false });
  });

  test("sizes must add up; at most 15 encrypted blocks", () => {
    expect(() => build({ fragments: [1, 2] })).toThrow(RangeError);
    expect(() => build({ fragments: [] })).toThrow(RangeError);
    expect(() =>
      build({ records: energies(Array.from({ length: 40 }, (_, i) => i)), fragments: 2 }),
    ).toThrow(/at most 15 blocks/);
  });

  test("format A and B framing", () => {
    for (const format of ["A", "B"] as const) {
      const r = new AflReassembler();
      const m = complete(pushAll(r, build({ format })));
      expect(m.first.link.frameFormat).toBe(format === "A" ? "wmbus-a" : "wmbus-b");
      expect(values(m)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });
});

describe("decodeFrame and decodeTelegram", () => {
  test("decodeTelegram refuses a fragment; decodeFrame returns it with its headers", () => {
    const [first] = build();
    const error = (() => {
      try {
        decodeTelegram(first as Uint8Array, { key: KEY });
      } catch (e) {
        return e as WmbusError;
      }
    })();
    expect(error).toBeInstanceOf(WmbusError);
    expect(error?.kind).toBe("unsupported");
    expect(error?.message).toContain("AflReassembler");
    expect(error?.headers?.afl?.fragmentId).toBe(1);
    const fragment = fragmentOf(first as Uint8Array);
    expect(fragment.link).toMatchObject({ manufacturer: "KAM", id: "12345678", deviceType: 2 });
    expect(fragment.dataOffset).toBe(12 + fragment.afl.length); // L, C, M, A, CI, AFLL, AFL
    expect(fragment.frame).toEqual((first as Uint8Array).subarray(1));
  });

  test("a single telegram decodes the same through decodeFrame", () => {
    const raw = wirelessFrame(HEADER, mode7Payload(KEY, HEADER, 5, 9, RECORDS));
    const decoded = decodeFrame(raw, { key: KEY });
    expect(decoded.kind).toBe("telegram");
    if (decoded.kind === "telegram")
      expect(decoded.telegram).toEqual(decodeTelegram(raw, { key: KEY }));
  });

  test("AFL fields in the standard's order: the message length follows the MAC", () => {
    // An unfragmented message (fragment id 0) with MCL, counter, MAC and ML.
    const [payload] = aflMode7Payloads(1);
    const single = Uint8Array.from(payload as Uint8Array);
    single[2] = 0x00; // fragment id 0 (the FCL is not under the MAC)
    const telegram = decodeTelegram(wirelessFrame(HEADER, single), { key: KEY });
    expect(telegram.afl).toMatchObject({
      fragmentControl: 0x3c00,
      messageLength: (payload as Uint8Array).length - 19,
      macVerified: true,
    });
    expect(telegram.records.map((r) => r.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

/** Mode 7 AFL payloads built by hand from aflFragmentPayloads (for single-fragment cases). */
function aflMode7Payloads(parts: number): Uint8Array[] {
  const counter = Uint8Array.of(...le32(100));
  const keys = deriveMode7Keys(KEY, counter, HEADER.subarray(3, 7));
  // The TPL of the builder's mode 7 message: taken from a single-telegram payload.
  const payload = mode7Payload(KEY, HEADER, 1, 100, RECORDS);
  const tpl = payload.subarray(2 + (payload[1] as number));
  return aflFragmentPayloads(tpl, parts, { macKey: keys.macKey, counter });
}

describe("reassembly", () => {
  test("mode 7, three fragments: the MAC over the whole message, decoded once", () => {
    const r = new AflReassembler();
    const frames = build({ fragments: 3, counter: 4711 });
    expect(r.push(fragmentOf(frames[0] as Uint8Array), 0)).toMatchObject({
      status: "held",
      fragmentId: 1,
      fragments: 1,
    });
    expect(r.push(fragmentOf(frames[1] as Uint8Array), 10).status).toBe("held");
    expect(r.size).toBe(1);
    const m = complete(r.push(fragmentOf(frames[2] as Uint8Array), 20));
    expect(r.size).toBe(0);
    expect(m).toMatchObject({
      key: "KAM:12345678:1:2",
      fragments: 3,
      startedAt: 0,
      completedAt: 20,
    });
    expect(m.parts).toHaveLength(3);
    const telegram = decodeReassembled(m, { key: KEY });
    expect(telegram.fragments).toBe(3);
    expect(telegram.afl).toMatchObject({ messageCounter: 4711, macVerified: true });
    expect(telegram.transport).toMatchObject({ securityMode: 7, payload: "decrypted" });
    expect(telegram.records.map((r) => r.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Record offsets continue from the first fragment's data.
    expect(telegram.records[0]?.offset).toBe(m.first.dataOffset + 6 + 2);
  });

  test("mode 5, two fragments", () => {
    const r = new AflReassembler();
    const m = complete(pushAll(r, build({ security: 5, fragments: 2 })));
    const telegram = decodeReassembled(m, { key: KEY });
    expect(telegram.transport).toMatchObject({ securityMode: 5, payload: "decrypted" });
    expect(telegram.afl?.macVerified).toBeUndefined();
    expect(telegram.records.map((r) => r.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("a message larger than one frame (clear tail under the mode 7 MAC)", () => {
    const tail = energies(Array.from({ length: 60 }, (_, i) => 10_000 + i));
    const r = new AflReassembler();
    const m = complete(pushAll(r, build({ clearTail: tail, fragments: 4 })));
    expect(m.data.length).toBeGreaterThan(255);
    const decoded = values(m);
    expect(decoded).toHaveLength(68);
    expect(decoded.at(-1)).toBe(10.059);
  });

  test("one fragment with id 1 and no more fragments is a whole message", () => {
    const r = new AflReassembler();
    const m = complete(pushAll(r, build({ fragments: 1 })));
    expect(m.fragments).toBe(1);
    expect(values(m)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("empty fragments are taken (bounded by the fragment count)", () => {
    const total = fragmentOf(build({ fragments: 1 })[0] as Uint8Array).afl.messageLength as number;
    const r = new AflReassembler();
    const m = complete(pushAll(r, build({ fragments: [0, total, 0, 0] })));
    expect(m.fragments).toBe(4);
    expect(values(m)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("a fragment altered behind a good CRC fails the MAC over the whole message", () => {
    const frames = build({ fragments: 3 });
    const bad = Uint8Array.from(frames[1] as Uint8Array);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
    const r = new AflReassembler();
    const m = complete(pushAll(r, [frames[0] as Uint8Array, bad, frames[2] as Uint8Array]));
    expect(() => decodeReassembled(m, { key: KEY })).toThrow(/AFL MAC mismatch/);
    const wrong = Uint8Array.from(KEY).reverse();
    const again = complete(pushAll(new AflReassembler(), frames));
    const e = (() => {
      try {
        decodeReassembled(again, { key: wrong });
      } catch (error) {
        return error as WmbusError;
      }
    })();
    expect(e?.kind).toBe("authentication");
    expect(e?.headers?.afl?.fragmentId).toBe(1);
    expect(decodeReassembled(again, { key: KEY }).records).toHaveLength(8);
  });

  test("without a key: no-key, the headers named", () => {
    const m = complete(pushAll(new AflReassembler(), build()));
    const e = (() => {
      try {
        decodeReassembled(m);
      } catch (error) {
        return error as WmbusError;
      }
    })();
    expect(e?.kind).toBe("no-key");
    expect(e?.headers?.transport?.securityMode).toBe(7);
  });

  test("the reassembler owns its copies", () => {
    const frames = build().map((f) => Uint8Array.from(f));
    const r = new AflReassembler();
    r.push(fragmentOf(frames[0] as Uint8Array), 0);
    r.push(fragmentOf(frames[1] as Uint8Array), 0);
    const m = complete(r.push(fragmentOf(frames[2] as Uint8Array), 0));
    for (const f of frames) f.fill(0);
    expect(values(m)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe("refusals", () => {
  const frames = build({ fragments: 3 });
  const [f1, f2, f3] = frames as [Uint8Array, Uint8Array, Uint8Array];
  const push = (r: AflReassembler, f: Uint8Array, now = 0) => r.push(fragmentOf(f), now);

  test("fragment id 0 with more fragments", () => {
    const data = fragmentOf(f2).data;
    const frame = withAfl(HEADER, [0x02, 0x00, 0x40], data);
    const e = refusal(() => push(new AflReassembler(), frame));
    expect(e.reason).toBe("fragment-id");
    expect(e.kind).toBe("fragment");
    expect(e).toBeInstanceOf(WmbusError);
    expect(e.message).toMatch(/at byte 11\)$/);
  });

  test("a later fragment without its first", () => {
    const r = new AflReassembler();
    expect(reasonOf(() => push(r, f2))).toBe("no-first-fragment");
    expect(reasonOf(() => push(r, f3))).toBe("no-first-fragment");
    expect(r.size).toBe(0);
  });

  test("reordered: the gap gives the message up, the rest has no first fragment", () => {
    const r = new AflReassembler();
    push(r, f1);
    const e = refusal(() => push(r, f3));
    expect(e.reason).toBe("missing-fragment");
    expect(e.message).toContain("fragment 2 missing");
    expect(e.dropped).toMatchObject({ fragments: 1 });
    expect(reasonOf(() => push(r, f2))).toBe("no-first-fragment");
    // The same message again, in order, comes through.
    expect(values(complete(pushAll(r, frames)))).toHaveLength(8);
  });

  test("a missing middle fragment of four", () => {
    const four = build({ fragments: 4 });
    const r = new AflReassembler();
    push(r, four[0] as Uint8Array);
    push(r, four[1] as Uint8Array);
    const e = refusal(() => push(r, four[3] as Uint8Array));
    expect(e.reason).toBe("missing-fragment");
    expect(e.dropped?.fragments).toBe(2);
  });

  test("duplicates are refused and the message goes on", () => {
    const r = new AflReassembler();
    push(r, f1);
    expect(reasonOf(() => push(r, f1))).toBe("duplicate");
    push(r, f2);
    expect(reasonOf(() => push(r, f2))).toBe("duplicate");
    expect(reasonOf(() => push(r, f1))).toBe("duplicate");
    expect(values(complete(push(r, f3)))).toHaveLength(8);
  });

  test("an earlier fragment id with other content is out of order", () => {
    const other = build({ counter: 101, records: energies([9, 9, 9, 9, 9, 9, 9, 9]) });
    const r = new AflReassembler();
    push(r, f1);
    push(r, f2);
    const e = refusal(() => push(r, other[1] as Uint8Array));
    expect(e.reason).toBe("out-of-order");
    expect(r.size).toBe(0);
  });

  test("a new first fragment supersedes the unfinished message", () => {
    const dropped: DroppedMessage[] = [];
    const r = new AflReassembler({ onDrop: (d) => dropped.push(d) });
    const next = build({ counter: 101, records: energies([9, 9, 9, 9, 9, 9, 9, 9]) });
    push(r, f1, 5);
    push(r, f2, 6);
    push(r, next[0] as Uint8Array, 7);
    expect(dropped).toEqual([
      {
        key: "KAM:12345678:1:2",
        fragments: 2,
        bytes: expect.any(Number),
        messageLength: expect.any(Number),
        startedAt: 5,
        reason: "superseded",
        at: 7,
      },
    ]);
    push(r, next[1] as Uint8Array, 8);
    expect(values(complete(push(r, next[2] as Uint8Array, 9)))).toEqual([
      0.009, 0.009, 0.009, 0.009, 0.009, 0.009, 0.009, 0.009,
    ]);
  });

  test("a first fragment without the message length", () => {
    const data = fragmentOf(f1).data;
    const frame = withAfl(HEADER, [0x02, 0x01, 0x40], data);
    expect(reasonOf(() => push(new AflReassembler(), frame))).toBe("no-message-length");
  });

  test("optional AFL fields in a later fragment", () => {
    const r = new AflReassembler();
    push(r, f1);
    const data = fragmentOf(f2).data;
    const ml = fragmentOf(f1).afl.messageLength as number;
    const frame = withAfl(HEADER, [0x04, 0x02, 0x50, ml & 0xff, ml >> 8], data);
    const e = refusal(() => push(r, frame));
    expect(e.reason).toBe("later-fragment-fields");
    expect(r.size).toBe(0);
  });

  test("a message longer than the maximum", () => {
    const big = withAfl(HEADER, [0x04, 0x01, 0x50, 0x01, 0x40], Uint8Array.of(0x7a)); // ML 16385
    expect(reasonOf(() => push(new AflReassembler(), big))).toBe("too-large");
    const small = new AflReassembler({ maxMessageBytes: 20 });
    const e = refusal(() => push(small, f1));
    expect(e.reason).toBe("too-large");
    expect(e.message).toContain("at most 20");
    // 16 KiB taken by default.
    const edge = withAfl(HEADER, [0x04, 0x01, 0x50, 0x00, 0x40], Uint8Array.of(0x7a));
    expect(new AflReassembler().push(fragmentOf(edge), 0).status).toBe("held");
  });

  test("the fragments must add up to AFL.ML", () => {
    const ml = fragmentOf(f1).afl.messageLength as number;
    const data1 = fragmentOf(f1).data;
    const first = (length: number) =>
      wirelessFrame(
        HEADER,
        Uint8Array.of(0x90, 0x04, 0x01, 0x50, length & 0xff, length >> 8, ...data1),
      );
    // Longer than announced.
    const r = new AflReassembler();
    push(r, first(ml - 5));
    push(r, f2);
    const e = refusal(() => push(r, f3));
    expect(e.reason).toBe("length-mismatch");
    expect(e.dropped?.fragments).toBe(2);
    // Ends short.
    push(r, first(ml + 5));
    push(r, f2);
    const short = refusal(() => push(r, f3));
    expect(short.reason).toBe("length-mismatch");
    expect(short.message).toContain(`ends after ${ml} bytes`);
    // A first fragment longer than its own ML.
    expect(reasonOf(() => push(r, first(3)))).toBe("length-mismatch");
    expect(r.size).toBe(0);
  });

  test("too many fragments", () => {
    const r = new AflReassembler({ maxFragments: 2 });
    push(r, f1);
    push(r, f2);
    expect(reasonOf(() => push(r, f3))).toBe("too-many-fragments");
    expect(values(complete(pushAll(r, build({ fragments: 2 }))))).toHaveLength(8);
    expect(() => new AflReassembler({ maxFragments: 256 })).toThrow(RangeError);
    expect(() => new AflReassembler({ timeoutMs: 0 })).toThrow(RangeError);
  });

  test("too many meters with partial messages; each meter's reassembly is its own", () => {
    const r = new AflReassembler({ maxMeters: 1 });
    const other = build({ header: OTHER });
    push(r, f1);
    const e = refusal(() => push(r, other[0] as Uint8Array));
    expect(e.reason).toBe("too-many-meters");
    push(r, f2);
    complete(push(r, f3));
    // Interleaved meters with room for both.
    const two = new AflReassembler({ maxMeters: 2 });
    push(two, f1);
    push(two, other[0] as Uint8Array);
    push(two, f2);
    push(two, other[1] as Uint8Array);
    const a = complete(push(two, f3));
    const b = complete(push(two, other[2] as Uint8Array));
    expect(a.key).toBe("KAM:12345678:1:2");
    expect(b.key).toBe("ESY:87654321:1:7");
    expect(values(a)).toEqual(values(b));
  });

  test("the same meter with another device type is another reassembly", () => {
    const r = new AflReassembler();
    const water = build({
      header: linkHeader({ manufacturer: "KAM", id: "12345678", deviceType: 7 }),
    });
    push(r, f1);
    push(r, water[0] as Uint8Array);
    expect(r.size).toBe(2);
  });

  test("timeout: the partial message is dropped, its late fragments refused", () => {
    const dropped: DroppedMessage[] = [];
    const r = new AflReassembler({ timeoutMs: 1000, onDrop: (d) => dropped.push(d) });
    push(r, f1, 0);
    push(r, f2, 1000); // just in time
    const e = refusal(() => push(r, f3, 1001));
    expect(e.reason).toBe("timeout");
    expect(dropped).toMatchObject([{ reason: "timeout", fragments: 2, startedAt: 0, at: 1001 }]);
    // A fresh message after the timeout comes through.
    expect(values(complete(pushAll(r, frames, 1500)))).toHaveLength(8);
    // expire() drops without a fragment; a clock going back also ends the wait.
    push(r, f1, 2000);
    expect(r.expire(2500)).toEqual([]);
    expect(r.expire(3001)).toMatchObject([{ reason: "timeout", fragments: 1 }]);
    expect(r.pending()).toEqual([]);
    push(r, f1, 5000);
    expect(r.pending()).toMatchObject([{ fragments: 1, startedAt: 5000 }]);
    expect(r.expire(4000)).toHaveLength(1);
    expect(dropped).toHaveLength(3);
  });

  test("a good message after bad fragments comes through", () => {
    const r = new AflReassembler();
    const bad: Uint8Array[] = [
      f3,
      f2,
      f1,
      f1,
      f3,
      withAfl(HEADER, [0x02, 0x00, 0x40], Uint8Array.of(1)),
    ];
    for (const f of bad) {
      try {
        push(r, f);
      } catch (e) {
        expect(e).toBeInstanceOf(AflFragmentError);
      }
    }
    const next = build({ counter: 200 });
    expect(values(complete(pushAll(r, next)))).toHaveLength(8);
  });
});

// --- Properties --------------------------------------------------------------------------------

/** Splits `total` bytes at the given fractions; parts longer than `max` are split again. */
function sizesAt(total: number, fractions: number[], max: number): number[] {
  const cuts = [...fractions.map((f) => Math.floor(f * total)), 0, total].sort((a, b) => a - b);
  const sizes: number[] = [];
  for (let i = 1; i < cuts.length; i++) {
    let size = (cuts[i] as number) - (cuts[i - 1] as number);
    if (size === 0) {
      sizes.push(0);
      continue;
    }
    while (size > 0) {
      const part = Math.min(size, max);
      sizes.push(part);
      size -= part;
    }
  }
  return sizes;
}

const MAX_MS = 200;

describe("properties", () => {
  test("random splits of valid messages reassemble to the same decode", () => {
    fc.assert(
      fc.property(
        fc.record({
          security: fc.constantFrom(5 as const, 7 as const),
          values: fc.array(fc.nat({ max: 0x7fffffff }), { minLength: 1, maxLength: 39 }),
          tail: fc.array(fc.nat({ max: 0x7fffffff }), { maxLength: 60 }),
          fractions: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
          counter: fc.nat({ max: 0xffffffff }),
          access: fc.nat({ max: 255 }),
          format: fc.constantFrom("A" as const, "B" as const, "none" as const),
        }),
        ({ security, values: v, tail, fractions, counter, access, format }) => {
          const records = energies(v);
          const clearTail = energies(tail);
          const one = build({ security, records, clearTail, counter, access, fragments: 1 });
          const total = fragmentOf(one[0] as Uint8Array).afl.messageLength as number;
          const sizes = sizesAt(total, fractions, 200);
          const frames = build({
            security,
            records,
            clearTail,
            counter,
            access,
            format,
            fragments: sizes,
          });
          const m = complete(pushAll(new AflReassembler(), frames));
          const telegram = decodeReassembled(m, { key: KEY });
          expect(telegram.fragments).toBe(sizes.length);
          expect(telegram.records.map((r) => r.value)).toEqual(
            [...v, ...tail].map((x) => x / 1000),
          );
          if (security === 7) expect(telegram.afl?.macVerified).toBe(true);
          // Whatever the split, the same message as the one-fragment form.
          const single = decodeReassembled(complete(pushAll(new AflReassembler(), one)), {
            key: KEY,
          });
          expect(telegram.records).toEqual(single.records);
          expect(telegram.transport).toEqual(single.transport);
        },
      ),
      { numRuns: 300 },
    );
  });

  // Streams of fragments: valid sequences of two meters, shuffled, repeated, dropped, mutated
  // behind good CRCs, truncated, and random bytes, at times that jump and go back.
  const seeds = [
    ...build({ fragments: 3 }),
    ...build({ fragments: 2, security: 5, access: 9 }),
    ...build({ header: OTHER, fragments: 4, counter: 7 }),
    ...build({ header: OTHER, fragments: [40, 0, 30], counter: 8 }),
  ];
  const element = fc.oneof(
    fc.constantFrom(...seeds),
    fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
      )
      .map(([seed, flips]) => {
        const out = Uint8Array.from(seed);
        for (const [at, x] of flips) {
          const i = 1 + (at % (out.length - 1)); // the L-field stays
          out[i] = (out[i] as number) ^ x;
        }
        return out;
      }),
    fc.tuple(fc.constantFrom(...seeds), fc.nat()).map(([seed, cut]) => {
      const out = Uint8Array.from(seed.subarray(0, 1 + (cut % seed.length)));
      out[0] = out.length - 1; // a consistent L-field: the cut reaches the upper layers
      return out;
    }),
    fc.uint8Array({ maxLength: 80 }),
    fc.uint8Array({ maxLength: 200 }).map((body) => toFormatA(withAfl(HEADER, [], body))),
  );
  const stream = fc.array(fc.tuple(element, fc.integer({ min: -5_000, max: 90_000 })), {
    maxLength: 40,
  });

  test("random, mutated, truncated and reordered streams: only WmbusError, no hang, then a good message", () => {
    let counter = 1_000;
    fc.assert(
      fc.property(stream, fc.constantFrom(5 as const, 7 as const), (items, security) => {
        const r = new AflReassembler({ timeoutMs: 60_000 });
        let now = 0;
        for (const [frame, step] of items) {
          now += step;
          const started = performance.now();
          try {
            const decoded = decodeFrame(frame, { key: KEY });
            if (decoded.kind === "fragment") {
              const result = r.push(decoded.fragment, now);
              if (result.status === "complete") decodeReassembled(result.message, { key: KEY });
            }
          } catch (error) {
            if (!(error instanceof WmbusError)) throw error;
            expect(error.message.length).toBeGreaterThan(0);
          }
          expect(performance.now() - started).toBeLessThan(MAX_MS);
        }
        expect(r.size).toBeLessThanOrEqual(r.maxMeters);
        // A good message afterwards is reassembled and decoded.
        counter++;
        const good = build({
          security,
          counter,
          access: counter & 0xff,
          records: energies([counter]),
        });
        const m = complete(pushAll(r, good, now + 1));
        expect(decodeReassembled(m, { key: KEY }).records.map((x) => x.value)).toEqual([
          counter / 1000,
        ]);
      }),
      { numRuns: 400 },
    );
  });

  test("the frames of a stream are CRC-checked like single telegrams", () => {
    const frames = build({ format: "A" });
    const bad = Uint8Array.from(frames[1] as Uint8Array);
    bad[12] = (bad[12] as number) ^ 0x01;
    const e = (() => {
      try {
        decodeFrame(bad, { key: KEY });
      } catch (error) {
        return error as WmbusError;
      }
    })();
    expect(e?.kind).toBe("crc");
  });
});
