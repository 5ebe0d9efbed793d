// display: the HAN interface for consumers and the service technician. Plain HTTP inside
// the gateway's HAN until the trusted channel manager terminates TLS for it.
import path from "node:path";
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";
import { createHandler, json } from "./api.ts";
import { Authenticator, loadAccounts } from "./auth.ts";

export const main: DaemonMain = async (ctx) => {
  const table = compileRuleTable(await loadPolicyFile(ctx.config.SMGW_POLICY));
  const listener = table.listeners.find((l) => l.unit === "display");
  if (!listener) throw new Error("the policy gives the display no HAN listener");
  const accounts = loadAccounts(path.join(ctx.config.SMGW_STATE_DIR, "accounts.json"));
  const ifm = await connectToIfm(ctx);
  let served = 0;
  const handler = createHandler({ ifm, auth: new Authenticator(accounts), log: ctx.log });
  const server = Bun.serve({
    hostname: process.env.SMGW_LISTEN_ADDRESS ?? listener.address,
    port: listener.port,
    maxRequestBodySize: 16 * 1024,
    fetch: (req) => {
      served++;
      return handler(req);
    },
    error: (e) => {
      ctx.log.error("request crashed", { error: e.message });
      return json(500, { error: { code: "internal", message: "internal error" } });
    },
  });
  serveStatus(ifm, ctx, () => ({
    port: listener.port,
    accounts: Object.keys(accounts).length,
    served,
  }));
  return {
    stop: async () => {
      await server.stop(true);
      ifm.close();
    },
    status: () => `HAN interface on ${listener.address}:${listener.port}`,
  };
};
