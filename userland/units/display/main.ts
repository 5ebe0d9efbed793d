// display: the HAN interface for consumers and the service technician. Plain HTTP inside the
// gateway's HAN until the trusted channel manager terminates TLS for it; then the TCM forwards
// sessions to a loopback listener and names the verified client certificate (client-cert.ts).
//
// Environment besides the daemon's own:
//   SMGW_LISTEN_ADDRESS      listen here instead of the policy's HAN address (tests)
//   SMGW_GATEWAY_ID          the gateway's identity in AR 2418-6 exports (default "smgw")
//   SMGW_DISPLAY_TCM_PORT    open the loopback listener for the TCM on this port
//   SMGW_DISPLAY_HOSTS       extra Host names to answer for (comma-separated)
//   SMGW_DISPLAY_SECURE_COOKIES=1  mark the session cookie Secure (behind TLS)
import path from "node:path";
import { connectToIfm, type DaemonMain, serveStatus, VERSION } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";
import { createDisplay } from "./app.ts";
import { loadAccounts } from "./auth.ts";
import { trustedHeaderSource } from "./client-cert.ts";
import { listen } from "./serve.ts";

export const main: DaemonMain = async (ctx) => {
  const table = compileRuleTable(await loadPolicyFile(ctx.config.SMGW_POLICY));
  const listener = table.listeners.find((l) => l.unit === "display");
  if (!listener) throw new Error("the policy gives the display no HAN listener");
  const accounts = loadAccounts(path.join(ctx.config.SMGW_STATE_DIR, "accounts.json"));
  const ifm = await connectToIfm(ctx);
  const address = process.env.SMGW_LISTEN_ADDRESS ?? listener.address;
  const tcmPort = process.env.SMGW_DISPLAY_TCM_PORT
    ? Number(process.env.SMGW_DISPLAY_TCM_PORT)
    : undefined;
  if (tcmPort !== undefined && !(Number.isInteger(tcmPort) && tcmPort > 0 && tcmPort < 65536)) {
    throw new Error(`SMGW_DISPLAY_TCM_PORT ${process.env.SMGW_DISPLAY_TCM_PORT} is not a port`);
  }
  const hostOf = (a: string, port: number) => `${a.includes(":") ? `[${a}]` : a}:${port}`;
  const allowedHosts = [
    hostOf(address, listener.port),
    ...(tcmPort ? [hostOf("127.0.0.1", tcmPort), `localhost:${tcmPort}`] : []),
    ...(process.env.SMGW_DISPLAY_HOSTS ?? "")
      .split(",")
      .map((h) => h.trim())
      .filter(Boolean),
  ];
  const display = createDisplay({
    ifm,
    table,
    accounts,
    log: ctx.log,
    version: VERSION,
    gatewayId: (process.env.SMGW_GATEWAY_ID ?? "smgw").slice(0, 32),
    certificates: trustedHeaderSource(),
    secureCookies: process.env.SMGW_DISPLAY_SECURE_COOKIES === "1",
    allowedHosts,
  });
  const server = listen(display, {
    hostname: address,
    port: listener.port,
    listener: "han",
    log: ctx.log,
  });
  const tcm =
    tcmPort === undefined
      ? undefined
      : listen(display, { hostname: "127.0.0.1", port: tcmPort, listener: "tcm", log: ctx.log });
  serveStatus(ifm, ctx, () => {
    const s = display.stats();
    return {
      port: listener.port,
      accounts: display.auth.accountCount,
      sessions: s.sessions,
      served: Object.values(s.requests as Record<string, number>).reduce((a, b) => a + b, 0),
    };
  });
  return {
    stop: async () => {
      await server.stop(true);
      await tcm?.stop(true);
      ifm.close();
    },
    status: () => `HAN interface on ${address}:${listener.port}`,
  };
};
