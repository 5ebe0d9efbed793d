import { describe, expect, test } from "bun:test";
import { SmlError } from "./errors.ts";
import { SmlReader } from "./reader.ts";
import { hex, toHex } from "./test-support.ts";
import type { SmlNode } from "./tl.ts";
import { integerSize, SmlWriter, unsignedSize } from "./writer.ts";

function written(f: (w: SmlWriter) => void): string {
  const w = new SmlWriter(4);
  f(w);
  return toHex(w.bytes);
}

function errorOf(f: () => unknown): SmlError {
  try {
    f();
  } catch (e) {
    if (e instanceof SmlError) return e;
    throw e;
  }
  throw new Error("no error thrown");
}

const reader = (h: string, maxDepth?: number) => {
  const b = hex(h);
  return new SmlReader(b, 0, b.length, maxDepth);
};

describe("TL encoding", () => {
  test("octet strings: the length counts the TL bytes", () => {
    expect(written((w) => w.octets(hex("")))).toBe("01");
    expect(written((w) => w.octets(hex("aa")))).toBe("02aa");
    expect(written((w) => w.octets(new Uint8Array(14)))).toBe(`0f${"00".repeat(14)}`);
    // 15 value bytes + 2 TL bytes = 17 = 0x11.
    expect(written((w) => w.octets(new Uint8Array(15)))).toBe(`8101${"00".repeat(15)}`);
    // 48 + 2 = 50 = 0x32: a 48-byte key or signature.
    expect(written((w) => w.octets(new Uint8Array(48))).slice(0, 4)).toBe("8302");
    // 253 + 2 = 255; 254 needs three TL bytes: 254 + 3 = 257 = 0x101.
    expect(written((w) => w.octets(new Uint8Array(253))).slice(0, 4)).toBe("8f0f");
    expect(written((w) => w.octets(new Uint8Array(254))).slice(0, 6)).toBe("818001");
  });

  test("lists: the length is the element count", () => {
    expect(written((w) => w.list(0))).toBe("70");
    expect(written((w) => w.list(7))).toBe("77");
    expect(written((w) => w.list(15))).toBe("7f");
    expect(written((w) => w.list(16))).toBe("f100");
    expect(written((w) => w.list(300))).toBe("f1820c");
  });

  test("numbers", () => {
    expect(written((w) => w.unsigned(5, 1))).toBe("6205");
    expect(written((w) => w.unsigned(0x0101, 2))).toBe("630101");
    expect(written((w) => w.unsigned(0xffffffffffffffffn, 8))).toBe("69ffffffffffffffff");
    expect(written((w) => w.integer(-1, 1))).toBe("52ff");
    expect(written((w) => w.integer(-2, 2))).toBe("53fffe");
    expect(written((w) => w.integer(-(2n ** 63n), 8))).toBe("598000000000000000");
    expect(written((w) => w.bool(true))).toBe("4201");
    expect(errorOf(() => written((w) => w.unsigned(256, 1))).kind).toBe("value");
    expect(errorOf(() => written((w) => w.unsigned(-1, 4))).kind).toBe("value");
    expect(errorOf(() => written((w) => w.integer(128, 1))).kind).toBe("value");
    expect(errorOf(() => written((w) => w.integer(0, 9))).kind).toBe("value");
    expect(errorOf(() => written((w) => w.unsigned(1.5, 2))).kind).toBe("value");
  });

  test("smallest sizes", () => {
    expect([0, 255, 256, 65535, 65536, 2 ** 32].map(unsignedSize)).toEqual([1, 1, 2, 2, 4, 8]);
    expect([0, -128, 128, -32769, 2 ** 31].map(integerSize)).toEqual([1, 1, 2, 4, 8]);
  });
});

describe("SmlReader", () => {
  test("multi-byte TL", () => {
    const r = reader(`8302 ${"ab".repeat(48)}`);
    expect(r.readOctets("sig").length).toBe(48);
    expect(r.remaining).toBe(0);
    const l = reader(`f100 ${"01".repeat(16)}`);
    expect(l.enterList("l")).toBe(16);
  });

  test("numbers of every wire size, signed and unsigned", () => {
    for (let size = 1; size <= 8; size++) {
      const bytes = "80".padEnd(2 * size, "0");
      const u = reader(`${(0x60 | (size + 1)).toString(16)}${bytes}`).readAnyNumber("u");
      expect(u).toEqual({ type: "uint", value: 2n ** BigInt(8 * size - 1), size });
      const i = reader(`${(0x50 | (size + 1)).toString(16)}${bytes}`).readAnyNumber("i");
      expect(i).toEqual({ type: "int", value: -(2n ** BigInt(8 * size - 1)), size });
    }
    expect(reader("5600075bcd15").readInteger("v", 32)).toBe(123456789);
    expect(reader("52fe").readInteger("scaler", 8)).toBe(-2);
    expect(errorOf(() => reader(`5f${"00".repeat(14)}`).readNode("x")).kind).toBe("length");
  });

  test("range checks on typed numbers", () => {
    expect(errorOf(() => reader("63ffff").readUnsigned("u8", 8)).kind).toBe("value");
    expect(errorOf(() => reader("52ff").readUnsigned("u8", 8)).kind).toBe("value");
    expect(reader("5205").readUnsigned("u8", 8)).toBe(5);
    expect(errorOf(() => reader("6280").readInteger("i8", 8)).kind).toBe("value");
    expect(errorOf(() => reader("69ffffffffffffffff").readUnsigned("u32", 32)).kind).toBe("value");
    expect(reader("69ffffffffffffffff").readBigUnsigned("u64")).toBe(2n ** 64n - 1n);
  });

  test("bad TLs", () => {
    // Type 001 does not exist.
    expect(errorOf(() => reader("1201").readNode("x")).kind).toBe("type");
    // Continued TL byte with type bits.
    expect(errorOf(() => reader("8312").readNode("x")).kind).toBe("type");
    // Length shorter than the TL itself.
    expect(errorOf(() => reader("8001").readNode("x")).kind).toBe("length");
    // Integer without value bytes, or with more than 8.
    expect(errorOf(() => reader("51").readNode("x")).kind).toBe("length");
    expect(errorOf(() => reader(`5a${"00".repeat(9)}`).readNode("x")).kind).toBe("length");
    expect(errorOf(() => reader("4300 00").readNode("x")).kind).toBe("length");
    // End of message where a value belongs.
    expect(errorOf(() => reader("00").readNode("x")).kind).toBe("structure");
  });

  test("truncation", () => {
    expect(errorOf(() => reader("").readNode("x")).kind).toBe("truncated");
    expect(errorOf(() => reader("05 0102").readNode("x")).kind).toBe("truncated");
    expect(errorOf(() => reader("83").readNode("x")).kind).toBe("truncated");
    expect(errorOf(() => reader("72 6201").readNode("x")).kind).toBe("truncated");
  });

  test("lengths that claim gigabytes fail at once", () => {
    // Octet string of 0xFFFFFFF bytes, 8 TL bytes.
    const e = errorOf(() => reader("8f8f8f8f8f8f8f0f 00").readNode("x"));
    expect(e.kind).toBe("truncated");
    expect(e.message).toContain("claims");
    // List of 0xFFFFFFFF elements.
    expect(errorOf(() => reader("ff8f8f8f8f8f8f0f 01").readNode("x")).kind).toBe("length");
    // Nine TL bytes: refused before the length is even computed.
    expect(errorOf(() => reader("8f8f8f8f8f8f8f8f0f").readNode("x")).kind).toBe("length");
  });

  test("nesting depth is bounded", () => {
    const deep = (n: number) => `${"71".repeat(n)}01`;
    expect(reader(deep(32)).readNode("x").type).toBe("list");
    const e = errorOf(() => reader(deep(33)).readNode("x"));
    expect(e.kind).toBe("depth");
    expect(errorOf(() => reader(deep(10_000)).readNode("x")).kind).toBe("depth");
    expect(errorOf(() => reader(deep(5), 4).readNode("x")).kind).toBe("depth");
  });

  test("optional none and end of message", () => {
    const r = reader("01 00");
    expect(r.readOptionalOctets("o")).toBeUndefined();
    r.readEndOfMessage();
    expect(r.remaining).toBe(0);
    expect(errorOf(() => reader("01").readEndOfMessage()).kind).toBe("structure");
  });

  test("node round trip", () => {
    const node: SmlNode = {
      type: "list",
      items: [
        { type: "octets", value: hex("0102") },
        { type: "bool", value: false },
        { type: "int", value: -5n, size: 2 },
        { type: "uint", value: 70000n, size: 4 },
        { type: "list", items: [] },
      ],
    };
    const w = new SmlWriter();
    w.node(node);
    const b = w.bytes;
    expect(toHex(b)).toBe("75030102420053fffb650001117070");
    expect(new SmlReader(b).readNode("n")).toEqual(node);
  });
});
