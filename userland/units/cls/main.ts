// cls: the CLS proxy. For now it connects to the IFM and reports its health; the relay
// (TLS in on the HAN, TLS out to the authorised endpoint through the TCM) is built with the
// trusted channel manager. Until then nothing is relayed: the policy's cls.relay is answered
// "unknown-type" by the TCM, which is a refusal, never a silent pass.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";

export const main: DaemonMain = async (ctx) => {
  const ifm = await connectToIfm(ctx);
  serveStatus(ifm, ctx, () => ({ relaying: false }));
  return { stop: () => ifm.close(), status: () => "connected; relay not yet available" };
};
