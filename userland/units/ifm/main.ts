// ifm: loads the policy, compiles the rule table and brokers every unit's IPC.
import { type DaemonMain, ifmSocketPath } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile, UNIT_NAMES } from "@smgw/policy";
import { Broker } from "./broker.ts";

export const main: DaemonMain = async ({ config, log }) => {
  const table = compileRuleTable(await loadPolicyFile(config.SMGW_POLICY));
  const broker = new Broker(table, log);
  for (const unit of UNIT_NAMES) {
    if (unit === "ifm") continue;
    broker.listen(unit, ifmSocketPath(config.SMGW_RUN_DIR, unit));
  }
  log.info("policy loaded", { policy: table.digest.slice(0, 16), units: UNIT_NAMES.length - 1 });
  return {
    stop: () => broker.stop(),
    status: () =>
      `brokering for ${UNIT_NAMES.length - 1} units, policy ${table.digest.slice(0, 12)}`,
  };
};
