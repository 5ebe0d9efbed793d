// The TCM's second connection to its IFM socket, used only for crypto.sign while OpenSSL waits
// inside a handshake: one request, then a blocking read until its answer (bounded by a
// deadline). The IFM delivers a unit's messages on its newest connection, so this one is opened
// before the asynchronous one (ifm-link.ts keeps that order); a delivery that lands here all
// the same is answered "unavailable" and reported, never dropped silently.
import type { Logger } from "@smgw/daemon";
import {
  checkDeliver,
  checkResponse,
  contractOf,
  encodeFrame,
  errorResponse,
  FrameDecoder,
  IpcError,
  type MessageType,
  type RequestBody,
  type ResponseBody,
} from "@smgw/ipc";
import { SocketCallError, UnixStream } from "./libc.ts";

export interface SignLinkOptions {
  socketPath: string;
  /** Longest wait for an answer. Default 5000 ms (below the IFM's own 10 s timeout). */
  timeoutMs?: number;
  log: Logger;
  /** A delivery arrived on this connection: the IFM now takes it for the TCM's newest. */
  onStrayDelivery?: () => void;
}

export class SignLink {
  #stream: UnixStream | undefined;
  #decoder = new FrameDecoder();
  #next = 1;
  readonly #buffer = Buffer.alloc(64 * 1024);
  readonly #timeoutMs: number;
  /** Requests answered, and the time they took in total (for the status). */
  readonly stats = { requests: 0, failures: 0, strayDeliveries: 0, totalMs: 0 };

  constructor(private readonly o: SignLinkOptions) {
    this.#timeoutMs = o.timeoutMs ?? 5000;
  }

  get isOpen(): boolean {
    return this.#stream !== undefined;
  }

  /** (Re)connects; throws IpcError("unavailable") when the IFM cannot be reached. */
  open(): void {
    this.close();
    try {
      this.#stream = UnixStream.connect(this.o.socketPath);
    } catch (e) {
      throw new IpcError(
        "unavailable",
        `the IFM's socket cannot be reached: ${(e as Error).message}`,
      );
    }
    this.#decoder = new FrameDecoder();
  }

  close(): void {
    this.#stream?.close();
    this.#stream = undefined;
  }

  /**
   * Looks at the connection without waiting: answers deliveries that landed here and notices
   * a connection the IFM closed. Returns whether it is still open.
   */
  check(): boolean {
    if (!this.#stream) return false;
    try {
      this.#pump(0, undefined);
    } catch {
      this.close();
    }
    return this.#stream !== undefined;
  }

  /** One request and its answer, synchronously. */
  request<M extends MessageType>(to: string, type: M, body: RequestBody<M>): ResponseBody<M> {
    const stream = this.#stream;
    if (!stream) throw new IpcError("unavailable", "the signing connection to the IFM is closed");
    const started = performance.now();
    const id = `s${process.pid}-${this.#next++}`;
    try {
      try {
        stream.write(encodeFrame({ kind: "request", id, to, type, body }));
      } catch (e) {
        this.close();
        throw new IpcError("unavailable", `the IFM's signing connection broke: ${errorText(e)}`);
      }
      const answer = this.#pump(this.#timeoutMs, id);
      if (answer === undefined) {
        throw new IpcError(
          "timeout",
          `no answer to ${type} from ${to} within ${this.#timeoutMs} ms`,
        );
      }
      if (!answer.ok) throw new IpcError(answer.error.code, answer.error.message);
      const check = contractOf(type).response;
      if (!check.Check(answer.body)) {
        throw new IpcError("invalid-response", `${to} answered ${type} outside its contract`);
      }
      this.stats.requests++;
      return answer.body as ResponseBody<M>;
    } catch (e) {
      this.stats.failures++;
      throw e;
    } finally {
      this.stats.totalMs += performance.now() - started;
    }
  }

  /**
   * Reads frames until the response to `id` arrives (returned) or `waitMs` passes (undefined).
   * With `id` undefined it only drains what is there. Throws when the IFM closed the connection.
   */
  #pump(
    waitMs: number,
    id: string | undefined,
  ):
    | { ok: true; body: unknown }
    | { ok: false; error: { code: string; message: string } }
    | undefined {
    const stream = this.#stream;
    if (!stream) throw new IpcError("unavailable", "the signing connection to the IFM is closed");
    const deadline = performance.now() + waitMs;
    for (;;) {
      let chunk: Buffer | null;
      try {
        chunk = stream.read(this.#buffer, Math.max(0, deadline - performance.now()));
      } catch (e) {
        this.close();
        throw new IpcError("unavailable", `the IFM's signing connection broke: ${errorText(e)}`);
      }
      if (chunk === null) {
        this.close();
        throw new IpcError("unavailable", "the IFM closed the signing connection");
      }
      for (const frame of this.#decoder.push(chunk)) {
        if (!frame.ok) {
          this.o.log.warn("bad frame on the signing connection", { error: frame.error });
          if (frame.error === "oversized") {
            this.close();
            throw new IpcError("unavailable", "the signing connection lost its framing");
          }
          continue;
        }
        const message = frame.value as { kind?: unknown };
        if (message.kind === "response" && checkResponse.Check(message)) {
          if (id !== undefined && message.id === id) return message;
          continue; // the late answer to a request given up on
        }
        if (message.kind === "deliver" && checkDeliver.Check(message)) {
          this.stats.strayDeliveries++;
          this.o.log.warn("a delivery reached the signing connection; answered unavailable", {
            type: message.type,
            from: message.from,
          });
          stream.write(
            encodeFrame(
              errorResponse(message.id, "unavailable", "the TCM was reconnecting; ask again"),
            ),
          );
          this.o.onStrayDelivery?.();
        }
      }
      // Past the deadline: a request gives up; a drain goes on while bytes keep coming.
      if (performance.now() >= deadline && (chunk.length === 0 || id !== undefined)) {
        return undefined;
      }
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof SocketCallError || e instanceof Error ? e.message : String(e);
}
