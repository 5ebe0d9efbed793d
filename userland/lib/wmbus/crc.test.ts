import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { crc16En13757 } from "./crc.ts";
import { hexToBytes } from "./hex.ts";
import { loadGoldenJson } from "./test-golden.ts";

interface CrcVectors {
  parameters: { poly: string; init: string; xorout: string };
  vectors: Array<{ data: string; crc: string }>;
}

/** Bit-by-bit reference, independent of the table in crc.ts. */
function bitwiseCrc(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const top = ((crc >> 15) ^ (byte >> bit)) & 1;
      crc = (crc << 1) & 0xffff;
      if (top) crc ^= 0x3d65;
    }
  }
  return crc ^ 0xffff;
}

describe("CRC-16/EN-13757", () => {
  const golden = loadGoldenJson<CrcVectors>("crc16-en13757-vectors.json");

  test("golden parameters are the ones implemented", () => {
    expect(golden.parameters).toMatchObject({ poly: "0x3D65", init: "0x0000", xorout: "0xFFFF" });
  });

  for (const vector of golden.vectors) {
    test(`golden vector ${vector.data}`, () => {
      expect(crc16En13757(hexToBytes(vector.data))).toBe(Number.parseInt(vector.crc, 16));
    });
  }

  test("table-driven equals bitwise for any input", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        (data) => crc16En13757(data) === bitwiseCrc(data),
      ),
    );
  });

  test("start/end select a slice", () => {
    const data = hexToBytes("AA313233343536373839BB");
    expect(crc16En13757(data, 1, 10)).toBe(0xc2b7);
  });
});
