// meter: the LMN domain, the only place meter data enters the gateway. Meters deliver SML
// over TCP on the LMN; each connection must come from a meter's configured address and each
// SML file must name that meter's server id. Readings are validated, stamped with the
// gateway's clock and handed to storage through the IFM. Bad input is logged and dropped;
// the unit keeps serving.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";
import { type IngestCounters, startLmnListener } from "./lmn.ts";

export const main: DaemonMain = async (ctx) => {
  const table = compileRuleTable(await loadPolicyFile(ctx.config.SMGW_POLICY));
  const listener = table.listeners.find((l) => l.unit === "meter");
  if (!listener) throw new Error("the policy gives the meter domain no LMN listener");
  const ifm = await connectToIfm(ctx);
  const counters: IngestCounters = { accepted: 0, rejected: 0, badFrames: 0, unknownPeers: 0 };
  const lmn = startLmnListener({
    hostname: process.env.SMGW_LISTEN_ADDRESS ?? listener.address,
    port: listener.port,
    meters: table.meters,
    store: (meter, readings) =>
      ifm.request("storage", "storage.append-readings", { meter, readings }),
    log: ctx.log,
    counters,
  });
  serveStatus(ifm, ctx, () => ({ ...counters, meters: Object.keys(table.meters).length }));
  return {
    stop: () => {
      lmn.stop(true);
      ifm.close();
    },
    status: () => `LMN listener on ${listener.address}:${listener.port}`,
  };
};
