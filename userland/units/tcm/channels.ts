// The open channels, each owned by the unit it was opened for (or handed to): only the owner
// may send, receive or close it. Ids are random, but ownership, not secrecy, is the check; a
// unit asking for a channel that is not its own gets the same answer as for one that does not
// exist, and the attempt is logged.
import { randomBytes } from "node:crypto";
import type { Logger } from "@smgw/daemon";
import { IpcError } from "@smgw/ipc";
import type { UnitName } from "@smgw/policy";
import type { TlsChannel, TlsError } from "@smgw/tls";

export interface ChannelLimits {
  /** Channels one unit may hold. */
  perUnit: number;
  /** Channels of all units together. */
  total: number;
  /** A channel nobody used for this long is closed. */
  idleMs: number;
  /** Ciphertext waiting for the socket above which tcm.send is answered "busy". */
  maxBuffered: number;
}

export const DEFAULT_LIMITS: ChannelLimits = {
  perUnit: 16,
  total: 64,
  idleMs: 10 * 60_000,
  maxBuffered: 4 * 1024 * 1024,
};

/** Largest tcm.receive answer: its base64 stays well inside one IPC frame. */
export const MAX_RECEIVE = 96 * 1024;
/** Longest a tcm.receive waits (the IFM gives up on an answer after 10 s). */
export const MAX_WAIT_MS = 5000;

export interface ChannelInfo {
  direction: "outbound" | "inbound";
  flow: string;
  endpoint: string;
  device?: string;
}

interface Entry extends ChannelInfo {
  id: string;
  owner: UnitName;
  tls: TlsChannel;
  openedAt: number;
  lastUsed: number;
  /** Received bytes not yet given out (a chunk larger than one answer). */
  leftover: Buffer | null;
  /** A receive() of the TLS channel not yet settled; the next tcm.receive takes it over. */
  pending: Promise<Buffer | null> | null;
  receiving: boolean;
  closed: boolean;
  reason?: string;
  bytesIn: number;
  bytesOut: number;
}

const NOT_YET = Symbol("not yet");

export class ChannelTable {
  readonly #entries = new Map<string, Entry>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly log: Logger,
    private readonly limits: ChannelLimits = DEFAULT_LIMITS,
  ) {
    this.#timer = setInterval(() => this.#sweep(), Math.min(60_000, limits.idleMs / 2));
    this.#timer.unref?.();
  }

  /** Refuses (IpcError "busy") when `unit` or the TCM holds as many channels as allowed. */
  checkRoom(unit: UnitName): void {
    if (this.#entries.size >= this.limits.total) {
      throw new IpcError("busy", `the TCM holds ${this.limits.total} channels, its limit`);
    }
    const own = [...this.#entries.values()].filter((e) => e.owner === unit).length;
    if (own >= this.limits.perUnit) {
      throw new IpcError("busy", `${unit} holds ${own} channels, its limit`);
    }
  }

  add(owner: UnitName, tls: TlsChannel, info: ChannelInfo): string {
    const id = `ch-${randomBytes(16).toString("hex")}`;
    const now = Date.now();
    const entry: Entry = {
      ...info,
      id,
      owner,
      tls,
      openedAt: now,
      lastUsed: now,
      leftover: null,
      pending: null,
      receiving: false,
      closed: false,
      bytesIn: 0,
      bytesOut: 0,
    };
    this.#entries.set(id, entry);
    void tls.closed.then((error) => this.#closed(entry, error));
    return id;
  }

  get size(): number {
    return this.#entries.size;
  }

  countByOwner(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.#entries.values()) out[e.owner] = (out[e.owner] ?? 0) + 1;
    return out;
  }

  info(id: string): (ChannelInfo & { owner: UnitName }) | undefined {
    const e = this.#entries.get(id);
    return (
      e && {
        direction: e.direction,
        flow: e.flow,
        endpoint: e.endpoint,
        owner: e.owner,
        ...(e.device ? { device: e.device } : {}),
      }
    );
  }

  send(unit: UnitName, id: string, data: Uint8Array): { sent: number; buffered: number } {
    const e = this.#own(unit, id, "send on");
    if (e.closed || !e.tls.isOpen) {
      throw new IpcError("closed", `channel ${id} is closed${e.reason ? `: ${e.reason}` : ""}`);
    }
    if (e.tls.bufferedAmount > this.limits.maxBuffered) {
      throw new IpcError(
        "busy",
        `channel ${id} has ${e.tls.bufferedAmount} bytes waiting for the network; send later`,
      );
    }
    e.lastUsed = Date.now();
    try {
      e.tls.send(data);
    } catch (error) {
      throw new IpcError("closed", `channel ${id} failed: ${(error as Error).message}`);
    }
    e.bytesOut += data.length;
    return { sent: data.length, buffered: e.tls.bufferedAmount };
  }

  /**
   * Up to `max` received bytes. Waits up to `waitMs` for the first; `closed` once the channel has
   * ended and everything received was given out.
   */
  async receive(
    unit: UnitName,
    id: string,
    max: number,
    waitMs: number,
  ): Promise<{ data: Buffer; closed: boolean; reason?: string }> {
    const e = this.#own(unit, id, "receive on");
    if (e.receiving) throw new IpcError("busy", `channel ${id} is already being received on`);
    e.receiving = true;
    e.lastUsed = Date.now();
    try {
      const parts: Buffer[] = [];
      let size = 0;
      const take = (chunk: Buffer) => {
        const room = max - size;
        if (chunk.length > room) {
          parts.push(chunk.subarray(0, room));
          e.leftover = chunk.subarray(room);
          size = max;
        } else {
          parts.push(chunk);
          size += chunk.length;
        }
      };
      if (e.leftover) {
        const l = e.leftover;
        e.leftover = null;
        take(l);
      }
      let ended = false;
      // What has arrived already, without waiting.
      while (size < max && !ended) {
        const next = await this.#next(e, 0);
        if (next === NOT_YET) break;
        if (next === null) ended = true;
        else take(next);
      }
      if (size === 0 && !ended && waitMs > 0) {
        const next = await this.#next(e, waitMs);
        if (next === null) ended = true;
        else if (next !== NOT_YET) {
          take(next);
          while (size < max) {
            const more = await this.#next(e, 0);
            if (more === NOT_YET) break;
            if (more === null) {
              ended = true;
              break;
            }
            take(more);
          }
        }
      }
      e.bytesIn += size;
      const closed = ended && e.leftover === null;
      if (closed) this.#forget(e);
      return {
        data: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts),
        closed,
        ...(closed && e.reason ? { reason: e.reason } : {}),
      };
    } finally {
      e.receiving = false;
      e.lastUsed = Date.now();
    }
  }

  close(unit: UnitName, id: string): void {
    const e = this.#own(unit, id, "close");
    e.tls.close();
    this.#forget(e);
  }

  /** Closes every channel (the TCM stops). */
  closeAll(): void {
    clearInterval(this.#timer);
    for (const e of this.#entries.values()) e.tls.close();
    this.#entries.clear();
  }

  /** The next chunk within `waitMs`, null at the end, NOT_YET when none came in time. */
  async #next(e: Entry, waitMs: number): Promise<Buffer | null | typeof NOT_YET> {
    const pending = e.pending ?? e.tls.receive();
    e.pending = pending;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late =
      waitMs === 0
        ? Promise.resolve(NOT_YET)
        : new Promise<typeof NOT_YET>((resolve) => {
            timer = setTimeout(() => resolve(NOT_YET), waitMs);
          });
    try {
      // An already settled receive() wins the race against an already settled NOT_YET, as
      // its reaction was queued first.
      const value = await Promise.race([pending, late]);
      if (value !== NOT_YET) e.pending = null;
      return value;
    } catch (error) {
      e.pending = null;
      e.reason ??= (error as TlsError).message ?? String(error);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  #own(unit: UnitName, id: string, what: string): Entry {
    const e = this.#entries.get(id);
    if (!e || e.owner !== unit) {
      if (e) {
        this.log.warn("channel of another unit refused", {
          event: "tcm.channel-not-own",
          from: unit,
          owner: e.owner,
          channel: id,
          action: what,
        });
      }
      throw new IpcError("denied", `${unit} has no channel ${id} to ${what}`);
    }
    return e;
  }

  #closed(e: Entry, error: TlsError | undefined): void {
    e.closed = true;
    if (error) e.reason ??= `${error.kind}: ${error.reason}`;
    this.log.info("channel closed", {
      channel: e.id,
      owner: e.owner,
      endpoint: e.endpoint,
      flow: e.flow,
      bytesIn: e.bytesIn,
      bytesOut: e.bytesOut,
      seconds: Math.round((Date.now() - e.openedAt) / 1000),
      ...(e.reason ? { reason: e.reason } : {}),
    });
  }

  #forget(e: Entry): void {
    this.#entries.delete(e.id);
  }

  #sweep(): void {
    const now = Date.now();
    for (const e of [...this.#entries.values()]) {
      if (e.receiving || now - e.lastUsed < this.limits.idleMs) continue;
      this.log.info("idle channel closed", { channel: e.id, owner: e.owner, endpoint: e.endpoint });
      e.tls.close();
      this.#forget(e);
    }
  }
}
