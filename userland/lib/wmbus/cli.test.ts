import { describe, expect, test } from "bun:test";
import { runDecode } from "./cli.ts";
import { formatSignature } from "./compact.ts";
import { crc16En13757 } from "./crc.ts";
import {
  fragmentedTelegrams,
  linkHeader,
  mode5Payload,
  toFormatA,
  wirelessFrame,
} from "./frame-builder.ts";
import { hexToBytes, toHex } from "./hex.ts";
import { parseRecords } from "./records.ts";

const keyHex = "000102030405060708090A0B0C0D0E0F";
const header = linkHeader({ manufacturer: "KAM", id: "87654321", version: 0x1b, deviceType: 4 });
const records = hexToBytes("04 06 D2040000 04 13 39300000 42 6C BF2C");
const plain = toHex(wirelessFrame(header, Uint8Array.of(0x7a, 0x21, 0x00, 0x00, 0x00, ...records)));
const encrypted = toHex(
  wirelessFrame(header, mode5Payload(hexToBytes(keyHex), header, 0x21, records)),
);

function lines(output: string): Array<Record<string, unknown>> {
  return output
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("smgw lmn decode", () => {
  test("--help prints the usage", () => {
    const result = runDecode(["--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain("Usage: smgw lmn decode [--key HEX] HEX...");
  });

  test("one telegram: header fields and records", () => {
    const result = runDecode([plain]);
    expect(result.exitCode).toBe(0);
    const [telegram] = lines(result.output);
    expect(telegram).toMatchObject({
      manufacturer: "KAM",
      id: "87654321",
      version: 0x1b,
      deviceType: 4,
      accessNumber: 0x21,
      status: 0,
      securityMode: 0,
    });
    expect(telegram?.records).toEqual([
      {
        storage: 0,
        tariff: 0,
        subunit: 0,
        function: "instantaneous",
        quantity: "energy",
        unit: "kWh",
        value: 1234,
      },
      {
        storage: 0,
        tariff: 0,
        subunit: 0,
        function: "instantaneous",
        quantity: "volume",
        unit: "m³",
        value: 12.345,
      },
      {
        storage: 1,
        tariff: 0,
        subunit: 0,
        function: "instantaneous",
        quantity: "date",
        unit: "",
        value: "2021-12-31",
      },
    ]);
  });

  test("the leading words 'lmn decode' are accepted, format A input too", () => {
    const withCrcs = toHex(toFormatA(hexToBytes(plain)));
    const result = runDecode(["lmn", "decode", withCrcs]);
    expect(result.exitCode).toBe(0);
    expect(lines(result.output)[0]?.id).toBe("87654321");
  });

  test("--key decrypts; without it the telegram is refused with its header", () => {
    const withKey = runDecode(["--key", keyHex, encrypted]);
    expect(withKey.exitCode).toBe(0);
    expect(lines(withKey.output)[0]?.securityMode).toBe(5);
    expect(lines(withKey.output)[0]?.records).toHaveLength(3);

    const withoutKey = runDecode([encrypted]);
    expect(withoutKey.exitCode).toBe(1);
    const [refusal] = lines(withoutKey.output);
    expect(refusal?.error).toMatchObject({ kind: "no-key" });
    expect(JSON.stringify(refusal?.error)).toContain("encrypted, no key");
    expect(refusal?.header).toMatchObject({ manufacturer: "KAM", id: "87654321", securityMode: 5 });
  });

  test("several telegrams: one line each, a compact frame uses the full frame before it", () => {
    const signature = formatSignature(parseRecords(records).recordHeaders);
    const fullCrc = crc16En13757(records);
    const data = hexToBytes("D2040000 39300000 BF2C");
    const compact = toHex(
      wirelessFrame(
        header,
        Uint8Array.of(
          0x79,
          signature & 0xff,
          signature >> 8,
          fullCrc & 0xff,
          fullCrc >> 8,
          ...data,
        ),
      ),
    );
    const result = runDecode([`${plain.slice(0, 2)}_${plain.slice(2)}`, compact, "zz"]);
    expect(result.exitCode).toBe(1);
    const [full, fromCompact, bad] = lines(result.output);
    expect(fromCompact?.records).toEqual(full?.records);
    expect(bad?.error).toMatchObject({ kind: "hex" });
  });

  test("usage errors exit with 2", () => {
    expect(runDecode([]).exitCode).toBe(2);
    expect(runDecode(["--key", "1234", plain]).exitCode).toBe(2);
    expect(runDecode(["--key"]).exitCode).toBe(2);
    expect(runDecode(["--verbose", plain]).exitCode).toBe(2);
    expect(lines(runDecode([]).output.split("\n")[0] as string)[0]?.error).toMatchObject({
      kind: "usage",
    });
  });

  test("--key=HEX form", () => {
    expect(runDecode([`--key=${keyHex}`, encrypted]).exitCode).toBe(0);
  });
});

describe("smgw lmn decode: fragmented messages", () => {
  const fragments = fragmentedTelegrams({
    security: 7,
    key: hexToBytes(keyHex),
    header,
    accessNumber: 5,
    messageCounter: 42,
    records,
    fragments: 3,
    format: "A",
  }).map(toHex);

  test("the fragments in order: two held, then the whole message decoded", () => {
    const result = runDecode(["--key", keyHex, ...fragments]);
    expect(result.exitCode).toBe(0);
    const out = lines(result.output);
    expect(out).toHaveLength(3);
    expect(out[0]).toMatchObject({
      fragment: { manufacturer: "KAM", id: "87654321", fragmentId: 1, held: 1 },
    });
    expect(out[1]).toMatchObject({ fragment: { held: 2 } });
    expect(out[2]).toMatchObject({ manufacturer: "KAM", securityMode: 7 });
    expect(((out[2]?.records ?? []) as { value: number }[]).map((r) => r.value)).toContain(1234);
  });

  test("out of order or with a fragment missing: a fragment error, exit code 1", () => {
    const reordered = runDecode(["--key", keyHex, fragments[1] ?? "", fragments[0] ?? ""]);
    expect(reordered.exitCode).toBe(1);
    expect(lines(reordered.output)[0]).toMatchObject({ error: { kind: "fragment" } });
    const gap = runDecode(["--key", keyHex, fragments[0] ?? "", fragments[2] ?? ""]);
    expect(gap.exitCode).toBe(1);
    expect(lines(gap.output)[1]).toMatchObject({ error: { kind: "fragment" } });
  });
});
