// The meter domain's entries in the calibration log: metrologically relevant events, sent to
// storage through the IFM. A register that ran backwards is recorded once, until that register
// is accepted again (a meter stuck below its last value would otherwise fill the log). Events
// that storage could not take wait in memory, in order, and go with the next attempt; should
// more than MAX_WAITING wait (besides a batch being sent), the oldest are dropped and that loss is logged as an error (as are
// events storage refuses as malformed, which no retry would change).
import type { Logger } from "@smgw/daemon";
import { type CalibrationEvent, type IpcClient, IpcError, type Reading } from "@smgw/ipc";
import type { Rejection } from "./validate.ts";

type Ifm = Pick<IpcClient, "request">;

/** Events kept while storage cannot take them. */
export const MAX_WAITING = 1000;
/** Events per request (the message's limit). */
const BATCH = 64;

export class CalibrationRecorder {
  /** Registers recorded as running backwards and not accepted since: "meter obis". */
  private readonly backwards = new Set<string>();
  private readonly waiting: CalibrationEvent[] = [];
  private sending: Promise<void> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  readonly counters = { recorded: 0, dropped: 0, failures: 0 };

  constructor(
    private readonly ifm: Ifm,
    private readonly log: Logger,
    private readonly retryMs = 5000,
  ) {}

  /** A cumulative register of a meter reported a value below the last one accepted. */
  registerRanBackwards(meter: string, obis: string, last: number, value: number): void {
    const key = `${meter} ${obis}`;
    if (this.backwards.has(key)) return;
    this.backwards.add(key);
    this.record({ event: "register.ran-backwards", meter, detail: { obis, last, value } });
  }

  /** A register's reading was accepted: a later backwards run is recorded again. */
  registerAccepted(meter: string, obis: string): void {
    if (this.backwards.size > 0) this.backwards.delete(`${meter} ${obis}`);
  }

  record(event: CalibrationEvent): void {
    if (this.stopped) return;
    this.waiting.push(event);
    if (this.waiting.length > MAX_WAITING) {
      const lost = this.waiting.splice(0, this.waiting.length - MAX_WAITING);
      this.counters.dropped += lost.length;
      this.log.error("calibration-log events dropped: storage has not taken them", {
        dropped: lost.length,
        first: lost[0]?.event ?? "",
      });
    }
    void this.flush();
  }

  /** Sends what waits; resolves when nothing waits or an attempt failed (a retry is set). */
  flush(): Promise<void> {
    this.sending ??= this.send().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  /** Stops retrying; what still waits is tried once more. */
  async stop(): Promise<void> {
    clearTimeout(this.retryTimer);
    await this.flush();
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  get pending(): number {
    return this.waiting.length;
  }

  private async send(): Promise<void> {
    while (this.waiting.length > 0) {
      // The batch leaves the queue while it is sent, so dropping the oldest of an overfull
      // queue never touches it; on failure it goes back to the front, in order.
      const batch = this.waiting.splice(0, BATCH);
      try {
        await this.ifm.request("storage", "storage.calibration-append", { entries: batch });
      } catch (e) {
        if (e instanceof IpcError && (e.code === "invalid-body" || e.code === "denied")) {
          // Refused as such, not for want of storage: retrying would block every later event.
          this.counters.dropped += batch.length;
          this.log.error("calibration-log events refused", {
            dropped: batch.length,
            first: batch[0]?.event ?? "",
            error: e.message,
          });
          continue;
        }
        this.waiting.unshift(...batch);
        this.counters.failures++;
        this.log.warn("calibration-log events not stored yet; retrying", {
          waiting: this.waiting.length,
          error: (e as Error).message,
        });
        if (!this.stopped) {
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => void this.flush(), this.retryMs);
          this.retryTimer.unref?.();
        }
        return;
      }
      this.counters.recorded += batch.length;
    }
  }
}

/** Refused readings: each logged, a register that ran backwards also recorded. */
export function noteRefused(
  log: Logger,
  calibration: CalibrationRecorder | undefined,
  meter: string,
  rejected: readonly Rejection[],
): void {
  for (const r of rejected) {
    log.warn("reading refused", { meter, obis: r.obis, reason: r.reason });
    if (r.backwards)
      calibration?.registerRanBackwards(meter, r.obis, r.backwards.last, r.backwards.value);
  }
}

/** Readings storage acknowledged: the registers' last values move on. */
export function noteStored(
  last: Map<string, number>,
  calibration: CalibrationRecorder | undefined,
  meter: string,
  accepted: readonly Reading[],
): void {
  for (const r of accepted) {
    last.set(r.obis, r.value);
    calibration?.registerAccepted(meter, r.obis);
  }
}
