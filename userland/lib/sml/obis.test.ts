import { describe, expect, test } from "bun:test";
import { attentionText } from "./attention.ts";
import { SmlError } from "./errors.ts";
import {
  formatObjName,
  obisEquals,
  obisName,
  obisToString,
  parseObis,
  toObisBytes,
} from "./obis.ts";
import { hex } from "./test-support.ts";
import { dlmsUnit, UNIT, unitSymbol } from "./units.ts";

describe("OBIS", () => {
  test("bytes to text", () => {
    expect(obisToString(hex("0100010800ff"))).toBe("1-0:1.8.0*255");
    expect(obisToString(hex("8181c78203ff"))).toBe("129-129:199.130.3*255");
    expect(() => obisToString(hex("0100"))).toThrow(SmlError);
    expect(formatObjName(hex("0100"))).toBe("0100");
  });

  test("text to bytes, in the written forms in use", () => {
    const expected = hex("0100010800ff");
    for (const t of [
      "1-0:1.8.0*255",
      "1-0:1.8.0.255",
      "1-0:1.8.0",
      " 1-0:1.8.0&255 ",
      "0100010800FF",
    ]) {
      expect(parseObis(t)).toEqual(expected);
    }
    expect(parseObis("1-0:16.7.0*255")).toEqual(hex("0100100700ff"));
  });

  test("bad text", () => {
    for (const t of [
      "",
      "1.8.0",
      "1-0:1.8",
      "1-0:1.8.0*256",
      "1-0:1.8.0*",
      "x-0:1.8.0",
      "01000108",
    ]) {
      const e = (() => {
        try {
          parseObis(t);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(SmlError);
      expect((e as SmlError).kind).toBe("value");
    }
    expect(() => toObisBytes(hex("01"))).toThrow(SmlError);
  });

  test("round trip over all values of one group", () => {
    for (let v = 0; v < 256; v++) {
      const b = Uint8Array.of(1, 0, v, 8, 0, 255 - v);
      expect(parseObis(obisToString(b))).toEqual(b);
    }
  });

  test("equality and names", () => {
    expect(obisEquals(hex("0100010800ff"), "1-0:1.8.0*255")).toBe(true);
    expect(obisEquals(hex("0100020800ff"), "1-0:1.8.0*255")).toBe(false);
    expect(obisName("1-0:1.8.0")).toContain("import");
    expect(obisName(hex("0100100700ff"))).toBe("active power, total");
    expect(obisName("1-0:99.99.99*255")).toBeUndefined();
  });
});

describe("DLMS units", () => {
  test("the common codes", () => {
    expect(unitSymbol(30)).toBe("Wh");
    expect(unitSymbol(27)).toBe("W");
    expect(unitSymbol(35)).toBe("V");
    expect(unitSymbol(33)).toBe("A");
    expect(unitSymbol(44)).toBe("Hz");
    expect(unitSymbol(32)).toBe("varh");
    expect(unitSymbol(29)).toBe("var");
    expect(unitSymbol(13)).toBe("m³");
    expect(unitSymbol(255)).toBe("count");
    expect(unitSymbol(0)).toBeUndefined();
    expect(dlmsUnit(UNIT.Wh)?.quantity).toBe("active energy");
  });
});

describe("attention numbers", () => {
  test("known and unknown", () => {
    expect(attentionText(hex("8181c7c7fd00"))).toContain("ok");
    expect(attentionText(hex("8181c7c7fe03"))).toContain("serverId");
    expect(attentionText(hex("8181c7c7ff00"))).toBeUndefined();
  });
});
