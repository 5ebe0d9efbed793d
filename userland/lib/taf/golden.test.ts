// Every TRuDI golden case: registers (OBIS, amount, tariff id) in TRuDI's order, begin/end as
// instants, and error cases rejected with the mapped kind (see errors.ts).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { billDocuments } from "./bill.ts";
import { runTafBill } from "./cli.ts";
import { goldenErrorName, TafError } from "./errors.ts";
import { TRUDI_TAF_DIR } from "./test-helpers.ts";
import { parseDateTime } from "./time.ts";

interface GoldenRegister {
  index: number;
  obis: string;
  amount: number;
  tariffId: number;
}

interface GoldenCase {
  name: string;
  adapter: "TAF1" | "TAF2";
  meterData: string;
  supplier: string;
  expect: {
    begin?: string;
    end?: string;
    registerCount?: number;
    registers?: GoldenRegister[];
    error?: string;
    phase?: string;
  };
}

const casesDir = path.join(TRUDI_TAF_DIR, "cases");
const cases: GoldenCase[] = readdirSync(casesDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(casesDir, f), "utf8")) as GoldenCase);

// The golden folder's README lists each input file with its size: a damaged copy is named as
// such here instead of showing up as an engine error in the cases below.
describe("golden inputs", () => {
  test("every input file has the size its provenance table gives", () => {
    const readme = readFileSync(path.join(TRUDI_TAF_DIR, "..", "README.md"), "utf8");
    const listed = [...readme.matchAll(/^\| `data\/(taf[12]\/[^`]+)` \| `[^`]+` \| (\d+) \|$/gm)];
    expect(listed.length).toBeGreaterThan(30);
    const damaged = listed
      .map(([, file, bytes]) => ({
        file,
        listed: Number(bytes),
        actual: statSync(path.join(TRUDI_TAF_DIR, "data", file as string)).size,
      }))
      .filter((f) => f.actual !== f.listed);
    expect(damaged).toEqual([]);
  });
});

function instantOf(text: string): number {
  const t = parseDateTime(text);
  if (t === undefined) throw new Error(`bad golden date ${text}`);
  return t.instant;
}

function input(relative: string): Uint8Array {
  return readFileSync(path.join(TRUDI_TAF_DIR, "data", relative));
}

test("the golden folder has the 28 TRuDI cases", () => {
  expect(cases.length).toBe(28);
  expect(cases.filter((c) => c.expect.error !== undefined).length).toBe(5);
});

describe("TRuDI golden cases", () => {
  for (const c of cases) {
    test(c.name, () => {
      const expected = c.expect;
      if (expected.error !== undefined) {
        let caught: unknown;
        try {
          billDocuments(input(c.meterData), input(c.supplier));
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(TafError);
        expect(goldenErrorName(caught as TafError)).toBe(expected.error);
        return;
      }
      const result = billDocuments(input(c.meterData), input(c.supplier));
      expect(result.tariffUseCase).toBe(c.adapter === "TAF1" ? 1 : 2);
      const registers = expected.registers ?? [];
      expect(result.registers.length).toBe(expected.registerCount ?? registers.length);
      for (const r of registers) {
        expect(result.registers[r.index]).toEqual({
          obis: r.obis,
          amount: r.amount,
          tariffId: r.tariffId,
        });
      }
      if (expected.begin !== undefined) {
        expect(instantOf(result.begin)).toBe(instantOf(expected.begin));
        // TRuDI prints German local time; so do we.
        expect(result.begin).toBe(expected.begin);
      }
      if (expected.end !== undefined) {
        expect(instantOf(result.end)).toBe(instantOf(expected.end));
        expect(result.end).toBe(expected.end);
      }
    });
  }
});

describe("TRuDI golden cases through the command line", () => {
  for (const c of cases) {
    test(c.name, () => {
      const { exitCode, output } = runTafBill([
        "--meter-data",
        path.join(TRUDI_TAF_DIR, "data", c.meterData),
        "--supplier",
        path.join(TRUDI_TAF_DIR, "data", c.supplier),
      ]);
      const json = JSON.parse(output);
      if (c.expect.error !== undefined) {
        expect(exitCode).not.toBe(0);
        expect(typeof json.error.kind).toBe("string");
        expect(typeof json.error.message).toBe("string");
        return;
      }
      expect(exitCode).toBe(0);
      expect(
        json.registers.map((r: { obis: string; amount: number }) => [r.obis, r.amount]),
      ).toEqual((c.expect.registers ?? []).map((r) => [r.obis, r.amount]));
    });
  }
});
