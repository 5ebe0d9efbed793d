// net: the network manager. It reports the state of the gateway's three interfaces as the
// kernel shows them; applying the compiled packet filter is the policy-enforcement work.
import { readFileSync } from "node:fs";
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { loadPolicyFile } from "@smgw/policy";

export const main: DaemonMain = async (ctx) => {
  const policy = await loadPolicyFile(ctx.config.SMGW_POLICY);
  const nics = Object.entries(policy.document.networks).map(([name, n]) => ({
    name,
    ifname: n.interface,
  }));
  const operState = (ifname: string): string => {
    try {
      return readFileSync(`/sys/class/net/${ifname}/operstate`, "utf8").trim();
    } catch {
      return "absent";
    }
  };
  const ifm = await connectToIfm(ctx);
  serveStatus(
    ifm,
    ctx,
    () =>
      Object.fromEntries(
        nics.map((n) => [n.name, { interface: n.ifname, state: operState(n.ifname) }]),
      ),
    () => nics.some((n) => operState(n.ifname) !== "up"),
  );
  return {
    stop: () => ifm.close(),
    status: () => `watching ${nics.map((n) => n.ifname).join(", ")}`,
  };
};
