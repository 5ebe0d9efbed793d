// Delivery of a profile's signed data to its EMT: the oldest delivery the EMT has not confirmed
// is taken from the store, sent as an HTTP POST over a TLS channel the TCM opens to the EMT
// (flow wan-emt-delivery), and only the EMT's 2xx answer marks it done in the store. Anything
// else (no channel, refused handshake, timeout, a 4xx/5xx, garbage) is logged and retried with
// backoff; a delivery is never dropped. The EMT recognises a delivery sent twice (after a lost
// answer) by its content and confirms it again without storing it twice.
import type { Logger } from "@smgw/daemon";
import type { IpcClient, ResponseBody } from "@smgw/ipc";
import { encodeRequest, HttpError, HttpParser, type HttpResponse } from "./http.ts";

/** The channel purpose (the TCM's outbound flow) deliveries use. */
export const DELIVERY_FLOW = "wan-emt-delivery";
export const DELIVERY_PATH = "/smgw/v1/meter-data";
const SEND_CHUNK = 96 * 1024;
const ANSWER_TIMEOUT_MS = 30_000;

type Ifm = Pick<IpcClient, "request">;

export interface DeliveryCounters {
  delivered: number;
  failedAttempts: number;
  lastError?: string;
}

export class DeliveryLoop {
  private stopped = false;
  /** A kick came since the loop last looked into the outbox: its next wait is skipped. */
  private kicked = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  readonly counters: DeliveryCounters = { delivered: 0, failedAttempts: 0 };

  constructor(
    private readonly profile: string,
    private readonly ifm: Ifm,
    private readonly log: Logger,
    private readonly options: {
      /** Who the delivery header names: the gateway, or the profile's pseudonym. */
      sender: string;
      minBackoffMs?: number;
      maxBackoffMs?: number;
    },
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  /** Something new is in the outbox: look now instead of at the next poll. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private sleep(ms: number): Promise<void> {
    // A stop or kick while the loop was busy (not sleeping) must not be lost.
    if (this.stopped || this.kicked) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    const min = this.options.minBackoffMs ?? 1000;
    const max = this.options.maxBackoffMs ?? 60_000;
    let backoff = min;
    while (!this.stopped) {
      this.kicked = false;
      let d: DeliveryItem | undefined;
      try {
        const next = await this.ifm.request("storage", "storage.delivery-next", {
          profile: this.profile,
        });
        d = next.delivery;
      } catch (e) {
        this.log.warn("outbox not readable; retrying", {
          profile: this.profile,
          error: (e as Error).message,
        });
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, max);
        continue;
      }
      if (!d) {
        await this.sleep(30_000);
        continue;
      }
      try {
        const receipt = await this.send(d);
        await this.ifm.request("storage", "storage.delivery-done", {
          profile: this.profile,
          id: d.id,
          receipt: receipt.slice(0, 200),
        });
        this.counters.delivered++;
        this.log.info("delivered", {
          event: "meter.delivered",
          profile: this.profile,
          id: d.id,
          to: d.recipient,
          summary: d.summary,
        });
        backoff = min;
      } catch (e) {
        this.counters.failedAttempts++;
        this.counters.lastError = (e as Error).message;
        this.log.warn("delivery failed; it stays in the outbox and is retried", {
          event: "meter.delivery-failed",
          profile: this.profile,
          id: d.id,
          to: d.recipient,
          error: (e as Error).message,
          retryInMs: backoff,
        });
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, max);
      }
    }
  }

  /** One attempt: channel, POST, answer; returns the EMT's receipt or throws why not. */
  private async send(d: DeliveryItem): Promise<string> {
    const opened = await this.ifm.request("tcm", "tcm.open-channel", {
      endpoint: d.recipient,
      purpose: DELIVERY_FLOW,
    });
    const channel = opened.channel;
    try {
      const request = encodeRequest({
        method: "POST",
        path: DELIVERY_PATH,
        host: d.recipient,
        headers: {
          "Content-Type": d.contentType,
          "X-SMGW-Delivery": `${this.options.sender}/${this.profile}/${d.id}`,
        },
        body: Buffer.from(d.payload, "base64"),
      });
      for (let i = 0; i < request.length; i += SEND_CHUNK) {
        await this.ifm.request("tcm", "tcm.send", {
          channel,
          data: request.subarray(i, i + SEND_CHUNK).toString("base64"),
        });
      }
      const answer = await this.receive(channel);
      if (answer.status < 200 || answer.status > 299) {
        throw new Error(
          `${d.recipient} answered ${answer.status}: ${answer.body.toString("utf8").slice(0, 200)}`,
        );
      }
      return `${answer.status} ${answer.body.toString("utf8").slice(0, 180)}`;
    } finally {
      await this.ifm.request("tcm", "tcm.close", { channel }).catch(() => {});
    }
  }

  private async receive(channel: string): Promise<HttpResponse> {
    const parser = new HttpParser<HttpResponse>("response");
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const r = await this.ifm.request("tcm", "tcm.receive", { channel, waitMs: 5000 });
      if (r.data.length > 0) {
        const done = parser.push(Buffer.from(r.data, "base64"));
        if (done) return done;
      }
      if (r.closed) {
        throw new HttpError(
          `the channel ended before a whole answer came${r.reason ? `: ${r.reason}` : ""}`,
        );
      }
    }
    throw new HttpError(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`);
  }
}

type DeliveryItem = NonNullable<ResponseBody<"storage.delivery-next">["delivery"]>;
