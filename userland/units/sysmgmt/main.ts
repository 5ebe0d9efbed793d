// sysmgmt: system management. Collects the health of every unit for the gateway status
// (the display's status page, the GWA later); configuration, updates and time come with
// their own work.
import { connectToIfm, type DaemonMain, VERSION } from "@smgw/daemon";
import type { ResponseBody } from "@smgw/ipc";
import { UNIT_NAMES } from "@smgw/policy";

export const main: DaemonMain = async (ctx) => {
  const ifm = await connectToIfm(ctx);
  const others = UNIT_NAMES.filter((u) => u !== "sysmgmt" && u !== "ifm");

  /** Ask every unit for its status; a unit that does not answer counts as down. */
  const collect = async () => {
    const answers = await Promise.all(
      others.map(async (u) => {
        try {
          const s: ResponseBody<"status.get"> = await ifm.request(u, "status.get", {});
          return [u, { state: s.state, uptimeSeconds: s.uptimeSeconds }] as const;
        } catch (e) {
          return [u, { state: "down", error: (e as Error).message }] as const;
        }
      }),
    );
    return Object.fromEntries(answers);
  };

  let lastUnits: Record<string, { state: string }> = {};
  // The gateway's own status answers with every unit's state, refreshed on each question.
  ifm.handle("status.get", async () => {
    lastUnits = await collect();
    const degraded = Object.values(lastUnits).some((s) => s.state !== "ok");
    return {
      unit: "sysmgmt",
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
      state: degraded ? "degraded" : "ok",
      detail: { units: lastUnits },
    };
  });

  return { stop: () => ifm.close(), status: () => "collecting unit health" };
};
