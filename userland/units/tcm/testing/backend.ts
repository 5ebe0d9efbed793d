// The other side of the TCM in tests and the bench: a real IFM broker with the policy's rule
// table and the crypto unit with the development software module, in one process of their own
// (the TCM blocks on its signing connection, so they must not share its event loop).
//
//   SMGW_POLICY=... SMGW_RUN_DIR=... SMGW_STATE_DIR=<crypto state> bun backend.ts
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { createLogger, type DaemonContext, ifmSocketPath } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile, UNIT_NAMES } from "@smgw/policy";
import { main as crypto } from "../../crypto/main.ts";
import { Broker } from "../../ifm/broker.ts";

const policyFile = process.env.SMGW_POLICY ?? "";
const runDir = process.env.SMGW_RUN_DIR ?? "";
const cryptoState = process.env.SMGW_STATE_DIR ?? "";
if (!policyFile || !runDir || !cryptoState) {
  console.error("usage: SMGW_POLICY=... SMGW_RUN_DIR=... SMGW_STATE_DIR=... bun backend.ts");
  process.exit(2);
}
const log = createLogger("ifm");
const broker = new Broker(compileRuleTable(await loadPolicyFile(policyFile)), log);
for (const unit of UNIT_NAMES) {
  if (unit === "ifm") continue;
  const socket = ifmSocketPath(runDir, unit);
  // The test makes a directory itself when another user must enter it.
  if (!existsSync(path.dirname(socket)))
    mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
  broker.listen(unit, socket);
}
process.env.SMGW_SECMOD = "software";
delete process.env.SMGW_PRODUCTION;
const ctx: DaemonContext = {
  config: {
    unit: "crypto",
    SMGW_POLICY: policyFile,
    SMGW_RUN_DIR: runDir,
    SMGW_STATE_DIR: cryptoState,
  },
  log: createLogger("crypto"),
  startedAt: Date.now(),
};
const unit = await crypto(ctx);
const stop = async () => {
  await unit.stop();
  broker.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
console.log(JSON.stringify({ msg: "backend ready", pid: process.pid }));
