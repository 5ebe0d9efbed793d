// The card side of vsmartcard's vpcd protocol: the reader driver inside pcscd listens on TCP
// (127.0.0.1:35963 by default) and the card connects to it. Every message is a 2-byte
// big-endian length and its bytes; a 1-byte message is a control code (0 power off, 1 power
// on, 2 reset, 4 ATR request), anything longer an APDU, answered by the response APDU.
import type { Socket } from "bun";
import { connectIpv4, quickAck } from "./tcp.ts";

export const VPCD_PORT = 35963;
export const CTRL = { OFF: 0, ON: 1, RESET: 2, ATR: 4 } as const;

export class VpcdFrameError extends Error {
  override name = "VpcdFrameError";
}

/** Split a byte stream into vpcd messages; keeps an incomplete tail for the next chunk. */
export class VpcdDeframer {
  private buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf, 0);
    joined.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let pos = 0;
    while (joined.length - pos >= 2) {
      const len = ((joined[pos] ?? 0) << 8) | (joined[pos + 1] ?? 0);
      if (len === 0) throw new VpcdFrameError(`empty vpcd message at byte ${pos}`);
      if (joined.length - pos - 2 < len) break;
      out.push(joined.slice(pos + 2, pos + 2 + len));
      pos += 2 + len;
    }
    this.buf = joined.slice(pos);
    return out;
  }
}

export function vpcdFrame(payload: Uint8Array): Uint8Array {
  if (payload.length < 1 || payload.length > 0xffff) {
    throw new VpcdFrameError(`vpcd payload of ${payload.length} bytes`);
  }
  const out = new Uint8Array(payload.length + 2);
  out[0] = payload.length >> 8;
  out[1] = payload.length & 0xff;
  out.set(payload, 2);
  return out;
}

export interface VpcdCard {
  atr: Uint8Array;
  powerOff(): void;
  powerOn(): void;
  reset(): void;
  apdu(command: Uint8Array): Uint8Array;
}

export interface VpcdEvents {
  log(level: "info" | "warn", msg: string, fields?: Record<string, unknown>): void;
  /** The reader asked for the ATR: pcscd now sees the card. */
  onAtr?(): void;
  onDetach?(): void;
}

/**
 * Keeps the card attached to the reader: connects, serves messages, and after a lost
 * connection (pcscd restarted) connects again every `retryMs`.
 */
export class VpcdConnection {
  private socket: Socket<undefined> | undefined;
  private fd = -1;
  private pending: Uint8Array[] = [];
  private stopped = false;
  private absentUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  attached = false;

  constructor(
    private readonly card: VpcdCard,
    private readonly events: VpcdEvents,
    private readonly host = "127.0.0.1",
    private readonly port = VPCD_PORT,
    private readonly retryMs = 200,
  ) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  /** Take the card out of the reader for `ms` milliseconds (a removed card, in tests). */
  remove(ms: number): void {
    this.absentUntil = Date.now() + ms;
    this.socket?.end();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.end();
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = Math.max(this.retryMs, this.absentUntil - Date.now());
    this.timer = setTimeout(() => void this.connect(), wait);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const deframer = new VpcdDeframer();
    try {
      this.fd = connectIpv4(this.host, this.port);
    } catch {
      this.schedule();
      return;
    }
    try {
      // Bun.connect takes an open descriptor (FdSocketOptions) though its overloads omit it.
      const connectFd = Bun.connect as unknown as (
        o: Bun.FdSocketOptions<undefined>,
      ) => Promise<Socket<undefined>>;
      this.socket = await connectFd({
        fd: this.fd,
        socket: {
          open: () => {
            this.attached = true;
            this.events.log("info", "attached to the vpcd reader", { port: this.port });
          },
          data: (socket, chunk) => {
            let messages: Uint8Array[];
            try {
              messages = deframer.push(chunk);
            } catch (e) {
              this.events.log("warn", "bad message from vpcd, reconnecting", {
                error: (e as Error).message,
              });
              socket.end();
              return;
            }
            for (const m of messages) this.serve(socket, m);
            quickAck(this.fd);
          },
          drain: (socket) => this.flush(socket),
          close: () => this.detached(),
          error: (_s, e) => this.events.log("warn", "vpcd connection error", { error: e.message }),
        },
      });
    } catch {
      this.schedule();
    }
  }

  private detached(): void {
    if (this.attached) this.events.log("info", "detached from the vpcd reader");
    this.attached = false;
    this.socket = undefined;
    this.pending = [];
    this.card.powerOff();
    this.events.onDetach?.();
    this.schedule();
  }

  private serve(socket: Socket<undefined>, m: Uint8Array): void {
    if (m.length === 1) {
      switch (m[0]) {
        case CTRL.OFF:
          this.card.powerOff();
          return;
        case CTRL.ON:
          this.card.powerOn();
          return;
        case CTRL.RESET:
          this.card.reset();
          return;
        case CTRL.ATR:
          this.send(socket, vpcdFrame(this.card.atr));
          this.events.onAtr?.();
          return;
        default:
          this.events.log("warn", "unknown vpcd control code", { code: m[0] });
          return;
      }
    }
    this.send(socket, vpcdFrame(this.card.apdu(m)));
  }

  // socket.write may take only part of the bytes; the rest goes out on drain.
  private send(socket: Socket<undefined>, bytes: Uint8Array): void {
    this.pending.push(bytes);
    this.flush(socket);
  }

  private flush(socket: Socket<undefined>): void {
    while (this.pending.length > 0) {
      const next = this.pending[0] as Uint8Array;
      const n = socket.write(next);
      if (n < next.length) {
        this.pending[0] = next.subarray(Math.max(n, 0));
        return;
      }
      this.pending.shift();
    }
    quickAck(this.fd);
  }
}
