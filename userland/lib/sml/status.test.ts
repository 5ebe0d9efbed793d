import { describe, expect, test } from "bun:test";
import { decodeStatusWord, encodeBasicMeterStatus } from "./status.ts";

describe("status words", () => {
  test("basic meter word as sent by meters: start-up, voltage on all phases", () => {
    const s = decodeStatusWord(0x1c0104n);
    expect(s.format).toBe("fnn-basic-meter");
    expect(s.raw).toBe(0x1c0104n);
    expect(s.basicMeter).toMatchObject({
      startUp: true,
      voltageL1Present: true,
      voltageL2Present: true,
      voltageL3Present: true,
      energyDirectionNegative: false,
      fatalError: false,
    });
    expect(s.ptbStatus).toBe(0);
  });

  test("export direction, backstop, rotating field", () => {
    const s = decodeStatusWord(
      encodeBasicMeterStatus({
        energyDirectionNegative: true,
        backstopActive: true,
        phaseSequenceNotL1L2L3: true,
      }),
    );
    expect(s.basicMeter?.energyDirectionNegative).toBe(true);
    expect(s.basicMeter?.backstopActive).toBe(true);
    expect(s.basicMeter?.phaseSequenceNotL1L2L3).toBe(true);
    expect(s.basicMeter?.startUp).toBe(false);
  });

  test("PTB status from meter flags", () => {
    expect(
      decodeStatusWord(encodeBasicMeterStatus({ magneticallyInfluenced: true })).ptbStatus,
    ).toBe(2);
    expect(decodeStatusWord(encodeBasicMeterStatus({ manipulation: true })).ptbStatus).toBe(2);
    expect(decodeStatusWord(encodeBasicMeterStatus({ fatalError: true })).ptbStatus).toBe(4);
  });

  test("combined gateway and meter word", () => {
    const meter = BigInt(encodeBasicMeterStatus({ startUp: true }));
    const gw = (bits: number) => (BigInt(0x05 | bits) << 32n) | meter;
    expect(decodeStatusWord(gw(0)).format).toBe("fnn-gateway-combined");
    expect(decodeStatusWord(gw(0)).ptbStatus).toBe(0);
    expect(decodeStatusWord(gw(0x2)).gateway?.transparencyBit).toBe(true);
    expect(decodeStatusWord(gw(0x1000)).ptbStatus).toBe(1);
    expect(decodeStatusWord(gw(0x2000)).ptbStatus).toBe(2);
    expect(decodeStatusWord(gw(0x4000)).ptbStatus).toBe(3);
    expect(decodeStatusWord(gw(0x200)).ptbStatus).toBe(3);
    expect(decodeStatusWord(gw(0x100)).ptbStatus).toBe(4);
    expect(decodeStatusWord(gw(0)).basicMeter?.startUp).toBe(true);
  });

  test("other layouts keep only the raw value", () => {
    for (const raw of [0x020381n, 0x0403a0n, 0n, 0x1000000n, 0x0800000000000000n]) {
      const s = decodeStatusWord(raw);
      expect(s.format).toBe("unknown");
      expect(s.raw).toBe(raw);
      expect(s.ptbStatus).toBeUndefined();
    }
    expect(decodeStatusWord(-1n).format).toBe("unknown");
  });
});
