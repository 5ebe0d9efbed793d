import { describe, expect, test } from "bun:test";
import { createCipheriv } from "node:crypto";
import { crc16En13757 } from "./crc.ts";
import { decodeTelegram } from "./decode.ts";
import { WmbusError } from "./errors.ts";
import {
  ellCtrPayload,
  linkHeader,
  mode5Payload,
  mode7Payload,
  wirelessFrame,
} from "./frame-builder.ts";
import { hexToBytes } from "./hex.ts";

const key = hexToBytes("000102030405060708090A0B0C0D0E0F");
const wrongKey = hexToBytes("0F0E0D0C0B0A09080706050403020100");
const header = linkHeader({ manufacturer: "KAM", id: "87654321", deviceType: 4 });
const records = hexToBytes("04 06 D2040000  04 13 39300000  02 59 A109  02 FD17 0000");

function caught(fn: () => unknown): WmbusError {
  try {
    fn();
  } catch (error) {
    if (error instanceof WmbusError) return error;
    throw error;
  }
  throw new Error("expected a WmbusError");
}

function values(raw: Uint8Array, k?: Uint8Array): unknown[] {
  return decodeTelegram(raw, k ? { key: k } : {}).records.map((r) => r.value);
}

const expectedValues = [1234, 12.345, 24.65, 0];

describe("security mode 5 (AES-128-CBC, IV from M, A, access number)", () => {
  const raw = wirelessFrame(header, mode5Payload(key, header, 0x42, records));

  test("decrypts with the key", () => {
    const telegram = decodeTelegram(raw, { key });
    expect(telegram.transport.securityMode).toBe(5);
    expect(telegram.transport.payload).toBe("decrypted");
    expect(telegram.records.map((r) => r.value)).toEqual(expectedValues);
  });

  test("without a key: refused, headers still returned", () => {
    const error = caught(() => decodeTelegram(raw));
    expect(error.kind).toBe("no-key");
    expect(error.message).toContain("encrypted, no key");
    expect(error.headers?.link?.manufacturer).toBe("KAM");
    expect(error.headers?.link?.id).toBe("87654321");
    expect(error.headers?.transport?.accessNumber).toBe(0x42);
    expect(error.headers?.transport?.securityMode).toBe(5);
  });

  test("wrong key: the 2F2F check fails", () => {
    expect(caught(() => decodeTelegram(raw, { key: wrongKey })).kind).toBe("decryption");
  });

  test("a key that is not 16 bytes is refused", () => {
    expect(caught(() => decodeTelegram(raw, { key: new Uint8Array(8) })).kind).toBe("key");
  });

  test("more encrypted blocks announced than present", () => {
    const cut = wirelessFrame(header, mode5Payload(key, header, 0x42, records).subarray(0, 20));
    expect(caught(() => decodeTelegram(cut, { key })).kind).toBe("truncated");
  });
});

describe("security mode 7 (KDF-A, AES-128-CBC IV 0, AFL CMAC)", () => {
  const raw = wirelessFrame(header, mode7Payload(key, header, 0x42, 0x64b7, records));

  test("decrypts and verifies the AFL MAC", () => {
    const telegram = decodeTelegram(raw, { key });
    expect(telegram.afl?.messageCounter).toBe(0x64b7);
    expect(telegram.afl?.authenticationType).toBe(5);
    expect(telegram.afl?.macVerified).toBe(true);
    expect(telegram.transport.configurationExtension).toBe(0x10);
    expect(telegram.records.map((r) => r.value)).toEqual(expectedValues);
  });

  test("an altered ciphertext byte fails the MAC", () => {
    const altered = Uint8Array.from(raw);
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 0x01;
    expect(caught(() => decodeTelegram(altered, { key })).kind).toBe("authentication");
  });

  test("wrong key fails the MAC, no key refuses with the AFL header", () => {
    expect(caught(() => decodeTelegram(raw, { key: wrongKey })).kind).toBe("authentication");
    const error = caught(() => decodeTelegram(raw));
    expect(error.kind).toBe("no-key");
    expect(error.headers?.afl?.messageCounter).toBe(0x64b7);
  });

  test("KDF selection other than 1 is unsupported", () => {
    const other = Uint8Array.from(raw);
    // CFE sits after the AFL (17 bytes) and CI, ACC, STS, CFG (5 bytes).
    const cfeAt = 1 + header.length + 17 + 5;
    expect(other[cfeAt]).toBe(0x10);
    other[cfeAt] = 0x20;
    expect(caught(() => decodeTelegram(other, { key })).kind).toBe("unsupported");
  });
});

describe("ELL AES-128-CTR (CI 0x8D)", () => {
  const inner = Uint8Array.of(0x78, ...records);
  const raw = wirelessFrame(header, ellCtrPayload(key, header, 0x20, 0x42, 0x0abcd, inner));

  test("decrypts, payload CRC checked", () => {
    const telegram = decodeTelegram(raw, { key });
    expect(telegram.ell?.encryption).toBe("aes-128-ctr");
    expect(telegram.ell?.payload).toBe("decrypted");
    expect(telegram.records.map((r) => r.value)).toEqual(expectedValues);
  });

  test("counter block built by hand gives the same plaintext", () => {
    // Independent of frame-builder: M, A, CC without H/R bits, SN, FN 0, BC 0.
    const cc = 0x20 | 0x10 | 0x02; // hop and repeated-access bits must not matter
    const sn = Uint8Array.of(0xcd, 0xab, 0x00, 0x20);
    const crc = crc16En13757(inner);
    const clear = Uint8Array.of(crc & 0xff, crc >> 8, ...inner);
    const counterBlock = Uint8Array.of(...header.subarray(1, 9), 0x20, ...sn, 0, 0, 0);
    const cipher = createCipheriv("aes-128-ctr", key, counterBlock);
    const encrypted = Uint8Array.from(Buffer.concat([cipher.update(clear), cipher.final()]));
    const frame = wirelessFrame(header, Uint8Array.of(0x8d, cc, 0x42, ...sn, ...encrypted));
    expect(values(frame, key)).toEqual(expectedValues);
  });

  test("without a key: refused with the ELL header; wrong key: CRC check fails", () => {
    const error = caught(() => decodeTelegram(raw));
    expect(error.kind).toBe("no-key");
    expect(error.headers?.ell?.sessionNumber).toBe(0x20000000 + 0x0abcd);
    expect(caught(() => decodeTelegram(raw, { key: wrongKey })).kind).toBe("decryption");
  });

  test("a clear payload behind an encryption flag is detected by its CRC", () => {
    const crc = crc16En13757(inner);
    const frame = wirelessFrame(
      header,
      Uint8Array.of(0x8d, 0x20, 0x42, 0x01, 0, 0, 0x20, crc & 0xff, crc >> 8, ...inner),
    );
    const telegram = decodeTelegram(frame);
    expect(telegram.ell?.payload).toBe("already-decrypted");
    expect(telegram.warnings.join()).toContain("already in clear");
  });
});
