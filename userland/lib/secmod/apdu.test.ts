import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  ApduError,
  type CommandApdu,
  decodeCommand,
  decodeResponse,
  describeSw,
  encodeCommand,
  encodeResponse,
} from "./apdu.ts";

const byte = fc.integer({ min: 0, max: 255 });
const command = fc.record(
  {
    cla: byte,
    ins: byte,
    p1: byte,
    p2: byte,
    data: fc.uint8Array({ minLength: 1, maxLength: 700 }),
    le: fc.integer({ min: 1, max: 65536 }),
  },
  { requiredKeys: ["cla", "ins", "p1", "p2"] },
);

describe("command APDUs", () => {
  test("every case encodes and decodes to the same command", () => {
    fc.assert(
      fc.property(command, (c: CommandApdu) => {
        const d = decodeCommand(encodeCommand(c));
        expect(d.cla).toBe(c.cla);
        expect(d.ins).toBe(c.ins);
        expect(d.p1).toBe(c.p1);
        expect(d.p2).toBe(c.p2);
        expect(d.data ?? new Uint8Array(0)).toEqual(c.data ?? new Uint8Array(0));
        expect(d.le).toBe(c.le);
      }),
    );
  });

  test("short form when it fits, extended when data or Le need it", () => {
    expect(encodeCommand({ cla: 0, ins: 0x84, p1: 0, p2: 0, le: 256 })).toEqual(
      Uint8Array.of(0, 0x84, 0, 0, 0),
    );
    expect(encodeCommand({ cla: 0, ins: 0x84, p1: 0, p2: 0, le: 257 })).toEqual(
      Uint8Array.of(0, 0x84, 0, 0, 0, 0x01, 0x01),
    );
    const big = encodeCommand({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: new Uint8Array(300) });
    expect([...big.subarray(4, 7)]).toEqual([0, 0x01, 0x2c]);
    expect(decodeCommand(big).extended).toBe(true);
    expect(
      encodeCommand({ cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: Uint8Array.of(0xf0, 1) }),
    ).toEqual(Uint8Array.of(0, 0xa4, 4, 0x0c, 2, 0xf0, 1));
  });

  test("out-of-range fields are refused", () => {
    expect(() => encodeCommand({ cla: 256, ins: 0, p1: 0, p2: 0 })).toThrow(ApduError);
    expect(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, le: 0 })).toThrow(ApduError);
    expect(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, le: 65537 })).toThrow(ApduError);
    expect(() =>
      encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, data: new Uint8Array(65536) }),
    ).toThrow(ApduError);
  });

  test("malformed, truncated and random bytes give an ApduError or a command, nothing else", () => {
    expect(() => decodeCommand(Uint8Array.of(0, 0xa4))).toThrow(/shorter than a header/);
    expect(() => decodeCommand(Uint8Array.of(0, 0xa4, 4, 0, 5, 1, 2))).toThrow(/short Lc 5/);
    expect(() => decodeCommand(Uint8Array.of(0, 0xa4, 4, 0, 0, 1))).toThrow(/truncated/);
    expect(() => decodeCommand(Uint8Array.of(0, 0xa4, 4, 0, 0, 0, 0, 1))).toThrow(/Lc of zero/);
    expect(() => decodeCommand(Uint8Array.of(0, 0xd6, 0, 0, 0, 0, 3, 1, 2))).toThrow(
      /extended Lc 3/,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        try {
          const c = decodeCommand(b);
          expect(encodeCommand(c).length).toBeLessThanOrEqual(b.length);
        } catch (e) {
          expect(e).toBeInstanceOf(ApduError);
        }
      }),
    );
  });
});

describe("response APDUs", () => {
  test("round trip and status words", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 0xffff }),
        (d, sw) => {
          expect(decodeResponse(encodeResponse(d, sw))).toEqual({ data: d, sw });
        },
      ),
    );
    expect(() => decodeResponse(Uint8Array.of(0x90))).toThrow(ApduError);
    expect(() => decodeResponse(new Uint8Array(0))).toThrow(/no status word/);
    expect(() => encodeResponse(new Uint8Array(0), 0x10000)).toThrow(ApduError);
  });

  test("status words are described", () => {
    expect(describeSw(0x9000)).toBe("9000 success");
    expect(describeSw(0x63c2)).toBe("63C2 verification failed, 2 tries left");
    expect(describeSw(0x6a88)).toContain("referenced data not found");
    expect(describeSw(0x1234)).toContain("unknown status");
  });
});
