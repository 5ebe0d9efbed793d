// crypto: the crypto manager, the only unit that will talk to the security module. For now
// it connects to the IFM and reports its health; key operations come with the
// security-module work and are refused ("unknown-type") until then.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";

export const main: DaemonMain = async (ctx) => {
  const ifm = await connectToIfm(ctx);
  serveStatus(ifm, ctx, () => ({ securityModule: "none" }));
  return { stop: () => ifm.close(), status: () => "connected; no security module" };
};
