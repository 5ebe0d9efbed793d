import { describe, expect, test } from "bun:test";
import { WmbusError } from "./errors.ts";
import { hexToBytes } from "./hex.ts";
import { parseRecords } from "./records.ts";
import type { DataRecord } from "./types.ts";

function records(hex: string): DataRecord[] {
  return parseRecords(hexToBytes(hex)).records;
}

function one(hex: string): DataRecord {
  const all = records(hex);
  expect(all).toHaveLength(1);
  return all[0] as DataRecord;
}

describe("data information block", () => {
  test("storage, tariff, subunit and function from DIF and DIFEs", () => {
    const r = one("C4 A1 52 13 01000000");
    // DIF C4: storage LSB 1, instantaneous, 32-bit; DIFE A1: storage 1, tariff 2, subunit 0;
    // DIFE 52: storage 2, tariff 1, subunit 1.
    expect(r.storage).toBe(1 + (1 << 1) + (2 << 5));
    expect(r.tariff).toBe(2 + (1 << 2));
    expect(r.subunit).toBe(2);
    expect(r.function).toBe("instantaneous");
    expect(r.dif).toBe("C4A152");
  });

  test("function field", () => {
    expect(records("02 5B 1000 12 5B 2000 22 5B 3000 32 5B 4000").map((r) => r.function)).toEqual([
      "instantaneous",
      "maximum",
      "minimum",
      "error",
    ]);
  });

  test("more than 10 DIFEs is an error", () => {
    expect(() => records(`84${"80".repeat(10)}00 13 00000000`)).toThrow(WmbusError);
  });
});

describe("value codings", () => {
  test("integers are signed two's complement", () => {
    expect(one("01 13 FF").value).toBe(-0.001);
    expect(one("02 13 FEFF").value).toBe(-0.002);
    expect(one("03 13 FFFF7F").value).toBe(8388.607);
    expect(one("04 13 00000080").value).toBe(-2147483.648);
    expect(one("06 13 010000000080").value).toBe(-140737488355.327);
    expect(one("07 13 0100000000000000").value).toBe(0.001);
  });

  test("64-bit values beyond 2^53 are rounded with a note", () => {
    const r = one("07 03 FFFFFFFFFFFFFF7F");
    expect(typeof r.value).toBe("number");
    expect(r.annotations).toContain("64-bit value rounded to a double");
  });

  test("32-bit real", () => {
    expect(one("05 2E 748D9141").value).toBeCloseTo(18.194068908691406, 10);
    expect(one("05 13 0000C07F").value).toBeNull(); // NaN
  });

  test("BCD of every size, negative sign nibble, invalid digits", () => {
    expect(one("09 13 12").value).toBe(0.012);
    expect(one("0A 13 3412").value).toBe(1.234);
    expect(one("0B 3B 0200F0").value).toBe(-0.002);
    expect(one("0C 13 78563412").value).toBe(12345.678);
    expect(one("0E 0A 634269340100").value).toBeCloseTo(3741.50730555, 6);
    const bad = one("0C 13 7856341A");
    expect(bad.value).toBeNull();
    expect(bad.annotations.join()).toContain("non-decimal");
  });

  test("no data and selection for readout", () => {
    expect(one("00 13").value).toBeNull();
    const selection = one("08 13");
    expect(selection.value).toBeNull();
    expect(selection.annotations).toContain("selection for readout");
  });

  test("LVAR text is reversed, BCD and binary LVARs", () => {
    expect(one("0D FD11 06 313233343536").value).toBe("654321");
    expect(one("0D 13 C2 3412").value).toBe(1.234);
    expect(one("0D 13 D2 3412").value).toBe(-1.234);
    expect(one("0D 13 E2 FFFF").value).toBe(-0.001);
    expect(one("0D FD10 02 AAAA").value).toBe("AAAA"); // not printable: hex
  });

  test("reserved LVAR code is a record error", () => {
    expect(() => records("0D 13 F8 00")).toThrow(/reserved LVAR/);
  });
});

describe("special functions", () => {
  test("idle filler is skipped, 0x0F keeps the rest opaque", () => {
    const apl = parseRecords(hexToBytes("2F2F 04 13 01000000 2F 0F 0102030F"));
    expect(apl.records).toHaveLength(1);
    expect(apl.manufacturerData && Buffer.from(apl.manufacturerData).toString("hex")).toBe(
      "0102030f",
    );
    expect(apl.moreRecordsFollow).toBeUndefined();
  });

  test("0x1F: manufacturer data and more records follow", () => {
    const apl = parseRecords(hexToBytes("1F AABB"));
    expect(apl.moreRecordsFollow).toBe(true);
    expect(apl.manufacturerData).toHaveLength(2);
  });

  test("reserved special DIF is an error", () => {
    expect(() => records("3F 00")).toThrow(WmbusError);
  });

  test("data that ends inside the last record is kept as a tail", () => {
    const apl = parseRecords(hexToBytes("04 13 01000000 DE 47"));
    expect(apl.records).toHaveLength(1);
    expect(apl.truncatedTail).toHaveLength(2);
    expect(apl.warnings.join()).toContain("end inside a record");
  });
});

describe("primary VIF table, canonical units", () => {
  const cases: Array<[string, string, string, number]> = [
    ["04 04 75020800", "energy", "kWh", 5249.17],
    ["04 0B 01000000", "energy", "kWh", 1000 / 3_600_000],
    ["04 13 01000000", "volume", "m³", 0.001],
    ["04 1B 05000000", "mass", "kg", 5],
    ["04 22 10000000", "on time", "h", 16],
    ["04 27 02000000", "operating time", "d", 2],
    ["04 2B 0A000000", "power", "kW", 0.01],
    ["04 30 10000000", "power", "kW", 16 / 3_600_000],
    ["04 3B 09000000", "volume flow", "m³/h", 0.009],
    ["04 46 01000000", "volume flow", "m³/h", 6],
    ["04 4F 01000000", "volume flow", "m³/h", 36],
    ["04 53 02000000", "mass flow", "kg/h", 2],
    ["02 59 5D09", "flow temperature", "°C", 23.97],
    ["02 5D 2408", "return temperature", "°C", 20.84],
    ["02 61 0300", "temperature difference", "K", 0.03],
    ["02 65 DBF9", "external temperature", "°C", -15.73],
    ["02 69 6600", "pressure", "bar", 1.02],
    ["02 6E 1900", "heat cost allocation", "HCA", 25],
    ["02 72 0300", "averaging duration", "h", 3],
    ["02 74 2F01", "actuality duration", "s", 303],
  ];
  for (const [hex, quantity, unit, value] of cases) {
    test(`${hex} → ${quantity} in ${unit}`, () => {
      const r = one(hex);
      expect(r.quantity).toBe(quantity);
      expect(r.unit).toBe(unit);
      expect(r.value as number).toBeCloseTo(value, 9);
    });
  }

  test("identifiers keep their digits", () => {
    expect(one("0C 78 28041723").value).toBe("23170428");
    expect(one("07 79 414620689344470C").value).toBe("0C47449368204641");
    expect(one("01 7A 05").value).toBe("05");
  });

  test("dates: type G, F, I, J and invalid dates", () => {
    expect(one("02 6C BF2C").value).toBe("2021-12-31");
    expect(one("04 6D 3B37DF2C").value).toBe("2022-12-31T23:59");
    expect(one("06 6D 2C1AA1D52100").value).toBe("2022-01-21T01:26:44");
    expect(one("03 6D 2C1A01").value).toBe("01:26:44");
    expect(one("02 6C FFFF").value).toBeNull();
    const flagged = one("04 6D B32E3438");
    expect(flagged.value).toBeNull();
    expect(flagged.annotations.join()).toContain("2025-08-20T14:51");
  });

  test("plain-text VIF: unit text follows the VIF", () => {
    const r = one("01 7C 03 495523 07");
    expect(r.vifTable).toBe("plain-text");
    expect(r.unit).toBe("#UI");
    expect(r.value).toBe(7);
  });

  test("manufacturer-specific VIF: data kept as hex", () => {
    const r = one("04 FF A0 15 00000000");
    expect(r.vifTable).toBe("manufacturer");
    expect(r.value).toBe("00000000");
    expect(r.quantity).toBe("manufacturer specific");
  });
});

describe("extension tables FD and FB", () => {
  test("FD: voltage, current, error flags, access number, battery", () => {
    expect(one("02 FD48 EC00").value).toBeCloseTo(23.6, 9);
    expect(one("02 FD59 1D01").value).toBeCloseTo(0.285, 9);
    expect(one("02 FD17 0080").value).toBe(0x8000);
    expect(one("01 FD08 F0").value).toBe(240);
    const battery = one("02 FD74 8713");
    expect([battery.quantity, battery.unit, battery.value]).toEqual([
      "remaining battery life time",
      "d",
      4999,
    ]);
    expect(one("03 FD0C 050000").value).toBe("000005");
  });

  test("FB: MWh, relative humidity, frequency, GJ", () => {
    expect(one("04 FB00 60830000").value).toBe(3363200);
    expect(one("01 FB1B 2C").value).toBe(44);
    expect(one("02 FB2D 8613").value).toBe(49.98);
    expect(one("02 FB09 0100").value).toBeCloseTo(277.7777777, 6);
  });

  test("VIF 0xFD without VIFE is a record error", () => {
    expect(() => records("02 7D 0000")).toThrow(WmbusError);
  });
});

describe("combinable VIFEs", () => {
  test("multiplicative correction scales", () => {
    expect(one("04 FB8275 3F000000").value).toBeCloseTo(6.3, 9);
    expect(one("04 93 7D 01000000").value).toBe(1);
  });

  test("additive correction constant adds 10^(nn-3) in the VIF unit", () => {
    // 0x13: 1 l per count; 0x7B: + 1 m³ → 0.005 + 1.
    expect(one("04 93 7B 05000000").value).toBeCloseTo(1.005, 9);
  });

  test("annotating VIFEs: backward flow, per hour, limit dates and durations", () => {
    const backward = one("04 93 3C 05000000");
    expect(backward.value).toBe(0.005);
    expect(backward.annotations[0]).toContain("backward flow");
    expect(one("04 93 22 05000000").unit).toBe("m³/h");
    const limitDate = one("02 93 42 BF2C");
    expect([limitDate.value, limitDate.unit]).toEqual(["2021-12-31", ""]);
    const duration = one("02 BB 56 0300");
    expect([duration.value, duration.unit]).toEqual([3, "h"]);
  });

  test("VIFE 0x7F: following VIFEs are manufacturer specific, value kept with a note", () => {
    const r = one("05 FDDCFF01 BEC60842");
    expect(r.value as number).toBeCloseTo(34.194084, 5);
    expect(r.annotations.join()).toContain("manufacturer specific VIFEs 01");
  });

  test("more than 10 VIFEs is an error", () => {
    expect(() => records(`04 93${"A2".repeat(10)}22 00000000`)).toThrow(/more than 10 VIFEs/);
  });
});
