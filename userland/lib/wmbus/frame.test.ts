import { describe, expect, test } from "bun:test";
import { WmbusError, type WmbusErrorKind } from "./errors.ts";
import { unwrapFrame } from "./frame.ts";
import {
  linkHeader,
  toFormatA,
  toFormatB,
  wiredLongFrame,
  wirelessFrame,
} from "./frame-builder.ts";
import { hexToBytes, toHex } from "./hex.ts";

const header = linkHeader({ manufacturer: "ABC", id: "12345678" });
const payload = hexToBytes(`78${"0413393000000259A109".repeat(5)}`);
const plain = wirelessFrame(header, payload);

function expectError(fn: () => unknown, kind: WmbusErrorKind): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WmbusError);
    expect((error as WmbusError).kind).toBe(kind);
    return;
  }
  throw new Error("expected a WmbusError");
}

describe("data link framing", () => {
  test("CRC-free frame: length is L+1", () => {
    const frame = unwrapFrame(plain);
    expect(frame.format).toBe("wmbus-no-crc");
    expect(toHex(frame.body)).toBe(toHex(plain.subarray(1)));
  });

  test("format A: block CRCs are checked and removed", () => {
    const frame = unwrapFrame(toFormatA(plain));
    expect(frame.format).toBe("wmbus-a");
    expect(frame.lField).toBe(plain[0] as number);
    expect(toHex(frame.body)).toBe(toHex(plain.subarray(1)));
  });

  test("format A: a flipped bit gives a CRC error naming the block", () => {
    const raw = toFormatA(plain);
    raw[20] = (raw[20] as number) ^ 0x01;
    expect(() => unwrapFrame(raw)).toThrow(/format A block 2 CRC mismatch/);
  });

  test("format B, one block and two blocks", () => {
    const small = unwrapFrame(toFormatB(plain));
    expect(small.format).toBe("wmbus-b");
    expect(toHex(small.body)).toBe(toHex(plain.subarray(1)));
    const bigPayload = hexToBytes(`78${"0413393000000259A109".repeat(14)}`);
    const big = wirelessFrame(header, bigPayload);
    const unwrapped = unwrapFrame(toFormatB(big));
    expect(unwrapped.format).toBe("wmbus-b");
    expect(toHex(unwrapped.body)).toBe(toHex(big.subarray(1)));
  });

  test("a format B frame with a bad CRC is taken as CRC-free (the CRC bytes stay)", () => {
    const raw = toFormatB(plain);
    raw[5] = (raw[5] as number) ^ 0x80;
    expect(unwrapFrame(raw).format).toBe("wmbus-no-crc");
  });

  test("wired long frame: checksum checked, framing removed", () => {
    const raw = wiredLongFrame(0x08, 0x01, hexToBytes("78 0413 39300000"));
    const frame = unwrapFrame(raw);
    expect(frame.format).toBe("mbus-long");
    expect(toHex(frame.body)).toBe("080178041339300000");
    raw[7] = (raw[7] as number) ^ 1;
    expectError(() => unwrapFrame(raw), "crc");
  });

  test("length that fits neither rule", () => {
    expectError(() => unwrapFrame(Uint8Array.of(...plain, 0x00)), "frame");
    expectError(() => unwrapFrame(plain.subarray(0, plain.length - 1)), "frame");
  });

  test("too short, L too small, wired short frame and E5", () => {
    expectError(() => unwrapFrame(new Uint8Array(0)), "frame");
    expectError(() => unwrapFrame(hexToBytes("0544FFFF0000000000000000")), "frame");
    expectError(() => unwrapFrame(hexToBytes("10 7B 01 7C 16")), "unsupported");
    expectError(() => unwrapFrame(hexToBytes("E5")), "unsupported");
  });
});
