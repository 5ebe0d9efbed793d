// Verify secure-store and log files and print a JSON report.
//
//   bun verify-cli.ts [--master-key FILE --counters FILE] [--checkpoints] FILE...
//
// Without a key service only the structure is checked (chain, checkpoints, head, SQLite); with
// the development key service's files also the anchor's HMAC and the monotonic counter.
// Exit status: 0 all files verify, 1 a problem was found, 2 wrong usage.
import { parseArgs } from "node:util";
import { type KeyService, SoftwareKeyService } from "./keys.ts";
import type { VerifyReport } from "./verify.ts";
import { verifyLog } from "./verify-log.ts";

export async function runVerifyCli(
  argv: string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    out(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) }));
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals.length === 0 || Boolean(values["master-key"]) !== Boolean(values.counters)) {
    out(
      JSON.stringify({
        ok: false,
        error: "usage: verify-cli [--master-key FILE --counters FILE] [--checkpoints] FILE...",
      }),
    );
    return 2;
  }
  let keys: KeyService | undefined;
  if (values["master-key"] && values.counters) {
    try {
      keys = SoftwareKeyService.fromFiles({
        masterKeyFile: values["master-key"],
        counterFile: values.counters,
      });
    } catch (e) {
      out(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) }));
      return 2;
    }
  }
  const reports: VerifyReport[] = [];
  for (const file of positionals) {
    reports.push(
      await verifyLog(file, {
        ...(keys ? { keys } : {}),
        mode: values.checkpoints ? "checkpoints" : "full",
      }),
    );
  }
  const ok = reports.every((r) => r.ok);
  out(JSON.stringify({ ok, reports }, null, 2));
  return ok ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "master-key": { type: "string" },
      counters: { type: "string" },
      checkpoints: { type: "boolean", default: false },
    },
  });
}

if (import.meta.main) {
  process.exitCode = await runVerifyCli(process.argv.slice(2));
}
