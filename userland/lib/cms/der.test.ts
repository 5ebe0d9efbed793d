/**
 * The DER reader and writer, times and ECDSA signature encodings on fixed vectors.
 */
import { describe, expect, test } from "bun:test";
import {
  DerReader,
  integerBytes,
  MAX_DEPTH,
  oid,
  oidText,
  readTop,
  sequence,
  setOf,
  TAG,
  tlv,
  toHex,
  unsignedInteger,
} from "./der.ts";
import { decodeEcdsaDer, rawToDer, signatureCandidates } from "./ecdsa.ts";
import { CmsError } from "./errors.ts";
import { decodeTime, encodeTime } from "./time.ts";

const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));

function errorOf(run: () => unknown): CmsError {
  try {
    run();
  } catch (error) {
    if (error instanceof CmsError) return error;
    throw error;
  }
  throw new Error("expected a CmsError");
}

describe("reader", () => {
  test("short and long definite lengths", () => {
    expect(readTop(hex("0403 010203"), TAG.OCTET_STRING, "t").value).toEqual(hex("010203"));
    const long = new Uint8Array(200).fill(7);
    expect(readTop(tlv(TAG.OCTET_STRING, long), TAG.OCTET_STRING, "t").value).toEqual(long);
    expect(toHex(tlv(TAG.OCTET_STRING, long).subarray(0, 3))).toBe("0481c8");
    expect(toHex(tlv(TAG.OCTET_STRING, new Uint8Array(300)).subarray(0, 4))).toBe("0482012c");
  });

  test.each([
    ["indefinite length", "3080 0000", "malformed", /indefinite length/],
    ["non-minimal long form", "0481 05 0102030405", "malformed", /shortest form/],
    ["leading zero length octet", `0482 0081${"00".repeat(129)}`, "malformed", /shortest form/],
    ["five length octets", "0485 0000000001 00", "too-large", /5 octets/],
    ["length octets cut off", "0482 01", "malformed", /cut off/],
    ["length beyond the data", "0405 0102", "malformed", /claims 5 bytes, only 2 left/],
    ["64 MiB claimed", "3084 04000000 0000", "malformed", /claims 67108864 bytes/],
    ["high tag number", "1f22 00", "unsupported", /high tag/],
    ["nothing", "", "malformed", /end of data/],
    ["trailing bytes", "0400 00", "malformed", /1 unexpected bytes/],
  ])("refuses %s", (_name, input, kind, message) => {
    const error = errorOf(() => readTop(hex(input), input.startsWith("30") ? 0x30 : 0x04, "t"));
    expect(error.kind as string).toBe(kind);
    expect(error.message).toMatch(message);
    expect(error.path).toMatch(/^t/);
  });

  test("errors name the path and the absolute offset", () => {
    const der = sequence(sequence(tlv(TAG.INTEGER, Uint8Array.of(1)), tlv(TAG.NULL)));
    const top = new DerReader(der, "Top");
    const inner = top.enterNext(TAG.SEQUENCE, "outer").enterNext(TAG.SEQUENCE, "inner");
    inner.expect(TAG.INTEGER, "version");
    const error = errorOf(() => inner.expect(TAG.OID, "algorithm"));
    expect(error.message).toBe(
      "expected OBJECT IDENTIFIER, found NULL (at Top.outer.inner.algorithm, byte 7)",
    );
  });

  test("nesting deeper than MAX_DEPTH is refused", () => {
    let der: Uint8Array = tlv(TAG.NULL);
    for (let i = 0; i <= MAX_DEPTH + 1; i++) der = sequence(der);
    let reader = new DerReader(der, "t");
    const descend = () => {
      for (;;) reader = reader.enterNext(TAG.SEQUENCE, "s");
    };
    expect(errorOf(descend).kind).toBe("too-large");
  });

  test("a primitive element cannot be entered", () => {
    const reader = new DerReader(hex("0400"), "t");
    expect(errorOf(() => reader.enterNext(TAG.OCTET_STRING, "o")).message).toMatch(
      /not constructed/,
    );
  });

  test("INTEGER must be minimal", () => {
    const read = (h: string) => integerBytes(readTop(hex(h), TAG.INTEGER, "t"), "t");
    expect(read("0201 00")).toEqual(hex("00"));
    expect(read("0202 0080")).toEqual(hex("0080"));
    expect(errorOf(() => read("0202 007f")).message).toMatch(/shortest form/);
    expect(errorOf(() => read("0202 ff80")).message).toMatch(/shortest form/);
    expect(errorOf(() => read("0200")).message).toMatch(/no contents/);
  });

  test("OBJECT IDENTIFIER round trip and strictness", () => {
    for (const dotted of ["1.2.840.113549.1.7.2", "1.3.36.3.3.2.8.1.1.7", "2.999.3", "0.9.1"]) {
      expect(oidText(readTop(oid(dotted), TAG.OID, "t"), "t")).toBe(dotted);
    }
    const read = (h: string) => oidText(readTop(hex(h), TAG.OID, "t"), "t");
    expect(errorOf(() => read("0600")).message).toMatch(/empty/);
    expect(errorOf(() => read("0602 2a86")).message).toMatch(/ends inside/);
    expect(errorOf(() => read("0603 2a8001")).message).toMatch(/leading 0x80/);
  });
});

describe("writer", () => {
  test("SET OF is sorted by encoding", () => {
    const a = tlv(TAG.INTEGER, Uint8Array.of(2));
    const b = tlv(TAG.INTEGER, Uint8Array.of(1));
    const c = tlv(TAG.OCTET_STRING);
    expect(toHex(setOf([a, c, b]))).toBe("3108020101020102 0400".replace(" ", ""));
  });

  test("unsigned INTEGERs drop leading zeros and gain a sign octet", () => {
    expect(toHex(unsignedInteger(hex("0000ff")))).toBe("020200ff");
    expect(toHex(unsignedInteger(hex("007f")))).toBe("02017f");
    expect(toHex(unsignedInteger(hex("0000")))).toBe("020100");
  });
});

describe("signingTime", () => {
  test.each([
    ["2030-01-02T03:04:05.678Z", "170d3330303130323033303430355a"],
    ["1950-01-01T00:00:00Z", "170d3530303130313030303030305a"],
    ["2049-12-31T23:59:59Z", "170d3439313233313233353935395a"],
    ["2050-01-01T00:00:00Z", "180f32303530303130313030303030305a"],
    ["1949-12-31T23:59:59Z", "180f31393439313233313233353935395a"],
  ])("%s", (iso, expected) => {
    const der = encodeTime(new Date(iso));
    expect(toHex(der)).toBe(expected);
    const back = decodeTime(readTop(der, der[0] ?? 0, "t"), "t");
    expect(back.toISOString()).toBe(new Date(iso).toISOString().replace(/\.\d+Z$/, ".000Z"));
  });

  test("DER GeneralizedTime with a fraction", () => {
    const der = tlv(TAG.GENERALIZED_TIME, Buffer.from("20500101000000.25Z"));
    expect(decodeTime(readTop(der, TAG.GENERALIZED_TIME, "t"), "t").toISOString()).toBe(
      "2050-01-01T00:00:00.250Z",
    );
  });

  test.each([
    ["UTCTime without seconds", TAG.UTC_TIME, "3001020304Z"],
    ["UTCTime with an offset", TAG.UTC_TIME, "300102030405+0100"],
    ["31 February", TAG.UTC_TIME, "300231000000Z"],
    ["month 13", TAG.UTC_TIME, "301301000000Z"],
    ["hour 24", TAG.UTC_TIME, "300101240000Z"],
    ["a fraction with a trailing zero", TAG.GENERALIZED_TIME, "20500101000000.50Z"],
    ["GeneralizedTime without Z", TAG.GENERALIZED_TIME, "20500101000000"],
  ])("refuses %s", (_why, tag, text) => {
    const der = tlv(tag, Buffer.from(text));
    expect(errorOf(() => decodeTime(readTop(der, tag, "t"), "t")).kind).toBe("malformed");
  });

  test("invalid dates cannot be written", () => {
    expect(errorOf(() => encodeTime(new Date(Number.NaN))).kind).toBe("invalid-argument");
  });
});

describe("ECDSA signature encodings", () => {
  const r = hex(`00${"80".repeat(31)}`); // a leading zero byte and the high bit in the next
  const s = hex("01".repeat(32));

  test("raw r || s becomes a DER ECDSA-Sig-Value", () => {
    const der = rawToDer(new Uint8Array([...r, ...s]), 32);
    expect(der && toHex(der)).toBe(
      `3044 0220 00${"80".repeat(31)} 0220 ${"01".repeat(32)}`.replace(/\s/g, ""),
    );
    expect(der && decodeEcdsaDer(der)).toBeDefined();
  });

  test("raw halves of zero or a wrong length are no signature", () => {
    expect(rawToDer(new Uint8Array(64), 32)).toBeUndefined();
    expect(rawToDer(new Uint8Array(63).fill(1), 32)).toBeUndefined();
  });

  test("DER with a negative or non-minimal INTEGER, or trailing bytes, is not DER", () => {
    expect(decodeEcdsaDer(hex("3006 020180 020101"))).toBeUndefined();
    expect(decodeEcdsaDer(hex("3007 02020001 020101"))).toBeUndefined();
    expect(decodeEcdsaDer(hex("3006 020101 020101 00"))).toBeUndefined();
    expect(decodeEcdsaDer(hex("3006 020101 020101"))).toEqual({ r: hex("01"), s: hex("01") });
  });

  test("candidates: DER as is, raw converted, garbage none", () => {
    const der = hex("3006 020101 020102");
    expect(signatureCandidates(der, 32)).toEqual([der]);
    expect(signatureCandidates(new Uint8Array([...r, ...s]), 32)).toHaveLength(1);
    expect(signatureCandidates(hex("0102"), 32)).toEqual([]);
  });
});
