import { describe, expect, test } from "bun:test";
import { aesCmac } from "./cmac.ts";
import { WmbusError } from "./errors.ts";
import { hexToBytes, toHex } from "./hex.ts";
import { deriveMode7Keys } from "./security.ts";
import { loadGoldenJson } from "./test-golden.ts";

interface CmacVectors {
  algorithm: string;
  vectors: Array<{ key: string; message: string; mac: string }>;
}

describe("AES-128-CMAC", () => {
  const golden = loadGoldenJson<CmacVectors>("kdf-vectors.json");

  test("golden file is about AES-128-CMAC", () => {
    expect(golden.algorithm).toBe("AES-128-CMAC");
    expect(golden.vectors.length).toBeGreaterThan(0);
  });

  for (const vector of golden.vectors) {
    test(`golden vector, message of ${vector.message.length / 2} bytes`, () => {
      const mac = aesCmac(hexToBytes(vector.key), hexToBytes(vector.message));
      expect(toHex(mac)).toBe(vector.mac.toUpperCase());
    });
  }

  test("RFC 4493 example 4 (64-byte message, several blocks)", () => {
    const key = hexToBytes("2b7e151628aed2a6abf7158809cf4f3c");
    const message = hexToBytes(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" +
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    );
    expect(toHex(aesCmac(key, message))).toBe("51F0BEBF7E3B9D92FC49741779363CFE");
  });

  test("rejects a key that is not 16 bytes", () => {
    expect(() => aesCmac(new Uint8Array(8), new Uint8Array(0))).toThrow(WmbusError);
  });
});

describe("OMS mode 7 key derivation (KDF-A)", () => {
  const key = hexToBytes("000102030405060708090A0B0C0D0E0F");
  const counter = hexToBytes("B7640000");
  const id = hexToBytes("33443344");

  test("Kenc and Kmac are CMAC over D || C || ID || 07×7 with D = 00 / 01", () => {
    const keys = deriveMode7Keys(key, counter, id);
    // Input built by hand, byte by byte, as OMS vol. 2 lists it.
    const encInput = hexToBytes("00B76400003344334407070707070707");
    const macInput = hexToBytes("01B76400003344334407070707070707");
    expect(toHex(keys.encryptionKey)).toBe(toHex(aesCmac(key, encInput)));
    expect(toHex(keys.macKey)).toBe(toHex(aesCmac(key, macInput)));
    expect(toHex(keys.encryptionKey)).not.toBe(toHex(keys.macKey));
  });
});
