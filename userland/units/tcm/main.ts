// tcm: the trusted channel manager. For now it connects to the IFM and reports its health;
// TLS through the system OpenSSL is the trusted-channel work. Requests for channels are
// refused ("unknown-type") until then, so no unit can reach the WAN.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";

export const main: DaemonMain = async (ctx) => {
  const ifm = await connectToIfm(ctx);
  serveStatus(ifm, ctx, () => ({ channels: 0 }));
  return { stop: () => ifm.close(), status: () => "connected; no channels" };
};
