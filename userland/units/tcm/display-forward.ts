// TLS termination for the display: the TCM ends the HAN client's TLS session and forwards its
// HTTP requests to the display's loopback-only listener (SMGW_DISPLAY_TCM_PORT), naming the
// verified client certificate's subject in X-SMGW-Client-Subject (units/display/client-cert.ts).
// The HTTP is parsed by Bun, not by hand: the decrypted stream of each session goes over
// loopback into a small HTTP server inside the TCM, which knows the session by the connection's
// source port, strips whatever the client sent in the subject header, sets the verified one and
// forwards the request with fetch.
import type { Logger } from "@smgw/daemon";
import type { TlsChannel } from "@smgw/tls";
import type { Server, Socket } from "bun";

/** The header the display believes on its TCM listener only (client-cert.ts). */
export const SUBJECT_HEADER = "x-smgw-client-subject";
/** The HAN client's address, for the display's per-address throttling. */
export const CLIENT_ADDRESS_HEADER = "x-smgw-client-address";

// Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are not forwarded.
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

interface Session {
  subject: string;
  address: string;
}

interface Pipe {
  tls: TlsChannel;
  socket?: Socket<Pipe>;
  /** Plaintext from the client waiting for the loopback connection. */
  queue: Uint8Array[];
  port?: number;
}

export interface DisplayForwarderOptions {
  /** The display's loopback listener for the TCM. */
  displayPort: number;
  log: Logger;
}

export class DisplayForwarder {
  readonly #server: Server<undefined>;
  readonly #sessions = new Map<number, Session>();
  readonly #pipes = new Set<Pipe>();
  forwarded = 0;

  constructor(private readonly o: DisplayForwarderOptions) {
    this.#server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      // The display takes 64 KiB at most; a little more lets it answer 413 itself.
      maxRequestBodySize: 128 * 1024,
      fetch: (request, server) => this.#forward(request, server.requestIP(request)),
      error: (e) => {
        o.log.error("display forwarding crashed", { error: e.message });
        return new Response("internal error", { status: 500 });
      },
    });
  }

  get sessions(): number {
    return this.#pipes.size;
  }

  /** Hands one established HAN session to the display. */
  attach(tls: TlsChannel): void {
    const pipe: Pipe = { tls, queue: [] };
    this.#pipes.add(pipe);
    const session: Session = { subject: tls.peer.subject, address: tls.remoteAddress };
    tls.on("data", (data) => {
      if (pipe.socket) write(pipe.socket, pipe, data);
      else pipe.queue.push(data);
    });
    tls.on("close", () => {
      pipe.socket?.end();
      this.#drop(pipe);
    });
    Bun.connect<Pipe>({
      hostname: "127.0.0.1",
      port: this.#server.port as number,
      data: pipe,
      socket: {
        open: (socket) => {
          pipe.socket = socket;
          pipe.port = socket.localPort;
          this.#sessions.set(socket.localPort, session);
          for (const chunk of pipe.queue.splice(0)) write(socket, pipe, chunk);
        },
        data: (_socket, data) => {
          if (pipe.tls.isOpen) pipe.tls.send(data);
        },
        drain: (socket) => {
          const queued = pipe.queue.splice(0);
          for (const chunk of queued) write(socket, pipe, chunk);
        },
        close: () => {
          pipe.tls.close();
          this.#drop(pipe);
        },
        error: (_socket, error) => {
          this.o.log.warn("display pipe failed", { error: error.message });
          pipe.tls.close();
        },
      },
    }).catch((error: Error) => {
      this.o.log.error("display pipe could not be opened", { error: error.message });
      tls.close();
      this.#drop(pipe);
    });
  }

  stop(): void {
    for (const pipe of [...this.#pipes]) pipe.tls.close();
    void this.#server.stop(true);
  }

  #drop(pipe: Pipe): void {
    if (pipe.port !== undefined) this.#sessions.delete(pipe.port);
    this.#pipes.delete(pipe);
  }

  async #forward(
    request: Request,
    from: { address: string; port: number } | null,
  ): Promise<Response> {
    const session =
      from && from.address === "127.0.0.1" ? this.#sessions.get(from.port) : undefined;
    if (!session) {
      // Only the TCM's own pipes may use this server; anything else on loopback is turned away.
      this.o.log.warn("request to the display forwarder from outside a TLS session refused", {
        from: from ? `${from.address}:${from.port}` : "unknown",
      });
      return new Response("forbidden", { status: 403 });
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    if (headers.has(SUBJECT_HEADER)) {
      this.o.log.warn("client sent its own certificate subject header; replaced", {
        client: session.address,
      });
    }
    headers.delete(SUBJECT_HEADER);
    headers.delete(CLIENT_ADDRESS_HEADER);
    if (session.subject !== "") headers.set(SUBJECT_HEADER, session.subject);
    headers.set(CLIENT_ADDRESS_HEADER, session.address);
    // The body must reach the client as the display wrote it.
    headers.set("accept-encoding", "identity");
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    let upstream: Response;
    try {
      upstream = await fetch(`http://127.0.0.1:${this.o.displayPort}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        ...(hasBody ? { body: await request.arrayBuffer() } : {}),
        redirect: "manual",
      });
    } catch (error) {
      this.o.log.error("the display does not answer on its TCM listener", {
        port: this.o.displayPort,
        error: (error as Error).message,
      });
      return new Response("the display is not reachable", { status: 502 });
    }
    this.forwarded++;
    const answer = new Headers(upstream.headers);
    for (const h of HOP_BY_HOP) answer.delete(h);
    answer.delete("content-length"); // Bun sets it (or chunking) for the body it sends
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: answer,
    });
  }
}

function write(socket: Socket<Pipe>, pipe: Pipe, data: Uint8Array): void {
  if (pipe.queue.length > 0) {
    pipe.queue.push(data);
    return;
  }
  const n = socket.write(data);
  if (n < data.length) pipe.queue.push(data.subarray(Math.max(n, 0)));
}
