// crypto: the crypto manager, the only unit that talks to the security module (a smart card
// through PC/SC, a TPM 2.0 through tpm2-tss, or, in development only, the software module).
// The backend comes from the environment (lib/secmod/config.ts). It serves crypto.sign and
// secure storage's wrap/unwrap/counters; the further operations in contracts-proposed.ts wait
// for their contracts in the policy.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { openSecurityModule, readSecmodConfig } from "@smgw/secmod";
import { CryptoService } from "./service.ts";

export const main: DaemonMain = async (ctx) => {
  const selection = readSecmodConfig(process.env, ctx.config.SMGW_STATE_DIR);
  const module = openSecurityModule(selection, (msg, fields) => ctx.log.warn(msg, fields));
  if (!module) {
    ctx.log.warn("no security module configured (SMGW_SECMOD unset): key operations refused");
  } else {
    try {
      ctx.log.info("security module", { description: (await module.info()).description });
    } catch (e) {
      // Not fatal: the module may come later (card inserted, TPM started); calls reconnect.
      ctx.log.warn("security module not reachable yet", { error: (e as Error).message });
    }
  }
  const service = new CryptoService(module, ctx.log);
  const ifm = await connectToIfm(ctx);
  ifm.handle("crypto.sign", (body, { from }) => service.sign(body, from));
  // Secure storage's keys and anchors (the service refuses any caller but storage).
  ifm.handle("crypto.wrap", (body, { from }) => service.wrap(body, from));
  ifm.handle("crypto.unwrap", (body, { from }) => service.unwrap(body, from));
  ifm.handle("crypto.counter-read", (body, { from }) => service.counterRead(body, from));
  ifm.handle("crypto.counter-increment", (body, { from }) => service.counterIncrement(body, from));
  serveStatus(
    ifm,
    ctx,
    () => ({ ...service.status() }),
    () => service.degraded(),
  );
  return {
    stop: async () => {
      ifm.close();
      await module?.close();
    },
    status: () => `security module: ${module?.kind ?? "none"}`,
  };
};
