// storage: the only unit that writes the data volume. It serves the meter domain's store
// and the system log through the IFM; which unit may ask what is the IFM's decision, and the
// checks here repeat the policy's intent as a second line.
import { connectToIfm, type DaemonMain, serveStatus } from "@smgw/daemon";
import { IpcError } from "@smgw/ipc";
import { ReadingStore } from "./store.ts";

export const main: DaemonMain = async (ctx) => {
  const store = new ReadingStore(ctx.config.SMGW_STATE_DIR);
  const ifm = await connectToIfm(ctx);

  ifm.handle("storage.append-readings", (body, { from }) => {
    if (from !== "meter") throw new IpcError("denied", "only the meter domain writes readings");
    return { stored: store.appendReadings(body.meter, body.readings) };
  });
  ifm.handle("storage.query-readings", (body, { scope }) => {
    if (!scope?.meters.includes(body.meter)) {
      throw new IpcError("denied", `meter ${body.meter} is outside the request's consumer scope`);
    }
    return store.queryReadings(body);
  });
  ifm.handle("storage.list-meters", (_body, { scope }) => {
    if (!scope) throw new IpcError("denied", "listing meters needs a consumer scope");
    return { meters: store.listMeters(scope.meters) };
  });
  ifm.handle("storage.append-log", (body, { from }) => ({
    seq: store.appendLog(from, body.event, body.severity, body.detail),
  }));
  serveStatus(ifm, ctx, () => store.counts());

  return {
    stop: () => {
      ifm.close();
      store.close();
    },
    status: () => "serving the meter store and the system log",
  };
};
