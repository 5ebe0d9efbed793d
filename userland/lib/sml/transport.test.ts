import { describe, expect, test } from "bun:test";
import { crc16X25 } from "./crc16.ts";
import { SmlError } from "./errors.ts";
import {
  ENCODED_FRAME,
  hex,
  SAMPLE_FRAMES,
  STALE_CRC_FRAME,
  TOLERANT_FRAME,
  TOLERANT_PAYLOAD,
  toHex,
  WRITTEN_FRAME,
  xorByte,
} from "./test-support.ts";
import { decodeTransportFrame, encodeTransportFrame } from "./transport.ts";

function expectSmlError(f: () => unknown, kind: SmlError["kind"], offset?: number): SmlError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SmlError);
    const err = e as SmlError;
    expect(err.kind).toBe(kind);
    if (offset !== undefined) expect(err.offset).toBe(offset);
    return err;
  }
  throw new Error(`expected SmlError ${kind}`);
}

/** Recomputes the CRC of a frame after a test changed it. */
function fixCrc(f: Uint8Array): Uint8Array {
  const crc = crc16X25(f, 0, f.length - 2);
  f[f.length - 2] = crc & 0xff;
  f[f.length - 1] = crc >>> 8;
  return f;
}

describe("encodeTransportFrame", () => {
  test("fill bytes make a multiple of 4 and are counted in the end sequence", () => {
    for (let n = 0; n < 9; n++) {
      const payload = new Uint8Array(n).fill(0x42);
      const f = encodeTransportFrame(payload);
      expect(f.length % 4).toBe(0);
      const fill = (4 - (n % 4)) % 4;
      expect(f[f.length - 3]).toBe(fill);
      expect(toHex(f.subarray(0, 8))).toBe("1b1b1b1b01010101");
      expect(toHex(f.subarray(f.length - 8, f.length - 3))).toBe("1b1b1b1b1a");
      const d = decodeTransportFrame(f);
      expect(d.payload).toEqual(payload);
      expect(d.fillBytes).toBe(fill);
    }
  });

  test("hand-built frame: payload 12 34 56, one fill byte", () => {
    const f = encodeTransportFrame(hex("123456"));
    const head = hex("1b1b1b1b 01010101 123456 00 1b1b1b1b 1a01");
    const crc = crc16X25(head);
    expect(f).toEqual(
      hex(
        `${toHex(head)} ${(crc & 0xff).toString(16).padStart(2, "0")}${(crc >>> 8).toString(16).padStart(2, "0")}`,
      ),
    );
  });

  test("an aligned 1B1B1B1B block in the payload is doubled", () => {
    const payload = hex("11223344 1b1b1b1b 5566");
    const f = encodeTransportFrame(payload);
    expect(toHex(f.subarray(8, 8 + 16))).toBe("112233441b1b1b1b1b1b1b1b55660000");
    expect(decodeTransportFrame(f).payload).toEqual(payload);
  });

  test("a payload ending in an aligned 1B1B1B1B block", () => {
    const payload = hex("1b1b1b1b 1b1b1b1b");
    const f = encodeTransportFrame(payload);
    expect(f.length).toBe(8 + 16 + 8);
    expect(decodeTransportFrame(f).payload).toEqual(payload);
  });

  test("an unaligned 1B1B1B1B run is not escaped (the receiver only looks at blocks)", () => {
    const payload = hex("12 1b1b1b1b 343456");
    const f = encodeTransportFrame(payload);
    expect(f.length).toBe(8 + 8 + 8);
    expect(decodeTransportFrame(f).payload).toEqual(payload);
  });
});

describe("decodeTransportFrame", () => {
  test("SML files with 0, 3 and 1 fill bytes", () => {
    const written = decodeTransportFrame(WRITTEN_FRAME);
    expect(written.fillBytes).toBe(0);
    expect(written.payload.length).toBe(WRITTEN_FRAME.length - 16);
    expect(written.crc).toBe(0xeb1f);
    const tolerant = decodeTransportFrame(TOLERANT_FRAME);
    expect(tolerant.fillBytes).toBe(3);
    expect(tolerant.payload).toEqual(TOLERANT_PAYLOAD);
    expect(tolerant.payload.length).toBe(TOLERANT_FRAME.length - 16 - 3);
    for (const f of [...SAMPLE_FRAMES, STALE_CRC_FRAME]) {
      const d = decodeTransportFrame(f);
      expect(toHex(f.subarray(-2))).toBe(toHex(Uint8Array.of(d.crc & 0xff, d.crc >>> 8)));
    }
    expect(decodeTransportFrame(ENCODED_FRAME).fillBytes).toBe(1);
  });

  test("wrong CRC", () => {
    const f = encodeTransportFrame(hex("01020304"));
    xorByte(f, -1, 0x01);
    expectSmlError(() => decodeTransportFrame(f), "crc", f.length - 2);
    expect(decodeTransportFrame(f, { checkCrc: false }).payload).toEqual(hex("01020304"));
  });

  test("CRC in big-endian order is rejected", () => {
    const f = encodeTransportFrame(hex("0102030405"));
    const n = f.length;
    [f[n - 2], f[n - 1]] = [f[n - 1] as number, f[n - 2] as number];
    expectSmlError(() => decodeTransportFrame(f), "crc");
  });

  test("not starting with the start sequence", () => {
    expectSmlError(
      () => decodeTransportFrame(hex("00 1b1b1b1b 01010101 1b1b1b1b 1a000000")),
      "escape",
      0,
    );
    expectSmlError(
      () => decodeTransportFrame(hex("1b1b1b1b 02020202 00000000 1b1b1b1b 1a000000")),
      "escape",
      0,
    );
  });

  test("truncated frames", () => {
    const f = encodeTransportFrame(hex("0102030405060708"));
    for (let n = 0; n < f.length; n++) {
      const err = expectSmlError(() => decodeTransportFrame(f.subarray(0, n)), "truncated");
      expect(err.offset).toBeGreaterThanOrEqual(0);
    }
  });

  test("bytes after the end sequence", () => {
    const f = encodeTransportFrame(hex("01020304"));
    const g = new Uint8Array(f.length + 4);
    g.set(f);
    expectSmlError(() => decodeTransportFrame(g), "trailing", f.length);
  });

  test("unknown escape command inside the payload", () => {
    const f = fixCrc(hex("1b1b1b1b 01010101 1b1b1b1b 03000010 1b1b1b1b 1a000000"));
    expectSmlError(() => decodeTransportFrame(f), "escape", 8);
  });

  test("a start sequence inside the frame", () => {
    const f = fixCrc(hex("1b1b1b1b 01010101 11223344 1b1b1b1b 01010101 1b1b1b1b 1a000000"));
    expectSmlError(() => decodeTransportFrame(f), "escape", 12);
  });

  test("fill byte count above 3", () => {
    const f = fixCrc(hex("1b1b1b1b 01010101 11000000 1b1b1b1b 1a040000"));
    expectSmlError(() => decodeTransportFrame(f), "padding");
  });

  test("fill byte count larger than the payload", () => {
    const f = fixCrc(hex("1b1b1b1b 01010101 1b1b1b1b 1a030000"));
    expectSmlError(() => decodeTransportFrame(f), "padding");
  });

  test("fill bytes that are not 00", () => {
    const f = fixCrc(hex("1b1b1b1b 01010101 11223344 1b1b1b1b 1a020000"));
    expectSmlError(() => decodeTransportFrame(f), "padding");
  });

  test("empty payload", () => {
    const f = encodeTransportFrame(new Uint8Array(0));
    expect(f.length).toBe(16);
    expect(decodeTransportFrame(f).payload.length).toBe(0);
  });

  test("round trip of random payloads with many 1B bytes", () => {
    let seed = 1;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let k = 0; k < 500; k++) {
      const n = next() % 64;
      const p = new Uint8Array(n);
      for (let i = 0; i < n; i++) p[i] = next() % 3 === 0 ? 0x42 : 0x1b;
      expect(decodeTransportFrame(encodeTransportFrame(p)).payload).toEqual(p);
    }
  });
});
