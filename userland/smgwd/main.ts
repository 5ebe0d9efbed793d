// smgwd: the gateway's one multi-call executable. The unit is named by the first argument
// (`smgwd meter`) or by the name it was called by (`smgw-meter`, a link to smgwd).
import path from "node:path";
import { runDaemon } from "@smgw/daemon";
import { isUnitName, UNIT_NAMES } from "@smgw/policy";
import { UNITS } from "./units.ts";

export function unitFromInvocation(argv0: string, args: readonly string[]): string | undefined {
  const base = path.basename(argv0);
  if (base.startsWith("smgw-")) return base.slice(5);
  return args[0];
}

if (import.meta.main) {
  const name = unitFromInvocation(process.argv0, process.argv.slice(2));
  if (!name || name === "--help" || name === "-h") {
    process.stdout.write(`usage: smgwd UNIT\n  units: ${UNIT_NAMES.join(", ")}\n`);
    process.exit(name ? 0 : 64);
  }
  if (!isUnitName(name)) {
    process.stderr.write(`smgwd: unknown unit "${name}" (units: ${UNIT_NAMES.join(", ")})\n`);
    process.exit(64);
  }
  const { main } = await UNITS[name]();
  await runDaemon(name, main);
}
