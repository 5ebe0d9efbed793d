// A unit's connection to the IFM: requests to other units and handlers for what the IFM
// delivers. Reconnects when the IFM restarts, so units survive its restart.
import type { Socket } from "bun";
import { FramedChannel } from "./channel.ts";
import {
  contractOf,
  isMessageType,
  type MessageType,
  type RequestBody,
  type ResponseBody,
} from "./contracts.ts";
import {
  checkDeliver,
  checkResponse,
  type Deliver,
  type ErrorCode,
  errorResponse,
  firstError,
  type Scope,
} from "./envelope.ts";

export class IpcError extends Error {
  constructor(
    readonly code: ErrorCode | string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "IpcError";
  }
}

export interface DeliveryContext {
  from: string;
  scope?: Scope;
}

type Handler = (body: unknown, ctx: DeliveryContext) => unknown | Promise<unknown>;

export interface IpcClientOptions {
  /** Path of this unit's socket at the IFM. */
  socketPath: string;
  timeoutMs?: number;
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class IpcClient {
  private channel: FramedChannel | undefined;
  private connecting: Promise<void> | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<string, Handler>();
  private nextId = 1;
  private stopped = false;

  constructor(private readonly options: IpcClientOptions) {}

  /** Handle a message type delivered to this unit. */
  handle<M extends MessageType>(
    type: M,
    handler: (
      body: RequestBody<M>,
      ctx: DeliveryContext,
    ) => ResponseBody<M> | Promise<ResponseBody<M>>,
  ): void {
    this.handlers.set(type, handler as Handler);
  }

  async connect(): Promise<void> {
    if (this.channel && !this.channel.closed) return;
    if (this.connecting) return this.connecting;
    this.connecting = this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Connect, retrying with backoff until `deadlineMs` passes (the IFM may start later). */
  async connectWithRetry(deadlineMs = 30_000): Promise<void> {
    const end = Date.now() + deadlineMs;
    let wait = 50;
    for (;;) {
      try {
        await this.connect();
        return;
      } catch (e) {
        if (Date.now() + wait > end || this.stopped) throw e;
        await Bun.sleep(wait);
        wait = Math.min(wait * 2, 1000);
      }
    }
  }

  async request<M extends MessageType>(
    to: string,
    type: M,
    body: RequestBody<M>,
    options: { onBehalfOf?: string } = {},
  ): Promise<ResponseBody<M>> {
    return (await this.requestRaw(to, type, body, options)) as ResponseBody<M>;
  }

  /** Send any request, typed or not (tests use it to send what a bad unit would). */
  async requestRaw(
    to: string,
    type: string,
    body: unknown,
    options: { onBehalfOf?: string } = {},
  ): Promise<unknown> {
    await this.connectWithRetry(this.options.timeoutMs ?? 10_000);
    const id = `${process.pid}-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcError("timeout", `no answer to ${type} from ${to}`));
      }, this.options.timeoutMs ?? 10_000);
      this.pending.set(id, { resolve, reject, timer });
      const sent = this.channel?.send({
        kind: "request",
        id,
        to,
        type,
        body,
        ...(options.onBehalfOf ? { onBehalfOf: options.onBehalfOf } : {}),
      });
      if (!sent) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new IpcError("unavailable", "not connected to the IFM"));
      }
    });
  }

  close(): void {
    this.stopped = true;
    this.channel?.close();
    this.failPending("unavailable", "client closed");
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      let opened = false;
      Bun.connect({
        unix: this.options.socketPath,
        socket: {
          open: (socket: Socket<unknown>) => {
            opened = true;
            this.channel = new FramedChannel(socket);
            resolve();
          },
          data: (_socket, data) => this.onData(data),
          drain: () => this.channel?.flush(),
          close: () => this.onClose(),
          error: (_s, e) =>
            this.options.log?.("warn", "IFM connection error", { error: String(e) }),
          connectError: (_s, e) => {
            if (!opened) reject(e);
          },
        },
      }).catch((e: unknown) => {
        if (!opened) reject(e);
      });
    });
  }

  private onClose(): void {
    this.channel = undefined;
    this.failPending("unavailable", "connection to the IFM closed");
    if (this.stopped) return;
    // Reconnect so that deliveries reach this unit again after an IFM restart.
    this.options.log?.("warn", "IFM connection lost, reconnecting");
    this.connectWithRetry(60_000).catch((e: unknown) =>
      this.options.log?.("error", "IFM unreachable", { error: String(e) }),
    );
  }

  private failPending(code: string, message: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new IpcError(code, message));
      this.pending.delete(id);
    }
  }

  private onData(data: Uint8Array): void {
    const channel = this.channel;
    if (!channel) return;
    for (const frame of channel.receive(data)) {
      if (!frame.ok) {
        this.options.log?.("error", "bad frame from the IFM", {
          error: frame.error,
          detail: frame.detail,
        });
        if (frame.error === "oversized") channel.close();
        continue;
      }
      const msg = frame.value as { kind?: unknown };
      if (msg.kind === "response") this.onResponse(msg);
      else if (msg.kind === "deliver") void this.onDeliver(channel, msg);
      else this.options.log?.("warn", "unexpected frame from the IFM", { kind: String(msg.kind) });
    }
  }

  private onResponse(msg: unknown): void {
    if (!checkResponse.Check(msg)) {
      this.options.log?.("warn", "malformed response", { error: firstError(checkResponse, msg) });
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.body);
    else p.reject(new IpcError(msg.error.code, msg.error.message));
  }

  private async onDeliver(channel: FramedChannel, msg: unknown): Promise<void> {
    if (!checkDeliver.Check(msg)) {
      this.options.log?.("warn", "malformed delivery", { error: firstError(checkDeliver, msg) });
      return;
    }
    const d = msg as Deliver;
    const handler = this.handlers.get(d.type);
    if (!handler || !isMessageType(d.type)) {
      channel.send(errorResponse(d.id, "unknown-type", `${d.type} is not handled here`));
      return;
    }
    try {
      const result = await handler(d.body, {
        from: d.from,
        ...(d.scope ? { scope: d.scope } : {}),
      });
      const check = contractOf(d.type).response;
      if (!check.Check(result)) {
        this.options.log?.("error", "handler produced an invalid answer", {
          type: d.type,
          error: firstError(check, result),
        });
        channel.send(
          errorResponse(d.id, "handler-failed", "the handler's answer broke its contract"),
        );
        return;
      }
      channel.send({ kind: "response", id: d.id, ok: true, body: result });
    } catch (e) {
      const err = e as Error;
      const code = e instanceof IpcError ? e.code : "handler-failed";
      channel.send(errorResponse(d.id, code as ErrorCode, err.message ?? String(e)));
    }
  }
}
