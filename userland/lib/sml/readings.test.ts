import { describe, expect, test } from "bun:test";
import { SmlError } from "./errors.ts";
import { decodeSmlFile } from "./file.ts";
import { buildMeterReadingFile, meterReadingMessages } from "./meter-file.ts";
import { readingsFromSml, scaleValue } from "./readings.ts";
import {
  ENCODED_FRAME,
  ENCODED_INPUT,
  SAMPLE_PUBLIC_KEY,
  SAMPLE_SERVER_ID,
  TOLERANT_FRAME,
  TOLERANT_SERVER_ID,
  toHex,
  WRITTEN_FRAME,
} from "./test-support.ts";
import { decodeTransportFrame } from "./transport.ts";
import { UNIT } from "./units.ts";

describe("scaleValue", () => {
  test("decimal results round as written", () => {
    expect(scaleValue(1234567n, -1)).toBe(123456.7);
    expect(scaleValue(123456789n, -4)).toBe(12345.6789);
    expect(scaleValue(98765432109n, -5)).toBe(987654.32109);
    expect(scaleValue(12, 3)).toBe(12000);
    expect(scaleValue(-5n, 0)).toBe(-5);
  });
});

describe("readingsFromSml", () => {
  test("written frame: status word, entry time, scalers -1 and 0, Wh and W", () => {
    const r = readingsFromSml(decodeSmlFile(WRITTEN_FRAME));
    expect(r.serverId).toBe(SAMPLE_SERVER_ID);
    expect(r.actSensorTime).toEqual({ kind: "secIndex", secIndex: 0x0001e241 });
    expect(r.entries.map((e) => e.obis)).toEqual([
      "129-129:199.130.3*255",
      "1-0:0.0.9*255",
      "1-0:1.8.0*255",
      "1-0:2.8.0*255",
      "1-0:16.7.0*255",
    ]);
    const byObis = Object.fromEntries(r.entries.map((e) => [e.obis, e]));
    const manufacturer = byObis["129-129:199.130.3*255"];
    expect(manufacturer?.value).toBeUndefined();
    expect(manufacturer?.hex).toBe(toHex(new TextEncoder().encode("XYZ")));
    // Written as 65 0012D687, scaler -1.
    const energy = byObis["1-0:1.8.0*255"];
    expect(energy?.value).toBe(0x12d687 / 10);
    expect(energy?.value).toBe(123456.7);
    expect(energy?.unit).toBe(30);
    expect(energy?.unitSymbol).toBe("Wh");
    expect(energy?.scaler).toBe(-1);
    expect(energy?.raw).toEqual({ type: "uint", value: 0x12d687n, size: 4 });
    expect(energy?.status).toBe(0x1c0104n);
    expect(energy?.statusInfo?.format).toBe("fnn-basic-meter");
    expect(energy?.statusInfo?.basicMeter?.startUp).toBe(true);
    expect(energy?.valTime).toEqual({ kind: "secIndex", secIndex: 0x0001e241 });
    // 64 000FA0: a 3-byte Unsigned, scaler 0.
    const exported = byObis["1-0:2.8.0*255"];
    expect(exported?.value).toBe(0x0fa0);
    expect(exported?.scaler).toBe(0);
    expect(exported?.raw).toEqual({ type: "uint", value: 0x0fa0n, size: 3 });
    // 53 FF38: Integer16 -200.
    const power = byObis["1-0:16.7.0*255"];
    expect(power?.value).toBe(-200);
    expect(power?.unit).toBe(27);
    expect(power?.unitSymbol).toBe("W");
    expect(power?.raw).toEqual({ type: "int", value: -200n, size: 2 });
    expect(byObis["1-0:0.0.9*255"]?.value).toBeUndefined();
    expect(byObis["1-0:0.0.9*255"]?.hex).toBe(SAMPLE_SERVER_ID);
  });

  test("tolerant frame: Unsigned64 counter, 5-byte Integer, signed power, octet string", () => {
    const r = readingsFromSml(TOLERANT_FRAME);
    expect(r.serverId).toBe(TOLERANT_SERVER_ID);
    // A bare Unsigned32 where SML_Time belongs.
    expect(r.actSensorTime).toEqual({ kind: "secIndex", secIndex: 0x0001e242 });
    const byObis = Object.fromEntries(r.entries.map((e) => [e.obis, e]));
    // 69 00000000075BCD15, scaler -4.
    expect(byObis["1-0:1.8.0*255"]?.value).toBe(123456789 / 10_000);
    expect(byObis["1-0:1.8.0*255"]?.value).toBe(12345.6789);
    expect(byObis["1-0:1.8.0*255"]?.raw).toEqual({ type: "uint", value: 123456789n, size: 8 });
    // 56 00075BCD15, scaler -1.
    expect(byObis["1-0:2.8.0*255"]?.value).toBe(12345678.9);
    expect(byObis["1-0:2.8.0*255"]?.raw).toEqual({ type: "int", value: 123456789n, size: 5 });
    // 55 00003039, scaler -2.
    expect(byObis["1-0:1.7.0*255"]?.value).toBe(123.45);
    expect(byObis["1-0:1.7.0*255"]?.unitSymbol).toBe("W");
    expect(byObis["1-0:96.5.5*255"]?.raw).toEqual({ type: "uint", value: 0x42n, size: 2 });
    expect(byObis["129-129:199.130.5*255"]?.hex).toBe(toHex(SAMPLE_PUBLIC_KEY));
  });

  test("encoder-built frame: values are the input times 10^scaler", () => {
    const r = readingsFromSml(ENCODED_FRAME);
    expect(r.serverId).toBe(ENCODED_INPUT.serverId);
    expect(r.actSensorTime).toEqual({ kind: "secIndex", secIndex: ENCODED_INPUT.time });
    expect(r.entries.map((e) => e.value)).toEqual([undefined, 98_765_432 / 10, 70_000, 1500]);
    expect(r.entries.map((e) => e.unit)).toEqual(ENCODED_INPUT.entries.map((e) => e.unit));
  });

  test("a file without GetList response", () => {
    const r = readingsFromSml([
      {
        transactionId: new Uint8Array(1),
        groupNo: 0,
        abortOnError: 0,
        body: { kind: "CloseResponse" },
      },
    ]);
    expect(r).toEqual({ serverId: undefined, entries: [] });
  });
});

describe("buildMeterReadingFile", () => {
  const input = {
    serverId: "0a0158595a0000123456",
    transactionId: 0x1000,
    time: new Date("2024-03-01T12:00:00Z"),
    entries: [
      { obis: "129-129:199.130.3*255", value: "XYZ" },
      { obis: "1-0:1.8.0*255", unit: UNIT.Wh, scaler: -1, value: 123456789, status: 0x1c0104 },
      { obis: "1-0:2.8.0*255", unit: UNIT.Wh, scaler: -1, value: 0n },
      { obis: "1-0:16.7.0*255", unit: UNIT.W, scaler: 0, value: 250, signed: true },
      { obis: "1-0:16.7.0*255", unit: UNIT.W, scaler: -2, value: -12345 },
      {
        obis: "1-0:32.7.0*255",
        unit: UNIT.V,
        scaler: -1,
        value: { type: "uint" as const, value: 2301n, size: 2 },
      },
    ],
  };

  test("builds a valid frame that reads back", () => {
    const frame = buildMeterReadingFile(input);
    expect(frame.length % 4).toBe(0);
    const file = decodeSmlFile(frame);
    expect(file.messages.map((m) => m.body.kind)).toEqual([
      "OpenResponse",
      "GetListResponse",
      "CloseResponse",
    ]);
    expect(file.messages.map((m) => toHex(m.transactionId))).toEqual([
      "00001000",
      "00001001",
      "00001002",
    ]);
    const r = readingsFromSml(file);
    expect(r.serverId).toBe("0a0158595a0000123456");
    expect(r.actSensorTime).toEqual({
      kind: "timestamp",
      timestamp: Date.UTC(2024, 2, 1, 12) / 1000,
    });
    expect(r.entries.map((e) => e.value)).toEqual([undefined, 12345678.9, 0, 250, -123.45, 230.1]);
    expect(r.entries[0]?.hex).toBe("58595a");
    expect(r.entries[1]?.statusInfo?.basicMeter?.startUp).toBe(true);
    expect(r.entries[3]?.raw).toEqual({ type: "int", value: 250n, size: 2 });
    expect(r.entries[1]?.raw).toEqual({ type: "uint", value: 123456789n, size: 4 });
  });

  test("byte transaction IDs get a message index appended", () => {
    const ms = meterReadingMessages({ ...input, transactionId: Uint8Array.of(0xab, 0xcd) });
    expect(ms.map((m) => toHex(m.transactionId))).toEqual(["abcd00", "abcd01", "abcd02"]);
  });

  test("payload with escape blocks survives the transport", () => {
    const frame = buildMeterReadingFile({
      ...input,
      entries: [{ obis: "1-0:96.1.0*255", value: new Uint8Array(40).fill(0x1b) }],
    });
    const payload = decodeTransportFrame(frame).payload;
    expect(payload.length).toBeLessThan(frame.length - 16);
    expect(readingsFromSml(frame).entries[0]?.hex).toBe("1b".repeat(40));
  });

  test("rejects values that are not integers and bad OBIS codes", () => {
    expect(() =>
      buildMeterReadingFile({ ...input, entries: [{ obis: "1-0:1.8.0", value: 1.5 }] }),
    ).toThrow(SmlError);
    expect(() =>
      buildMeterReadingFile({ ...input, entries: [{ obis: "1.8.0", value: 1 }] }),
    ).toThrow(SmlError);
    expect(() => buildMeterReadingFile({ ...input, serverId: "xyz" })).toThrow(SmlError);
  });
});
