import { describe, expect, test } from "bun:test";
import { isCumulative, validateReadings } from "./validate.ts";

const T0 = "2026-01-01T00:00:00.000Z";

describe("reading validation", () => {
  test("accepts plausible readings and stamps the gateway's time", () => {
    const r = validateReadings(
      [{ obis: "1-0:1.8.0*255", value: 1234.5, unit: "Wh", status: 0x182 }],
      new Map(),
      T0,
    );
    expect(r.rejected).toEqual([]);
    expect(r.accepted).toEqual([
      { obis: "1-0:1.8.0*255", value: 1234.5, unit: "Wh", capturedAt: T0, status: 0x182 },
    ]);
  });

  test("a cumulative register may not run backwards", () => {
    const last = new Map([["1-0:1.8.0*255", 2000]]);
    const r = validateReadings(
      [{ obis: "1-0:1.8.0*255", value: 1999, unit: "Wh", status: 0 }],
      last,
      T0,
    );
    expect(r.accepted).toEqual([]);
    expect(r.rejected[0]?.reason).toContain("ran backwards");
  });

  test("instantaneous values may go down; registers are told apart by OBIS", () => {
    expect(isCumulative("1-0:1.8.0*255")).toBe(true);
    expect(isCumulative("1-0:16.7.0*255")).toBe(false);
    const last = new Map([["1-0:16.7.0*255", 500]]);
    expect(
      validateReadings([{ obis: "1-0:16.7.0*255", value: -20, unit: "W", status: 0 }], last, T0)
        .accepted,
    ).toHaveLength(1);
  });

  test("bad values are refused one by one, the rest kept", () => {
    const r = validateReadings(
      [
        { obis: "1-0:1.8.0*255", value: Number.NaN, unit: "Wh", status: 0 },
        { obis: "1-0:1.8.0*255", value: 1e15, unit: "Wh", status: 0 },
        { obis: "garbage", value: 1, unit: "Wh", status: 0 },
        { obis: "1-0:2.8.0*255", value: -1, unit: "Wh", status: 0 },
        { obis: "1-0:1.8.1*255", value: 5, unit: "<script>", status: 0 },
        { obis: "1-0:2.8.0*255", value: 7, unit: "Wh", status: 0 },
      ],
      new Map(),
      T0,
    );
    expect(r.rejected.map((x) => x.reason)).toEqual([
      "implausible value NaN",
      "implausible value 1000000000000000",
      "not an OBIS code",
      "negative energy register",
      "unknown unit",
    ]);
    expect(r.accepted.map((a) => a.obis)).toEqual(["1-0:2.8.0*255"]);
  });
});
