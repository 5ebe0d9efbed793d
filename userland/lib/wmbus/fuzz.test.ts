/**
 * Property tests: whatever the input, the decoder returns or throws WmbusError, and fast.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { FormatCache, formatSignature } from "./compact.ts";
import { decodeTelegram, decodeTelegramHex } from "./decode.ts";
import { WmbusError } from "./errors.ts";
import {
  ellCtrPayload,
  linkHeader,
  mode5Payload,
  mode7Payload,
  toFormatA,
  toFormatB,
  wiredLongFrame,
  wirelessFrame,
} from "./frame-builder.ts";
import { parseHex } from "./hex.ts";
import { parseRecords } from "./records.ts";
import { loadGoldenTelegrams } from "./test-golden.ts";

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
/** Generous bound for one decode; real runs take microseconds. */
const MAX_MS = 200;

function decodeSafely(run: () => unknown): boolean {
  const started = performance.now();
  try {
    run();
  } catch (error) {
    if (!(error instanceof WmbusError)) throw error;
    expect(error.message.length).toBeGreaterThan(0);
  }
  expect(performance.now() - started).toBeLessThan(MAX_MS);
  return true;
}

const goldenFrames = loadGoldenTelegrams().flatMap((t) =>
  t.frames.map((f) => parseHex(f, { allowTrailingNibble: true }).bytes),
);

const header = linkHeader({ manufacturer: "KAM", id: "11223344" });
const records = parseHex(
  "04 06 D2040000 04 13 39300000 02 59 A109 02 FD17 0000 0D FD11 03 414243",
).bytes;
const synthetic = [
  wirelessFrame(header, mode5Payload(KEY, header, 7, records)),
  wirelessFrame(header, mode7Payload(KEY, header, 7, 99, records)),
  wirelessFrame(header, ellCtrPayload(KEY, header, 0x20, 7, 5, Uint8Array.of(0x78, ...records))),
  wiredLongFrame(
    0x08,
    1,
    Uint8Array.of(0x72, 0x44, 0x33, 0x22, 0x11, 0x2d, 0x2c, 1, 4, 0, 0, 0, 0, ...records),
  ),
];
const seeds = [...goldenFrames, ...synthetic];

/** Bit flips, byte changes, truncation and extension of a seed frame. */
const mutatedFrame = fc
  .record({
    seed: fc.constantFrom(...seeds),
    flips: fc.array(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), {
      maxLength: 4,
    }),
    bytes: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
      maxLength: 3,
    }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 8 }),
    fixLength: fc.boolean(),
  })
  .map(({ seed, flips, bytes, cut, extra, fixLength }) => {
    let frame = Uint8Array.from(seed);
    for (const { at, bit } of flips) {
      if (frame.length > 0)
        frame[at % frame.length] = (frame[at % frame.length] as number) ^ (1 << bit);
    }
    for (const { at, value } of bytes) if (frame.length > 0) frame[at % frame.length] = value;
    if (cut !== undefined && frame.length > 0) frame = frame.subarray(0, cut % frame.length);
    frame = Uint8Array.of(...frame, ...extra);
    // Keep the L-field consistent so the mutation reaches the upper layers.
    if (fixLength && frame.length > 0 && frame.length <= 256) frame[0] = frame.length - 1;
    return frame;
  });

/** A valid link header with a random CI and body, optionally wrapped in format A or B. */
const structuredFrame = fc
  .record({
    ci: fc.constantFrom(
      0x72,
      0x78,
      0x79,
      0x7a,
      0x7b,
      0x73,
      0x8c,
      0x8d,
      0x8e,
      0x8f,
      0x90,
      0x70,
      0x71,
      0x8a,
      0xa0,
    ),
    body: fc.uint8Array({ maxLength: 200 }),
    wrap: fc.constantFrom("none", "A", "B"),
  })
  .map(({ ci, body, wrap }) => {
    const frame = wirelessFrame(header, Uint8Array.of(ci, ...body.subarray(0, 240)));
    if (wrap === "A") return toFormatA(frame);
    if (wrap === "B" && frame.length + 4 <= 256) return toFormatB(frame);
    return frame;
  });

describe("fuzzing: only WmbusError, never a hang", () => {
  test("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withKey) =>
        decodeSafely(() => decodeTelegram(bytes, withKey ? { key: KEY } : {})),
      ),
      { numRuns: 3000 },
    );
  });

  test("random text as hex", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (text) =>
        decodeSafely(() => decodeTelegramHex(text)),
      ),
      { numRuns: 1000 },
    );
  });

  test("mutated golden and synthetic frames, with and without key", () => {
    fc.assert(
      fc.property(mutatedFrame, fc.boolean(), (frame, withKey) => {
        const cache = new FormatCache();
        return decodeSafely(() =>
          decodeTelegram(frame, { ...(withKey ? { key: KEY } : {}), formatCache: cache }),
        );
      }),
      { numRuns: 4000 },
    );
  });

  test("structured frames with random layers behind a valid header", () => {
    fc.assert(
      fc.property(structuredFrame, fc.boolean(), (frame, withKey) =>
        decodeSafely(() => decodeTelegram(frame, withKey ? { key: KEY } : {})),
      ),
      { numRuns: 3000 },
    );
  });

  test("random application layer bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (apl) =>
        decodeSafely(() => parseRecords(apl)),
      ),
      { numRuns: 3000 },
    );
  });

  test("compact frames against a remembered layout", () => {
    const cache = new FormatCache();
    const full = wirelessFrame(header, Uint8Array.of(0x78, ...records));
    decodeTelegram(full, { formatCache: cache });
    const signature = formatSignature(parseRecords(records).recordHeaders);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (data) => {
        const payload = Uint8Array.of(0x79, signature & 0xff, signature >> 8, ...data);
        return decodeSafely(() =>
          decodeTelegram(wirelessFrame(header, payload), { formatCache: cache }),
        );
      }),
      { numRuns: 1000 },
    );
  });

  test("every unmutated seed decodes or is refused with a WmbusError", () => {
    for (const seed of seeds) decodeSafely(() => decodeTelegram(seed, { key: KEY }));
  });
});
