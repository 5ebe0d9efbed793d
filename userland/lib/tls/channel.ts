// TLS channels over Bun's TCP sockets: the session state machine runs in the system OpenSSL, the
// ciphertext moves through Bun.connect / Bun.listen. A channel is handed out only after the
// handshake and all peer checks succeeded; every refusal is a TlsError with a reason.
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { createTlsContext, type TlsContext, type TlsContextOptions } from "./context.ts";
import { TlsError } from "./errors.ts";
import type { KeySource } from "./keys.ts";
import type { TlsProfile } from "./profile.ts";
import { type PeerExpectation, type PeerInfo, type SessionOptions, TlsSession } from "./session.ts";

/** Either a ready context, or what it is made from. */
export type ContextSource =
  | { readonly context: TlsContext }
  | {
      readonly context?: undefined;
      readonly profile: TlsProfile;
      readonly ca: string | readonly string[];
      readonly cert: string;
      readonly key: KeySource;
      readonly crl?: string | readonly string[];
    };

export interface ChannelOptions {
  /** The peer must match one of these (subject DN and/or SHA-256 fingerprint). */
  readonly expectedPeer?: PeerExpectation | readonly PeerExpectation[];
  /** Default 10 000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Received bytes held for receive() before the socket is paused. Default 1 MiB. */
  readonly receiveHighWaterMark?: number;
}

export type ConnectOptions = ContextSource &
  ChannelOptions & {
    readonly host: string;
    readonly port: number;
    /** Name or IP the server certificate must carry; default `host`; false to skip the check. */
    readonly verifyHost?: string | false;
    /** Server name indication; default `verifyHost` when it is a DNS name. */
    readonly serverName?: string;
  };

export type ListenOptions = ContextSource &
  ChannelOptions & {
    /** Default 127.0.0.1. */
    readonly hostname?: string;
    /** 0 picks a free port. */
    readonly port: number;
    /** A client finished the handshake and passed the checks. */
    readonly onConnection: (channel: TlsChannel) => void;
    /** A client was refused (handshake, verification, pinning, timeout, garbage). */
    readonly onRefused?: (error: TlsError, remote: { address: string; port: number }) => void;
  };

export type CloseListener = (error: TlsError | undefined) => void;

type ChannelState = "handshake" | "open" | "closing" | "closed";

// Plaintext encrypted per SSL_write before the ciphertext goes to the socket.
const WRITE_CHUNK = 256 * 1024;
const CLOSE_GRACE_MS = 2000;

/** A TLS connection after a successful handshake: send, receive, close. */
export class TlsChannel {
  readonly role: "client" | "server";
  #socket: Socket<TlsChannel> | undefined;
  #session: TlsSession;
  #state: ChannelState = "handshake";
  #peer: PeerInfo | undefined;
  #outQueue: Uint8Array[] = [];
  #queued = 0;
  #inQueue: Buffer[] = [];
  #inQueued = 0;
  #paused = false;
  #highWaterMark: number;
  #waiters: { resolve: (v: Buffer | null) => void; reject: (e: TlsError) => void }[] = [];
  #dataListeners: ((data: Buffer) => void)[] = [];
  #drainListeners: (() => void)[] = [];
  #closeListeners: CloseListener[] = [];
  #error: TlsError | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lifetimeTimer: ReturnType<typeof setTimeout> | undefined;
  #lifetimeMs: number;
  #closedPromise: Promise<TlsError | undefined>;
  #resolveClosed!: (e: TlsError | undefined) => void;
  #onEstablished: (channel: TlsChannel) => void;
  #onRefused: (error: TlsError) => void;

  /** @internal Created by connectTls and listenTls. */
  constructor(
    context: TlsContext,
    sessionOptions: SessionOptions,
    options: ChannelOptions,
    onEstablished: (channel: TlsChannel) => void,
    onRefused: (error: TlsError) => void,
  ) {
    this.role = context.role;
    this.#session = new TlsSession(context, sessionOptions);
    this.#highWaterMark = options.receiveHighWaterMark ?? 1024 * 1024;
    this.#lifetimeMs = context.profile.sessionLifetimeSeconds * 1000;
    this.#onEstablished = onEstablished;
    this.#onRefused = onRefused;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    const timeout = options.handshakeTimeoutMs ?? 10_000;
    this.#timer = setTimeout(() => {
      this.#fail(new TlsError("timeout", `handshake not finished within ${timeout} ms`));
    }, timeout);
  }

  /** What was negotiated and who the peer is. */
  get peer(): PeerInfo {
    if (!this.#peer) throw new TlsError("usage", "the handshake has not finished");
    return this.#peer;
  }

  get remoteAddress(): string {
    return this.#socket?.remoteAddress ?? "";
  }

  get remotePort(): number {
    return this.#socket?.remotePort ?? 0;
  }

  /** Ciphertext bytes waiting for the socket to drain. */
  get bufferedAmount(): number {
    return this.#unsent();
  }

  get isOpen(): boolean {
    return this.#state === "open";
  }

  /** Resolves when the channel has closed: undefined after a clean close, else the error. */
  get closed(): Promise<TlsError | undefined> {
    return this.#closedPromise;
  }

  /**
   * Encrypts and sends `data`. Returns false when some of it had to be queued; "drain" follows
   * once the queue is empty.
   */
  send(data: Uint8Array | string): boolean {
    if (this.#state !== "open") {
      throw new TlsError("usage", `cannot send on a channel that is ${this.#state}`);
    }
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    return this.#session.hold(() => {
      for (let offset = 0; offset < bytes.length; offset += WRITE_CHUNK) {
        const end = Math.min(bytes.length, offset + WRITE_CHUNK);
        // Ciphertext the socket has not taken yet leaves the write BIO first: OpenSSL would
        // otherwise move it to the front of the BIO's buffer for every record it adds.
        if (this.#session.pendingOutput() > 0) this.#queueSessionOutput();
        try {
          this.#session.write(
            offset === 0 && end === bytes.length ? bytes : bytes.subarray(offset, end),
          );
        } catch (error) {
          this.#fail(error as TlsError);
          throw error;
        }
        this.#flush();
      }
      return this.#unsent() === 0;
    });
  }

  /** The next received chunk; null after a clean close; rejects with the error otherwise. */
  receive(): Promise<Buffer | null> {
    const chunk = this.#inQueue.shift();
    if (chunk) {
      this.#inQueued -= chunk.length;
      if (this.#paused && this.#inQueued < this.#highWaterMark) {
        this.#paused = false;
        this.#socket?.resume();
      }
      return Promise.resolve(chunk);
    }
    if (this.#state === "closed") {
      return this.#error ? Promise.reject(this.#error) : Promise.resolve(null);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = await this.receive();
      if (chunk === null) return;
      yield chunk;
    }
  }

  /** "data": received chunks go to listeners instead of receive(). */
  on(event: "data", listener: (data: Buffer) => void): this;
  on(event: "drain", listener: () => void): this;
  on(event: "close", listener: CloseListener): this;
  on(event: "data" | "drain" | "close", listener: (...args: never[]) => void): this {
    if (event === "data") {
      this.#dataListeners.push(listener as (data: Buffer) => void);
      for (const chunk of this.#inQueue.splice(0)) (listener as (data: Buffer) => void)(chunk);
      this.#inQueued = 0;
    } else if (event === "drain") this.#drainListeners.push(listener as () => void);
    else this.#closeListeners.push(listener as CloseListener);
    return this;
  }

  /** Sends close_notify, flushes what is queued, and closes. Idempotent. */
  close(): void {
    if (this.#state === "closed" || this.#state === "closing") return;
    if (this.#state === "handshake") {
      this.#fail(new TlsError("closed", "closed locally during the handshake"));
      return;
    }
    this.#state = "closing";
    this.#session.hold(() => {
      this.#session.close();
      this.#flush();
    });
    if (this.#unsent() === 0) this.#finish(undefined);
    else {
      this.#timer = setTimeout(() => this.#finish(undefined), CLOSE_GRACE_MS);
    }
  }

  /** @internal */
  handleOpen(socket: Socket<TlsChannel>): void {
    this.#socket = socket;
    socket.setNoDelay(true);
    this.#session.hold(() => {
      const error = this.#session.start();
      this.#flush();
      if (error) this.#fail(error);
    });
  }

  /** @internal */
  handleData(bytes: Uint8Array): void {
    if (this.#state === "closed") return;
    this.#session.hold(() => {
      const r = this.#session.receive(bytes);
      this.#flush();
      if (r.error) {
        this.#fail(r.error);
        return;
      }
      if (r.established) this.#established(r.established);
      if (r.data) this.#deliver(r.data);
      if (r.peerClosed) this.#finish(undefined);
    });
  }

  /** @internal */
  handleDrain(): void {
    this.#session.hold(() => {
      this.#flush();
      if (this.#unsent() > 0) return;
      if (this.#state === "closing") {
        this.#finish(undefined);
        return;
      }
      for (const listener of this.#drainListeners) listener();
    });
  }

  /** @internal The peer ended the TCP connection (FIN) or it broke. */
  handleEnd(error?: Error): void {
    if (this.#state === "closed") return;
    if (this.#state === "closing") {
      this.#finish(undefined);
      return;
    }
    const detail = error ? `: ${error.message}` : "";
    if (this.#state === "handshake") {
      this.#fail(
        new TlsError("closed", `connection closed by the peer during the handshake${detail}`),
      );
    } else {
      this.#fail(
        new TlsError("closed", `connection ended without close_notify (truncated)${detail}`),
      );
    }
  }

  /** @internal */
  handleConnectError(error: Error): void {
    this.#fail(new TlsError("network", `connection failed: ${error.message}`));
  }

  #established(peer: PeerInfo): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#peer = peer;
    this.#state = "open";
    this.#lifetimeTimer = setTimeout(
      () => {
        this.#error = new TlsError("closed", "session lifetime reached");
        this.close();
      },
      Math.min(this.#lifetimeMs, 0x7fffffff),
    );
    this.#lifetimeTimer.unref?.();
    this.#onEstablished(this);
  }

  #deliver(data: Buffer): void {
    if (this.#dataListeners.length > 0) {
      for (const listener of this.#dataListeners) listener(data);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(data);
      return;
    }
    this.#inQueue.push(data);
    this.#inQueued += data.length;
    if (!this.#paused && this.#inQueued >= this.#highWaterMark) {
      this.#paused = true;
      this.#socket?.pause();
    }
  }

  /** Moves queued and pending ciphertext to the socket until it pushes back. */
  #flush(): void {
    const socket = this.#socket;
    if (!socket) return;
    while (this.#outQueue.length > 0) {
      const head = this.#outQueue[0] as Uint8Array;
      const n = socket.write(head);
      if (n < 0) {
        this.#discardOutput();
        return;
      }
      this.#queued -= n;
      if (n < head.length) {
        this.#outQueue[0] = head.subarray(n);
        return;
      }
      this.#outQueue.shift();
    }
    // The socket copies the ciphertext straight out of OpenSSL's write BIO; what it does not
    // take stays there until "drain".
    const output = this.#session.peekOutput();
    if (!output) return;
    const n = socket.write(output);
    if (n < 0) {
      this.#discardOutput();
      return;
    }
    this.#session.consumeOutput(n);
  }

  /** Ciphertext not yet taken by the socket: queued copies and what waits in the write BIO. */
  #unsent(): number {
    return this.#queued + this.#session.pendingOutput();
  }

  #queueSessionOutput(): void {
    const rest = this.#session.takeOutput();
    if (rest) {
      this.#outQueue.push(rest);
      this.#queued += rest.length;
    }
  }

  #discardOutput(): void {
    this.#session.takeOutput();
    this.#outQueue = [];
    this.#queued = 0;
  }

  #fail(error: TlsError): void {
    if (this.#state === "closed") return;
    const wasHandshake = this.#state === "handshake";
    this.#error = error;
    // Send what OpenSSL queued (an alert tells the peer why), then close.
    this.#session.hold(() => this.#flush());
    this.#finish(error);
    if (wasHandshake) this.#onRefused(error);
  }

  #finish(error: TlsError | undefined): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state !== "handshake";
    this.#state = "closed";
    clearTimeout(this.#timer);
    clearTimeout(this.#lifetimeTimer);
    const reported = error ?? this.#error;
    this.#error = reported;
    this.#session.free();
    this.#socket?.end();
    for (const waiter of this.#waiters.splice(0)) {
      if (reported) waiter.reject(reported);
      else waiter.resolve(null);
    }
    this.#resolveClosed(reported);
    if (wasOpen) for (const listener of this.#closeListeners) listener(reported);
  }
}

const handlers: SocketHandler<TlsChannel> = {
  open(socket) {
    socket.data.handleOpen(socket);
  },
  data(socket, data) {
    socket.data.handleData(data);
  },
  drain(socket) {
    socket.data.handleDrain();
  },
  end(socket) {
    socket.data.handleEnd();
  },
  close(socket, error) {
    socket.data.handleEnd(error);
  },
  error(socket, error) {
    socket.data.handleEnd(error);
  },
  connectError(socket, error) {
    socket.data.handleConnectError(error);
  },
};

function contextFor(
  source: ContextSource,
  role: "client" | "server",
): { context: TlsContext; owned: boolean } {
  if (source.context) {
    if (source.context.role !== role) {
      throw new TlsError(
        "usage",
        `a ${source.context.role} context cannot be used to ${role === "client" ? "connect" : "listen"}`,
      );
    }
    return { context: source.context, owned: false };
  }
  const options: TlsContextOptions = {
    role,
    profile: source.profile,
    ca: source.ca,
    cert: source.cert,
    key: source.key,
    ...(source.crl !== undefined ? { crl: source.crl } : {}),
  };
  return { context: createTlsContext(options), owned: true };
}

/** Connects, runs the handshake and the peer checks; resolves with an open channel. */
export function connectTls(options: ConnectOptions): Promise<TlsChannel> {
  let source: { context: TlsContext; owned: boolean };
  try {
    source = contextFor(options, "client");
  } catch (error) {
    return Promise.reject(error);
  }
  const verifyHost =
    options.verifyHost === false ? undefined : (options.verifyHost ?? options.host);
  const sessionOptions: SessionOptions = {
    ...(verifyHost !== undefined ? { verifyHost } : {}),
    ...(options.serverName !== undefined ? { serverName: options.serverName } : {}),
    ...(options.expectedPeer !== undefined ? { expectedPeer: options.expectedPeer } : {}),
  };
  return new Promise<TlsChannel>((resolve, reject) => {
    let channel: TlsChannel;
    try {
      channel = new TlsChannel(source.context, sessionOptions, options, resolve, reject);
    } catch (error) {
      reject(error);
      return;
    } finally {
      // The SSL holds its own reference to the SSL_CTX.
      if (source.owned) source.context.free();
    }
    Bun.connect<TlsChannel>({
      hostname: options.host,
      port: options.port,
      data: channel,
      socket: handlers,
    }).catch((error: Error) => channel.handleConnectError(error));
  });
}

export interface TlsListener {
  readonly hostname: string;
  readonly port: number;
  /** Channels established and not yet closed. */
  readonly activeConnections: number;
  /** Stops accepting; with `closeActive`, also closes the open channels. */
  stop(closeActive?: boolean): void;
}

/** Listens for TLS clients; each passes the handshake and checks before onConnection sees it. */
export function listenTls(options: ListenOptions): TlsListener {
  const { context, owned } = contextFor(options, "server");
  const active = new Set<TlsChannel>();
  const sessionOptions: SessionOptions =
    options.expectedPeer !== undefined ? { expectedPeer: options.expectedPeer } : {};
  const serverHandlers: SocketHandler<TlsChannel> = {
    ...handlers,
    open(socket) {
      let channel: TlsChannel;
      try {
        channel = new TlsChannel(
          context,
          sessionOptions,
          options,
          (c) => {
            active.add(c);
            c.on("close", () => active.delete(c));
            options.onConnection(c);
          },
          (error) =>
            options.onRefused?.(error, { address: socket.remoteAddress, port: socket.remotePort }),
        );
      } catch (error) {
        options.onRefused?.(error as TlsError, {
          address: socket.remoteAddress,
          port: socket.remotePort,
        });
        socket.end();
        return;
      }
      socket.data = channel;
      channel.handleOpen(socket);
    },
    data(socket, data) {
      socket.data?.handleData(data);
    },
    drain(socket) {
      socket.data?.handleDrain();
    },
    end(socket) {
      socket.data?.handleEnd();
    },
    close(socket, error) {
      socket.data?.handleEnd(error);
    },
    error(socket, error) {
      socket.data?.handleEnd(error);
    },
  };
  let listener: TCPSocketListener<TlsChannel>;
  try {
    listener = Bun.listen<TlsChannel>({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      socket: serverHandlers,
    });
  } catch (error) {
    if (owned) context.free();
    throw new TlsError(
      "network",
      `cannot listen on ${options.hostname ?? "127.0.0.1"}:${options.port}: ${String(error)}`,
    );
  }
  let stopped = false;
  return {
    hostname: listener.hostname,
    port: listener.port,
    get activeConnections() {
      return active.size;
    },
    stop(closeActive = false) {
      if (stopped) return;
      stopped = true;
      // Close the channels first, so each peer gets a close_notify before the sockets go.
      if (closeActive) for (const channel of [...active]) channel.close();
      listener.stop(closeActive);
      if (owned) context.free();
    },
  };
}
