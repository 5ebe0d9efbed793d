// admin: the WAN domain. It listens for the GWA's wake-up on the WAN (the only packet a WAN
// party may send unasked, PP-WAN-1). Verifying a wake-up needs the GWA's signing certificate,
// provisioned with the administration work; until one is provisioned every packet is refused
// and logged, and the gateway never connects anywhere because of one.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { compileRuleTable, loadPolicyFile } from "@smgw/policy";

/** Largest wake-up datagram looked at; anything longer is refused unread. */
const MAX_WAKE_UP = 1024;

export const main: DaemonMain = async (ctx) => {
  const table = compileRuleTable(await loadPolicyFile(ctx.config.SMGW_POLICY));
  const listener = table.listeners.find((l) => l.unit === "admin" && l.protocol === "udp");
  const ifm = await connectToIfm(ctx);
  let refused = 0;
  const socket = listener
    ? await Bun.udpSocket({
        hostname: process.env.SMGW_LISTEN_ADDRESS ?? listener.address,
        port: listener.port,
        socket: {
          data: (_s, buf, port, address) => {
            refused++;
            const reason =
              buf.length > MAX_WAKE_UP
                ? "oversized"
                : !listener.peers.includes(address)
                  ? "sender is not a configured GWA address"
                  : "no GWA wake-up certificate provisioned";
            ctx.log.warn("wake-up refused", {
              event: "wake-up.refused",
              from: address,
              port,
              bytes: buf.length,
              reason,
            });
            ifm
              .request("storage", "storage.append-log", {
                event: "wake-up.refused",
                severity: "warning",
                detail: { from: address, reason },
              })
              .catch((e: unknown) => ctx.log.warn("system log unavailable", { error: String(e) }));
          },
        },
      })
    : undefined;
  serveStatus(ifm, ctx, () => ({ wakeUpPort: listener?.port ?? null, refused }));
  return {
    stop: () => {
      socket?.close();
      ifm.close();
    },
    status: () => `wake-up listener on ${listener?.address}:${listener?.port}`,
  };
};
