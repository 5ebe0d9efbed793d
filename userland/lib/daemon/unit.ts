// What every unit does besides its own work: connect to the IFM on its socket and answer
// system management's status question.
import { IpcClient } from "@smgw/ipc";
import { ifmSocketPath } from "./config.ts";
import type { DaemonContext } from "./run.ts";
import { VERSION } from "./run.ts";

export async function connectToIfm(ctx: DaemonContext): Promise<IpcClient> {
  const client = new IpcClient({
    socketPath: ifmSocketPath(ctx.config.SMGW_RUN_DIR, ctx.config.unit),
    log: (level, msg, fields) => ctx.log[level](msg, fields),
  });
  await client.connectWithRetry(30_000);
  return client;
}

/** Answer status.get with this unit's health; `detail` must hold no consumer data. */
export function serveStatus(
  client: IpcClient,
  ctx: DaemonContext,
  detail: () => Record<string, unknown> = () => ({}),
  degraded: () => boolean = () => false,
): void {
  client.handle("status.get", () => ({
    unit: ctx.config.unit,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
    state: degraded() ? "degraded" : "ok",
    detail: detail(),
  }));
}
