import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runTafBill } from "./cli.ts";
import { TRUDI_TAF_DIR } from "./test-helpers.ts";

const dir = mkdtempSync(path.join(tmpdir(), "taf-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const meterData = path.join(TRUDI_TAF_DIR, "data", "taf2", "result_single_day.xml");
const supplier = path.join(TRUDI_TAF_DIR, "data", "taf2", "supplier_single_day.xml");

function errorKind(output: string): string {
  return (JSON.parse(output) as { error: { kind: string } }).error.kind;
}

describe("smgw taf bill", () => {
  test("prints the registers as JSON", () => {
    const { exitCode, output } = runTafBill(["--meter-data", meterData, "--supplier", supplier]);
    expect(exitCode).toBe(0);
    expect(JSON.parse(output)).toEqual({
      tariffUseCase: 2,
      begin: "2017-11-04T00:00:00+01:00",
      end: "2017-11-05T00:00:00+01:00",
      registers: [
        { obis: "1-0:1.8.1*255", tariffId: 1, amount: 360 },
        { obis: "1-0:1.8.2*255", tariffId: 2, amount: 600 },
        { obis: "1-0:1.8.63*255", tariffId: 63, amount: 0 },
      ],
    });
  });

  test("accepts --name=value, any order, and a leading 'taf bill'", () => {
    const a = runTafBill([`--supplier=${supplier}`, `--meter-data=${meterData}`]);
    const b = runTafBill(["taf", "bill", "--meter-data", meterData, "--supplier", supplier]);
    expect(a.exitCode).toBe(0);
    expect(b.output).toBe(a.output);
  });

  test("--help prints the usage", () => {
    for (const flag of ["--help", "-h"]) {
      const { exitCode, output } = runTafBill([flag]);
      expect(exitCode).toBe(0);
      expect(output).toContain("Usage: smgw taf bill --meter-data FILE --supplier FILE");
    }
  });

  test("wrong use is a usage error with exit code 2", () => {
    for (const argv of [
      [],
      ["--meter-data", meterData],
      ["--supplier", supplier],
      ["--meter-data"],
      ["--meter-data", "--supplier", supplier],
      ["--meter-data", meterData, "--supplier", supplier, "--verbose"],
      ["--meter-data", meterData, "--meter-data", meterData, "--supplier", supplier],
      ["extra", "--meter-data", meterData, "--supplier", supplier],
    ]) {
      const { exitCode, output } = runTafBill(argv);
      expect(exitCode).toBe(2);
      expect(errorKind(output)).toBe("USAGE");
    }
  });

  test("unreadable and invalid files give a JSON error with exit code 1", () => {
    const missing = runTafBill([
      "--meter-data",
      path.join(dir, "nope.xml"),
      "--supplier",
      supplier,
    ]);
    expect(missing.exitCode).toBe(1);
    expect(errorKind(missing.output)).toBe("FILE_NOT_READABLE");

    const broken = path.join(dir, "broken.xml");
    writeFileSync(broken, "<UsagePoints><UsagePoint>");
    const malformed = runTafBill(["--meter-data", meterData, "--supplier", broken]);
    expect(malformed.exitCode).toBe(1);
    const error = JSON.parse(malformed.output).error;
    expect(error.kind).toBe("SUPPLIER_FILE_PARSE_ERROR");
    expect(error.reason).toBe("MALFORMED_XML");
    expect(error.message).toContain("line");

    const swapped = runTafBill(["--meter-data", supplier, "--supplier", meterData]);
    expect(swapped.exitCode).toBe(1);
    expect(errorKind(swapped.output)).toMatch(/^(METER_DATA|SUPPLIER_FILE)_PARSE_ERROR$/);
    expect(JSON.parse(swapped.output).error.reason).toBe("MISSING_ELEMENT");
  });
});
