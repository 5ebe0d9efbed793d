/**
 * `smgw taf bill --meter-data FILE --supplier FILE`: prints the billing registers as JSON.
 * runTafBill takes the arguments after "taf bill" (a leading "taf" and "bill" are accepted too)
 * and never throws: failures come back as a non-zero exit code with a JSON error object.
 */
import { readFileSync } from "node:fs";
import { billDocuments } from "./bill.ts";
import { goldenErrorName, TafError } from "./errors.ts";

export const TAF_BILL_USAGE = `Usage: smgw taf bill --meter-data FILE --supplier FILE

Calculates the billing registers of a tariff use case (TAF1 or TAF2, as the supplier's
AnalysisProfile/tariffUseCase says) from VDE AR 2418-6 documents, the way TRuDI does.

  --meter-data FILE  meter data from the gateway (IF_Adapter_TRuDI XML)
  --supplier FILE    the supplier's tariff (IF_Lieferant_TRuDI XML)
  -h, --help         show this help

Output (exit code 0):
  {"tariffUseCase":2,"begin":"…","end":"…","registers":[{"obis":"1-0:1.8.1*255","tariffId":1,"amount":360},…]}
Amounts are in the raw units of the readings' values (the ReadingType scaler is not applied).
On invalid input the exit code is 1 (2 for wrong use) and the output is
  {"error":{"kind":"…","message":"…"}}
`;

export interface CliOutcome {
  exitCode: number;
  output: string;
}

const EXIT_INVALID_INPUT = 1;
const EXIT_USAGE = 2;

function errorOutcome(error: TafError): CliOutcome {
  // `kind` names the class of failure as TRuDI reports it (a supplier file that cannot be
  // read is one kind, whatever the detail); `reason` keeps the precise cause.
  const body: Record<string, string> = {
    kind: error.kind === "USAGE" ? "USAGE" : goldenErrorName(error),
    message: error.message,
  };
  if (body.kind !== error.kind) body.reason = error.kind;
  if (error.element !== undefined) body.element = error.element;
  return {
    exitCode: error.kind === "USAGE" ? EXIT_USAGE : EXIT_INVALID_INPUT,
    output: JSON.stringify({ error: body }),
  };
}

function usageError(message: string): TafError {
  return new TafError("USAGE", "usage", `${message} (see --help)`);
}

interface Options {
  meterData: string;
  supplier: string;
}

function parseArguments(argv: readonly string[]): Options | "help" {
  const args = [...argv];
  if (args[0] === "taf") args.shift();
  if (args[0] === "bill") args.shift();
  let meterData: string | undefined;
  let supplier: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "-h" || arg === "--help") return "help";
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    if (name !== "--meter-data" && name !== "--supplier") {
      throw usageError(`unknown argument "${arg}"`);
    }
    let value: string | undefined;
    if (eq > 0 && arg.startsWith("--")) {
      value = arg.slice(eq + 1);
    } else {
      value = args[i + 1];
      i++;
    }
    if (value === undefined || value === "" || value.startsWith("--")) {
      throw usageError(`${name} needs a file name`);
    }
    if (name === "--meter-data") {
      if (meterData !== undefined) throw usageError("--meter-data given twice");
      meterData = value;
    } else {
      if (supplier !== undefined) throw usageError("--supplier given twice");
      supplier = value;
    }
  }
  if (meterData === undefined) throw usageError("--meter-data FILE is required");
  if (supplier === undefined) throw usageError("--supplier FILE is required");
  return { meterData, supplier };
}

function readInput(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? "error";
    throw new TafError(
      "FILE_NOT_READABLE",
      "usage",
      `cannot read the ${what} file "${file}" (${code})`,
    );
  }
}

export function runTafBill(argv: string[]): { exitCode: number; output: string } {
  try {
    const options = parseArguments(argv);
    if (options === "help") return { exitCode: 0, output: TAF_BILL_USAGE };
    const meterData = readInput(options.meterData, "meter-data");
    const supplier = readInput(options.supplier, "supplier");
    const result = billDocuments(meterData, supplier);
    return { exitCode: 0, output: JSON.stringify(result) };
  } catch (error) {
    if (error instanceof TafError) return errorOutcome(error);
    // Not expected; reported rather than thrown so that a caller's process never dies here.
    const message = error instanceof Error ? error.message : String(error);
    return {
      exitCode: EXIT_INVALID_INPUT,
      output: JSON.stringify({ error: { kind: "INTERNAL", message } }),
    };
  }
}

if (import.meta.main) {
  const { exitCode, output } = runTafBill(process.argv.slice(2));
  process.stdout.write(`${output}\n`);
  process.exit(exitCode);
}
