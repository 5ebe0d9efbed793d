import { describe, expect, test } from "bun:test";
import { crc16X25 } from "./crc16.ts";
import { type ExtractResult, extractFrames, SmlFrameExtractor } from "./frame-extractor.ts";
import { concat, hex, prng, SAMPLE_FRAMES, xorByte } from "./test-support.ts";
import { encodeTransportFrame } from "./transport.ts";

function payloads(n: number, seed: number): Uint8Array[] {
  const rnd = prng(seed);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const p = new Uint8Array(Math.floor(rnd() * 80));
    // Many 1B bytes so escapes and near-escapes are common.
    for (let i = 0; i < p.length; i++) p[i] = rnd() < 0.5 ? 0x1b : Math.floor(rnd() * 256);
    out.push(p);
  }
  return out;
}

function feedInChunks(x: SmlFrameExtractor, data: Uint8Array, rnd: () => number): ExtractResult[] {
  const out: ExtractResult[] = [];
  let i = 0;
  while (i < data.length) {
    const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 8 : 200));
    for (const r of x.push(data.subarray(i, i + n))) out.push(r);
    i += n;
  }
  for (const r of x.end()) out.push(r);
  return out;
}

const okPayloads = (rs: ExtractResult[]) =>
  rs.filter((r) => r.ok).map((r) => (r.ok ? r.frame.payload : new Uint8Array()));

describe("SmlFrameExtractor", () => {
  test("frames back to back, random chunking, same payloads out", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const ps = payloads(20, seed);
      const stream = concat(...ps.map(encodeTransportFrame));
      const rs = feedInChunks(new SmlFrameExtractor(), stream, prng(seed + 1000));
      expect(rs.every((r) => r.ok)).toBe(true);
      expect(okPayloads(rs)).toEqual(ps);
    }
  });

  test("byte-by-byte feeding of SML files", () => {
    const stream = concat(...SAMPLE_FRAMES);
    const x = new SmlFrameExtractor();
    const rs: ExtractResult[] = [];
    for (const b of stream) rs.push(...x.push(Uint8Array.of(b)));
    expect(rs.length).toBe(SAMPLE_FRAMES.length);
    const offsets = rs.map((r) => (r.ok ? r.frame.offset : -1));
    let offset = 0;
    const expected = SAMPLE_FRAMES.map((f) => {
      const at = offset;
      offset += f.length;
      return at;
    });
    expect(offsets).toEqual(expected);
    expect(rs.map((r) => r.ok && r.frame.raw)).toEqual(SAMPLE_FRAMES);
  });

  test("garbage before, between and after frames is skipped", () => {
    const rnd = prng(7);
    const garbage = (n: number) => {
      const g = new Uint8Array(n);
      for (let i = 0; i < n; i++) g[i] = rnd() < 0.3 ? 0x1b : Math.floor(rnd() * 256);
      return g;
    };
    const ps = payloads(10, 99);
    const parts: Uint8Array[] = [];
    for (const p of ps) parts.push(garbage(Math.floor(rnd() * 50)), encodeTransportFrame(p));
    parts.push(garbage(13));
    const x = new SmlFrameExtractor();
    const rs = feedInChunks(x, concat(...parts), prng(8));
    expect(okPayloads(rs)).toEqual(ps);
    expect(x.stats.frames).toBe(10);
    expect(x.stats.skippedBytes).toBeGreaterThan(0);
  });

  test("a corrupted frame is reported and the next one still comes out", () => {
    const a = encodeTransportFrame(hex("01020304050607"));
    const b = encodeTransportFrame(hex("0a0b0c"));
    const bad = a.slice();
    xorByte(bad, 9, 0xff);
    const rs = extractFrames(concat(bad, b));
    expect(rs.length).toBe(2);
    expect(rs[0]?.ok).toBe(false);
    expect(rs[0]?.ok === false && rs[0].error.kind).toBe("crc");
    expect(rs[1]?.ok && rs[1].frame.payload).toEqual(hex("0a0b0c"));
  });

  test("a frame that lost bytes is broken off by the next start sequence", () => {
    const a = encodeTransportFrame(hex("0102030405060708090a"));
    const b = encodeTransportFrame(hex("aabbcc"));
    // Drop one byte from the middle: a's end sequence is no longer at a block boundary.
    const broken = concat(a.subarray(0, 10), a.subarray(11));
    const rs = extractFrames(concat(broken, b, b));
    const kinds = rs.map((r) => (r.ok ? "frame" : r.error.kind));
    expect(kinds).toEqual(["truncated", "frame", "frame"]);
  });

  test("unknown escape command: error, then resynchronisation", () => {
    const f = hex("1b1b1b1b 01010101 11223344 1b1b1b1b 04000100 1b1b1b1b 1a000000");
    const crc = crc16X25(f, 0, f.length - 2);
    f[f.length - 2] = crc & 0xff;
    f[f.length - 1] = crc >>> 8;
    const good = encodeTransportFrame(hex("55"));
    const rs = extractFrames(concat(f, good));
    expect(rs.map((r) => (r.ok ? "frame" : r.error.kind))).toEqual(["escape", "frame"]);
  });

  test("start sequence whose frame never ends: oversized error, bounded buffer", () => {
    const x = new SmlFrameExtractor({ maxFrameBytes: 1024 });
    const start = hex("1b1b1b1b01010101");
    const rs: ExtractResult[] = [...x.push(start)];
    const filler = new Uint8Array(100).fill(0x42);
    let maxBuffered = 0;
    for (let i = 0; i < 1000; i++) {
      rs.push(...x.push(filler));
      maxBuffered = Math.max(maxBuffered, x.bufferedBytes);
    }
    expect(maxBuffered).toBeLessThanOrEqual(1024 + 100);
    expect(rs.length).toBe(1);
    expect(rs[0]?.ok === false && rs[0].error.kind).toBe("oversized");
    // It recovers: a proper frame after the junk comes out.
    rs.push(...x.push(encodeTransportFrame(hex("0102"))));
    expect(rs.at(-1)?.ok).toBe(true);
  });

  test("one huge chunk: buffer stays bounded, frames inside still come out", () => {
    const x = new SmlFrameExtractor({ maxFrameBytes: 4096 });
    const frame = encodeTransportFrame(hex("0102030405"));
    const junk = new Uint8Array(3_000_000).fill(0x1b);
    const rs = x.push(concat(hex("1b1b1b1b01010101"), junk, frame));
    expect(rs.filter((r) => r.ok).length).toBe(1);
    expect(rs.some((r) => !r.ok && r.error.kind === "oversized")).toBe(true);
    expect(x.bufferedBytes).toBeLessThan(4096 + 65536);
  });

  test("a complete frame longer than the bound is rejected", () => {
    const big = encodeTransportFrame(new Uint8Array(200).fill(7));
    const rs = extractFrames(concat(big, encodeTransportFrame(hex("01"))), { maxFrameBytes: 100 });
    expect(rs.map((r) => (r.ok ? "frame" : r.error.kind))).toEqual(["oversized", "frame"]);
  });

  test("end() inside a frame reports truncation", () => {
    const f = encodeTransportFrame(hex("0102030405"));
    const x = new SmlFrameExtractor();
    expect(x.push(f.subarray(0, 12))).toEqual([]);
    const rs = x.end();
    expect(rs.length).toBe(1);
    expect(rs[0]?.ok === false && rs[0].error.kind).toBe("truncated");
    expect(x.bufferedBytes).toBe(0);
  });

  test("stream offsets continue across frames and errors", () => {
    const a = encodeTransportFrame(hex("01"));
    const garbage = hex("00112233445566");
    const rs = extractFrames(concat(garbage, a, garbage, a));
    const offs = rs.map((r) => (r.ok ? r.frame.offset : -1));
    expect(offs).toEqual([7, 7 + a.length + 7]);
  });

  test("a start sequence split across chunks", () => {
    const f = encodeTransportFrame(hex("0102"));
    // Garbage ending in three 1B bytes plus the rest of the frame makes the frame whole.
    const x = new SmlFrameExtractor();
    const rs = [...x.push(hex("ff ff 1b 1b 1b")), ...x.push(f.subarray(3))];
    expect(rs.length).toBe(1);
    expect(rs[0]?.ok && rs[0].frame.offset).toBe(2);
    const y = new SmlFrameExtractor();
    const ys = [...y.push(concat(hex("ffff"), f.subarray(0, 5))), ...y.push(f.subarray(5))];
    expect(ys.length).toBe(1);
    expect(ys[0]?.ok && ys[0].frame.offset).toBe(2);
  });

  test("CRC check can be switched off", () => {
    const f = encodeTransportFrame(hex("0102"));
    xorByte(f, -1, 0x01);
    expect(extractFrames(f)[0]?.ok).toBe(false);
    expect(extractFrames(f, { checkCrc: false })[0]?.ok).toBe(true);
  });

  test("rejects a bound below one minimal frame", () => {
    expect(() => new SmlFrameExtractor({ maxFrameBytes: 8 })).toThrow(RangeError);
  });
});
