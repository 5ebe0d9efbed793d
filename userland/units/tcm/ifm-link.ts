// The TCM's two connections to the IFM: the usual asynchronous one (deliveries, requests) and
// the synchronous signing connection (sign-link.ts) that OpenSSL's sign callback waits on.
// The IFM hands a unit's deliveries to its newest connection, so the signing connection must
// always be the older one: it is opened first, and whenever it has to be reopened (the IFM
// restarted) a fresh asynchronous connection is made after it and the old one retired once
// its handlers have answered.
import type { Logger } from "@smgw/daemon";
import {
  type DeliveryContext,
  IpcClient,
  IpcError,
  type MessageType,
  type RequestBody,
  type ResponseBody,
} from "@smgw/ipc";
import { SignLink } from "./sign-link.ts";

export interface IfmLinkOptions {
  socketPath: string;
  log: Logger;
  /** Timeout of asynchronous requests. Default 10 s. */
  requestTimeoutMs?: number;
  /** Longest wait for a signature. Default 5 s. */
  signTimeoutMs?: number;
  /** How often the signing connection is looked at. Default 1 s. */
  checkIntervalMs?: number;
}

type AnyHandler = (body: unknown, ctx: DeliveryContext) => unknown;

/** crypto.sign's algorithms, by the hash OpenSSL used. */
export const SIGN_ALGORITHMS: Readonly<Record<string, "ecdsa-sha256" | "ecdsa-sha384">> = {
  sha256: "ecdsa-sha256",
  sha384: "ecdsa-sha384",
};

export class IfmLink {
  #client: IpcClient | undefined;
  readonly #handlers = new Map<string, AnyHandler>();
  readonly #busy = new Map<IpcClient, number>();
  readonly #sign: SignLink;
  #timer: ReturnType<typeof setInterval> | undefined;
  #recycling: Promise<void> | undefined;
  #stopped = false;
  /** Asynchronous connections replaced because the signing connection was reopened. */
  recycled = 0;

  constructor(private readonly o: IfmLinkOptions) {
    this.#sign = new SignLink({
      socketPath: o.socketPath,
      log: o.log,
      ...(o.signTimeoutMs !== undefined ? { timeoutMs: o.signTimeoutMs } : {}),
      onStrayDelivery: () => this.#recycleSoon(),
    });
  }

  /** Connects both, the signing connection first; retries for up to `deadlineMs`. */
  async start(deadlineMs = 30_000): Promise<void> {
    const end = Date.now() + deadlineMs;
    let wait = 50;
    for (;;) {
      try {
        this.#sign.open();
        break;
      } catch (e) {
        if (Date.now() + wait > end) throw e;
        await Bun.sleep(wait);
        wait = Math.min(wait * 2, 1000);
      }
    }
    const client = this.#newClient();
    await client.connectWithRetry(Math.max(1000, end - Date.now()));
    this.#client = client;
    this.#timer = setInterval(() => this.#check(), this.o.checkIntervalMs ?? 1000);
    this.#timer.unref?.();
  }

  handle<M extends MessageType>(
    type: M,
    handler: (
      body: RequestBody<M>,
      ctx: DeliveryContext,
    ) => ResponseBody<M> | Promise<ResponseBody<M>>,
  ): void {
    this.#handlers.set(type, handler as AnyHandler);
    this.#client?.handle(type, this.#wrap(this.#client, handler as AnyHandler) as never);
  }

  request<M extends MessageType>(
    to: string,
    type: M,
    body: RequestBody<M>,
  ): Promise<ResponseBody<M>> {
    const client = this.#client;
    if (!client) return Promise.reject(new IpcError("unavailable", "not connected to the IFM"));
    return client.request(to, type, body);
  }

  /**
   * crypto.sign with `key` over `digest`, synchronously (the caller is OpenSSL's sign callback).
   * Returns the DER signature; throws IpcError.
   */
  signDigest(key: string, hash: string, digest: Uint8Array): Uint8Array {
    const algorithm = SIGN_ALGORITHMS[hash];
    if (!algorithm) {
      throw new IpcError("invalid-body", `crypto.sign has no ECDSA with ${hash || "this hash"}`);
    }
    if (!this.#sign.isOpen) {
      this.#sign.open();
      this.#recycleSoon();
    }
    const answer = this.#sign.request("crypto", "crypto.sign", {
      key,
      algorithm,
      digest: Buffer.from(digest).toString("hex"),
    });
    return new Uint8Array(Buffer.from(answer.signature, "hex"));
  }

  /** For the status: signatures made, failed, and their mean time. */
  signStats(): { signatures: number; failures: number; meanMs: number; strayDeliveries: number } {
    const s = this.#sign.stats;
    const total = s.requests + s.failures;
    return {
      signatures: s.requests,
      failures: s.failures,
      meanMs: total === 0 ? 0 : Math.round((s.totalMs / total) * 100) / 100,
      strayDeliveries: s.strayDeliveries,
    };
  }

  close(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#client?.close();
    for (const old of this.#busy.keys()) old.close();
    this.#sign.close();
  }

  #check(): void {
    if (this.#stopped || this.#sign.check()) return;
    // The IFM closed the signing connection (it restarted): reopen it, then a delivering
    // connection after it, so that deliveries go where the event loop listens.
    try {
      this.#sign.open();
    } catch {
      return; // not back yet; the next check tries again
    }
    this.o.log.info("signing connection to the IFM reopened");
    this.#recycleSoon();
  }

  #recycleSoon(): void {
    if (this.#recycling || this.#stopped) return;
    // Not from inside OpenSSL's callback: start on the next turn of the event loop.
    this.#recycling = Bun.sleep(0)
      .then(() => this.#recycle())
      .catch((e: unknown) =>
        this.o.log.error("cannot reconnect to the IFM", { error: (e as Error).message }),
      )
      .finally(() => {
        this.#recycling = undefined;
      });
  }

  async #recycle(): Promise<void> {
    const old = this.#client;
    const fresh = this.#newClient();
    await fresh.connectWithRetry(30_000);
    if (this.#stopped) {
      fresh.close();
      return;
    }
    this.#client = fresh;
    this.recycled++;
    this.#sign.check(); // answer what landed on the signing connection meanwhile
    if (old) this.#retire(old);
  }

  /** Closes a replaced connection once the handlers working for it have answered. */
  #retire(old: IpcClient): void {
    const started = Date.now();
    const attempt = () => {
      if ((this.#busy.get(old) ?? 0) === 0 || Date.now() - started > 15_000) {
        this.#busy.delete(old);
        old.close();
        return;
      }
      setTimeout(attempt, 100);
    };
    attempt();
  }

  #newClient(): IpcClient {
    const client = new IpcClient({
      socketPath: this.o.socketPath,
      timeoutMs: this.o.requestTimeoutMs ?? 10_000,
      log: (level, msg, fields) => this.o.log[level](msg, fields),
    });
    this.#busy.set(client, 0);
    for (const [type, handler] of this.#handlers) {
      client.handle(type as MessageType, this.#wrap(client, handler) as never);
    }
    return client;
  }

  #wrap(client: IpcClient, handler: AnyHandler): AnyHandler {
    return async (body, ctx) => {
      this.#busy.set(client, (this.#busy.get(client) ?? 0) + 1);
      try {
        return await handler(body, ctx);
      } finally {
        const n = (this.#busy.get(client) ?? 1) - 1;
        if (this.#busy.has(client)) this.#busy.set(client, n);
      }
    };
  }
}
