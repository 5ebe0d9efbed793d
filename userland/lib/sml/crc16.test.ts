import { describe, expect, test } from "bun:test";
import { crc16X25, messageCrcField, swap16 } from "./crc16.ts";
import { SAMPLE_FRAMES, STALE_CRC_FRAME, WRITTEN_FRAME } from "./test-support.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

describe("crc16X25", () => {
  test("catalogue check value of CRC-16/X-25", () => {
    expect(crc16X25(ascii("123456789"))).toBe(0x906e);
  });

  test("empty input gives init xor xorout", () => {
    expect(crc16X25(new Uint8Array(0))).toBe(0x0000);
  });

  test("range arguments", () => {
    const b = ascii("xx123456789yy");
    expect(crc16X25(b, 2, 11)).toBe(0x906e);
  });

  test("bitwise reference agrees on random data", () => {
    const bitwise = (b: Uint8Array) => {
      let c = 0xffff;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x8408 : c >>> 1;
      }
      return c ^ 0xffff;
    };
    const b = new Uint8Array(1000);
    for (let i = 0; i < b.length; i++) b[i] = (i * 7919 + 13) & 0xff;
    for (const n of [1, 2, 3, 17, 255, 1000]) {
      expect(crc16X25(b, 0, n)).toBe(bitwise(b.subarray(0, n)));
    }
  });

  test("frames carry the CRC low byte first", () => {
    for (const f of [...SAMPLE_FRAMES, STALE_CRC_FRAME]) {
      const n = f.length;
      const crc = crc16X25(f, 0, n - 2);
      expect(f[n - 2]).toBe(crc & 0xff);
      expect(f[n - 1]).toBe(crc >>> 8);
    }
    // The written frame's CRC was computed apart from this code: EB1F, sent as 1F EB.
    expect(crc16X25(WRITTEN_FRAME, 0, WRITTEN_FRAME.length - 2)).toBe(0xeb1f);
    expect([...WRITTEN_FRAME.subarray(-2)]).toEqual([0x1f, 0xeb]);
  });

  test("message crc16 field is the byte-swapped CRC", () => {
    // First message of the written frame: bytes 8..54, ending 63 0A 38 00; CRC over 8..50.
    const f = WRITTEN_FRAME;
    expect(f[51]).toBe(0x63);
    expect(f[54]).toBe(0x00);
    const field = ((f[52] as number) << 8) | (f[53] as number);
    expect(field).toBe(0x0a38);
    expect(crc16X25(f, 8, 51)).toBe(0x380a);
    expect(messageCrcField(crc16X25(f, 8, 51))).toBe(field);
    expect(swap16(0x1234)).toBe(0x3412);
  });
});
