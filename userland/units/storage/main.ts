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
  ifm.handle("storage.query-readings", (body, { from, scope }) => {
    if (!scope?.meters.includes(body.meter)) {
      throw new IpcError("denied", `meter ${body.meter} is outside the request's consumer scope`);
    }
    const page = store.queryReadings(body);
    // The consumer log: every flow of a consumer's data, what went to whom and when.
    store.appendConsumerLog({
      consumer: scope.consumer,
      meter: body.meter,
      text: `${page.readings.length} readings of ${body.meter}${body.from ? ` from ${body.from}` : ""}${body.to ? ` to ${body.to}` : ""} given to ${from} for ${scope.consumer}`,
    });
    return page;
  });
  ifm.handle("storage.tariff-registers", (body, { scope }) => {
    if (!scope?.meters.includes(body.meter)) {
      throw new IpcError("denied", `meter ${body.meter} is outside the request's consumer scope`);
    }
    // No tariff profile computes registers into the store yet: none to give.
    return { registers: [] };
  });
  ifm.handle("storage.consumer-log", (body, { scope }) => {
    if (!scope) throw new IpcError("denied", "the consumer log is read only for its consumer");
    if (body.meter !== undefined && !scope.meters.includes(body.meter)) {
      throw new IpcError("denied", `meter ${body.meter} is outside the request's consumer scope`);
    }
    return store.queryConsumerLog({ ...body, consumer: scope.consumer });
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
