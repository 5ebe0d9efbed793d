import { describe, expect, test } from "bun:test";
import { FormatCache } from "./compact.ts";
import { decodeTelegram, decodeTelegramHex } from "./decode.ts";
import { WmbusError, type WmbusErrorKind } from "./errors.ts";
import { linkHeader, wiredLongFrame, wirelessFrame } from "./frame-builder.ts";
import { hexToBytes, toHex } from "./hex.ts";

const header = linkHeader({
  c: 0x44,
  manufacturer: "ABC",
  id: "12345678",
  version: 2,
  deviceType: 7,
});
const records = hexToBytes("04 13 39300000");

function frame(payloadHex: string): Uint8Array {
  return wirelessFrame(header, hexToBytes(payloadHex));
}

function kindOf(fn: () => unknown): WmbusErrorKind {
  try {
    fn();
  } catch (error) {
    if (error instanceof WmbusError) return error.kind;
    throw error;
  }
  throw new Error("expected a WmbusError");
}

describe("link and transport headers", () => {
  test("link layer fields", () => {
    const { link } = decodeTelegram(frame(`78${toHex(records)}`));
    expect(link).toMatchObject({
      frameFormat: "wmbus-no-crc",
      c: 0x44,
      cName: "SND-NR",
      manufacturer: "ABC",
      id: "12345678",
      version: 2,
      deviceType: 7,
      deviceTypeName: "water",
    });
  });

  test("short header: access number, status flags, configuration", () => {
    const { transport } = decodeTelegram(frame(`7A 2A 1C 0000 ${toHex(records)}`));
    expect(transport).toMatchObject({
      ci: 0x7a,
      accessNumber: 0x2a,
      status: 0x1c,
      securityMode: 0,
    });
    expect(transport.statusFlags).toEqual(["power low", "permanent error", "temporary error"]);
  });

  test("long header carries the meter identity", () => {
    const { transport } = decodeTelegram(
      frame(`72 66567464 A511 70 07 1F 00 0000 ${toHex(records)}`),
    );
    expect(transport).toMatchObject({
      manufacturer: "DME",
      id: "64745666",
      version: 0x70,
      deviceType: 7,
    });
  });

  test("wired long frame takes its identity from the long header", () => {
    const raw = wiredLongFrame(
      0x08,
      0x05,
      hexToBytes(`72 78563412 2D2C 01 04 09 00 0000 ${toHex(records)}`),
    );
    const { link, records: decoded } = decodeTelegram(raw);
    expect(link).toMatchObject({
      frameFormat: "mbus-long",
      primaryAddress: 5,
      manufacturer: "KAM",
      id: "12345678",
    });
    expect(decoded[0]?.value).toBe(12.345);
  });

  test("manufacturer CI: headers only, payload kept", () => {
    const telegram = decodeTelegram(frame("A2 0102030405"));
    expect(telegram.records).toEqual([]);
    expect(telegram.manufacturerData).toBe("0102030405");
    expect(telegram.transport.ciName).toBe("manufacturer specific");
  });

  test("alarm, application error and header-only CIs", () => {
    expect(decodeTelegram(frame("71 05")).transport.alarm).toBe("05");
    expect(decodeTelegram(frame("70 02")).transport.applicationError).toBe("02");
    expect(decodeTelegram(frame("8A 01 00 0000")).records).toEqual([]);
  });

  test("unsupported CIs and features are named", () => {
    expect(kindOf(() => decodeTelegram(frame("51 00")))).toBe("unsupported");
    expect(kindOf(() => decodeTelegram(frame("69 0000")))).toBe("unsupported");
    const wiredCompact = wiredLongFrame(0x08, 1, hexToBytes("79 0000 0000"));
    expect(kindOf(() => decodeTelegram(wiredCompact))).toBe("unsupported");
    // AFL with more fragments following.
    expect(kindOf(() => decodeTelegram(frame(`90 02 0140 78 ${toHex(records)}`)))).toBe(
      "unsupported",
    );
  });

  test("truncated headers are named with their field", () => {
    expect(() => decodeTelegram(frame("7A 01 00"))).toThrow(/TPL configuration field needs 2 byte/);
    expect(() => decodeTelegram(frame("8D 20 01 000000"))).toThrow(/ELL session number/);
  });

  test("compact frame without its full frame", () => {
    expect(
      kindOf(() => decodeTelegram(frame("79 1234 5678 00"), { formatCache: new FormatCache() })),
    ).toBe("compact-frame");
  });
});

describe("hex input", () => {
  test("separators are ignored, an odd last digit is dropped with a warning", () => {
    const hex = toHex(frame(`78${toHex(records)}`));
    expect(
      decodeTelegramHex(`${hex.slice(0, 2)} ${hex.slice(2, 20)}_${hex.slice(20)}`).records,
    ).toHaveLength(1);
    const odd = decodeTelegramHex(`${hex}7`);
    expect(odd.warnings).toContain("odd number of hex digits: last half byte ignored");
  });

  test("non-hex text", () => {
    expect(kindOf(() => decodeTelegramHex("44zz"))).toBe("hex");
  });
});
