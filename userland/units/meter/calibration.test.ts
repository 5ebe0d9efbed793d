// The meter domain's calibration-log recorder against a storage that fails, refuses and
// recovers: a register that runs backwards is recorded once until it is accepted again, events
// reach storage in order, nothing is lost while storage is away, a refused batch does not block
// the rest, and an overfull queue drops its oldest with an error that says so.
import { describe, expect, test } from "bun:test";
import { createLogger } from "@smgw/daemon";
import { type CalibrationEvent, IpcError } from "@smgw/ipc";
import { CalibrationRecorder, MAX_WAITING } from "./calibration.ts";

function storage() {
  const stored: CalibrationEvent[] = [];
  const logs: Record<string, unknown>[] = [];
  let failWith: Error | undefined;
  let refuseEvent: string | undefined;
  let calls = 0;
  const ifm = {
    // biome-ignore lint/suspicious/noExplicitAny: the one message the recorder sends
    async request(to: string, type: string, body: any): Promise<any> {
      calls++;
      expect([to, type]).toEqual(["storage", "storage.calibration-append"]);
      expect(body.entries.length).toBeGreaterThan(0);
      expect(body.entries.length).toBeLessThanOrEqual(64);
      await Bun.sleep(0);
      if (failWith) throw failWith;
      if (body.entries.some((e: CalibrationEvent) => e.event === refuseEvent)) {
        throw new IpcError("invalid-body", "entries/0/event: does not fit");
      }
      stored.push(...body.entries);
      return { last: stored.length };
    },
  };
  const log = createLogger("meter", { write: (l) => logs.push(JSON.parse(l)) });
  return {
    ifm,
    log,
    stored,
    logs,
    calls: () => calls,
    fail(e: Error | undefined) {
      failWith = e;
    },
    refuse(event: string | undefined) {
      refuseEvent = event;
    },
  };
}

const event = (n: number): CalibrationEvent => ({
  event: "tariff.configured",
  meter: "meter-1",
  detail: { n },
});

describe("calibration recorder", () => {
  test("a register that runs backwards is recorded once until it is accepted again", async () => {
    const s = storage();
    const r = new CalibrationRecorder(s.ifm, s.log);
    r.registerRanBackwards("meter-1", "1-0:1.8.0*255", 100, 90);
    r.registerRanBackwards("meter-1", "1-0:1.8.0*255", 100, 80);
    r.registerRanBackwards("meter-2", "1-0:1.8.0*255", 5, 4);
    r.registerAccepted("meter-1", "1-0:2.8.0*255");
    r.registerRanBackwards("meter-1", "1-0:1.8.0*255", 100, 70);
    r.registerAccepted("meter-1", "1-0:1.8.0*255");
    r.registerRanBackwards("meter-1", "1-0:1.8.0*255", 110, 95);
    await r.flush();
    expect(s.stored.map((e) => [e.meter, e.detail.value])).toEqual([
      ["meter-1", 90],
      ["meter-2", 4],
      ["meter-1", 95],
    ]);
    expect(r.counters.recorded).toBe(3);
    await r.stop();
  });

  test("while storage is away the events wait, in order, and all arrive when it is back", async () => {
    const s = storage();
    const r = new CalibrationRecorder(s.ifm, s.log, 20);
    s.fail(new IpcError("unavailable", "storage is not connected"));
    for (let i = 0; i < 150; i++) r.record(event(i));
    await r.flush();
    expect(s.stored).toEqual([]);
    expect(r.pending).toBe(150);
    expect(s.logs.some((l) => l.msg === "calibration-log events not stored yet; retrying")).toBe(
      true,
    );
    s.fail(undefined);
    // The retry timer brings them in, in batches of at most 64, in order.
    for (let i = 0; i < 200 && r.pending > 0; i++) await Bun.sleep(10);
    expect(s.stored.map((e) => e.detail.n)).toEqual([...Array(150).keys()]);
    expect(r.counters.failures).toBeGreaterThan(0);
    await r.stop();
  });

  test("a batch refused as malformed is dropped and logged; the events after it go on", async () => {
    const s = storage();
    const r = new CalibrationRecorder(s.ifm, s.log, 20);
    s.refuse("bad.event");
    r.record(event(1));
    await r.flush();
    r.record({ event: "bad.event", detail: {} });
    r.record(event(2));
    await r.flush();
    await r.flush();
    expect(s.stored.map((e) => e.detail.n)).toEqual([1, 2]);
    expect(r.counters.dropped).toBe(1);
    expect(s.logs.find((l) => l.msg === "calibration-log events refused")).toMatchObject({
      dropped: 1,
      first: "bad.event",
    });
    await r.stop();
  });

  test("an overfull queue drops its oldest waiting events, never the batch in flight", async () => {
    const s = storage();
    const r = new CalibrationRecorder(s.ifm, s.log, 60_000);
    s.fail(new IpcError("unavailable", "storage is not connected"));
    r.record(event(0));
    await r.flush();
    // One batch is in flight (and will fail) while the queue overflows behind it.
    for (let i = 1; i <= MAX_WAITING + 10; i++) r.record(event(i));
    await r.flush();
    // At most MAX_WAITING wait besides the batch that was in flight (events 0 and 1).
    expect(r.pending + r.counters.dropped).toBe(MAX_WAITING + 11);
    expect(r.pending).toBe(MAX_WAITING + 2);
    expect(
      s.logs.some((l) => l.msg === "calibration-log events dropped: storage has not taken them"),
    ).toBe(true);
    s.fail(undefined);
    await r.flush();
    expect(r.pending).toBe(0);
    const n = s.stored.map((e) => e.detail.n as number);
    // The batch in flight survived; the oldest of those behind it were dropped; order kept.
    expect(n.slice(0, 2)).toEqual([0, 1]);
    expect(n[2]).toBe(11);
    expect(n).toEqual([...n].sort((a, b) => a - b));
    expect(n[n.length - 1]).toBe(MAX_WAITING + 10);
    await r.stop();
  });

  test("after stop nothing more is recorded or retried", async () => {
    const s = storage();
    const r = new CalibrationRecorder(s.ifm, s.log, 10);
    r.record(event(1));
    await r.stop();
    expect(s.stored).toHaveLength(1);
    r.record(event(2));
    await Bun.sleep(30);
    expect(s.stored).toHaveLength(1);
    expect(s.calls()).toBe(1);
  });
});
