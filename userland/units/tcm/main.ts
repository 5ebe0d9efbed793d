// tcm: the trusted channel manager, the one unit that opens TLS sessions. Domains ask it for
// channels through the IFM (tcm.open-channel, tcm.send, tcm.receive, tcm.close, tcm.accept); it
// decides from the policy where each unit may go, connects with the credentials the policy names
// and terminates the inbound TLS the policy gives the HAN (the display, the CLS proxy). Its
// private keys stay in the security module: each handshake signature is a crypto.sign.
//
// Environment besides the daemon's own:
//   SMGW_DISPLAY_TCM_PORT   the display's loopback listener for the TCM (enables display TLS)
import { type DaemonMain, ifmSocketPath, VERSION } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";
import { credentialLayout } from "./credentials.ts";
import { IfmLink } from "./ifm-link.ts";
import { TrustedChannelManager } from "./service.ts";

export const main: DaemonMain = async (ctx) => {
  const policy = await loadPolicyFile(ctx.config.SMGW_POLICY);
  const table = compileRuleTable(policy);
  const displayPort = readPort(process.env.SMGW_DISPLAY_TCM_PORT);
  const ifm = new IfmLink({
    socketPath: ifmSocketPath(ctx.config.SMGW_RUN_DIR, ctx.config.unit),
    log: ctx.log,
  });
  await ifm.start();
  const tcm = new TrustedChannelManager({
    policy,
    table,
    layout: credentialLayout(ctx.config.SMGW_STATE_DIR),
    ifm,
    log: ctx.log,
    ...(displayPort !== undefined ? { displayPort } : {}),
  });
  ifm.handle("tcm.open-channel", (body, d) => tcm.open(body, d));
  ifm.handle("tcm.send", (body, d) => tcm.send(body, d));
  ifm.handle("tcm.receive", (body, d) => tcm.receive(body, d));
  ifm.handle("tcm.close", (body, d) => tcm.close(body, d));
  ifm.handle("tcm.accept", (body, d) => tcm.accept(body, d));
  ifm.handle("cls.relay", (body, d) => tcm.relay(body, d));
  ifm.handle("status.get", () => ({
    unit: ctx.config.unit,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
    state: tcm.degraded() ? "degraded" : "ok",
    detail: { ...tcm.status(), signing: ifm.signStats(), ifmReconnects: ifm.recycled },
  }));
  tcm.start();
  return {
    stop: () => {
      tcm.stop();
      ifm.close();
    },
    status: () => `${tcm.channels.size} channels, ${tcm.inbound.listening().length} TLS listeners`,
  };
};

function readPort(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`SMGW_DISPLAY_TCM_PORT ${text} is not a port`);
  }
  return port;
}
