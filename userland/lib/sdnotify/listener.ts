// Receiving side of the notification protocol, for the host-mode supervisor and for tests:
// a nonblocking AF_UNIX datagram socket polled on an unref'd timer.
import { ptr } from "bun:ffi";
import { lstatSync, unlinkSync } from "node:fs";
import { resolve } from "node:path";
import { SdNotifyError } from "./errors.ts";
import {
  callError,
  closeFd,
  EAGAIN,
  EINTR,
  lastErrno,
  libc,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_TRUNC,
  openDatagramSocket,
  SCM_CREDENTIALS,
  SCM_RIGHTS,
  SO_PASSCRED,
  SOL_SOCKET,
  unixAddress,
} from "./libc.ts";
import { type NotifyProblem, parseNotifyDatagram } from "./message.ts";
import { MAX_NOTIFY_MESSAGE_SIZE } from "./notify.ts";

/** Kernel-attached credentials of the sending process (SCM_CREDENTIALS). */
export interface SenderCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export type NotifyMessageCallback = (
  fields: Record<string, string>,
  raw: string,
  sender: SenderCredentials | undefined,
) => void;

export interface NotifyListenerOptions {
  /** Poll period of the receive timer; default 25 ms. */
  pollIntervalMs?: number;
  /** Receive buffer size; longer datagrams are truncated by the kernel and reported. */
  maxDatagramSize?: number;
}

// Datagrams read per poll, so a flooding sender cannot starve the event loop.
const MAX_DATAGRAMS_PER_POLL = 256;
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CMSGHDR_SIZE = 16;
// Room for credentials plus SCM_MAX_FD (253) descriptors, e.g. from BARRIER=1 or FDSTORE=1.
const CONTROL_SIZE = 2048;

const align8 = (n: number) => (n + 7) & ~7;

const pinned = (size: number) => Buffer.from(new ArrayBuffer(size));

export class NotifyListener {
  /** The value to put into NOTIFY_SOCKET for senders: "/path" or "@name". */
  readonly address: string;
  /** Filesystem path of the socket, undefined for an abstract socket. */
  readonly path: string | undefined;

  #fd: number;
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #pollIntervalMs: number;
  readonly #messageCallbacks = new Set<NotifyMessageCallback>();
  readonly #problemCallbacks = new Set<(problem: NotifyProblem) => void>();
  // recvmsg() structures. Each is backed by its own ArrayBuffer: the engine may move the storage
  // of a small typed array that has none yet, which would leave a stored pointer dangling.
  readonly #data: Buffer;
  readonly #iovec = pinned(IOVEC_SIZE);
  readonly #control = pinned(CONTROL_SIZE);
  readonly #msghdr = pinned(MSGHDR_SIZE);

  private constructor(
    fd: number,
    address: string,
    path: string | undefined,
    options: NotifyListenerOptions,
  ) {
    this.#fd = fd;
    this.address = address;
    this.path = path;
    this.#pollIntervalMs = options.pollIntervalMs ?? 25;
    this.#data = pinned(options.maxDatagramSize ?? MAX_NOTIFY_MESSAGE_SIZE);
  }

  /**
   * Binds a datagram socket at a filesystem path, first removing a stale socket file there.
   * Permissions and ownership of the socket file are the caller's business.
   */
  static bind(path: string, options: NotifyListenerOptions = {}): NotifyListener {
    const absolute = resolve(path);
    const address = unixAddress(absolute);
    removeStaleSocket(absolute);
    return NotifyListener.#open(address.text, absolute, options);
  }

  /** Binds a datagram socket in the abstract namespace; senders use NOTIFY_SOCKET="@name". */
  static bindAbstract(name: string, options: NotifyListenerOptions = {}): NotifyListener {
    return NotifyListener.#open(`@${name}`, undefined, options);
  }

  static #open(
    text: string,
    path: string | undefined,
    options: NotifyListenerOptions,
  ): NotifyListener {
    const size = options.maxDatagramSize ?? MAX_NOTIFY_MESSAGE_SIZE;
    if (!Number.isInteger(size) || size < 1 || size > 1 << 20) {
      throw new SdNotifyError(`maxDatagramSize ${size} is not an integer in 1..1048576`);
    }
    const address = unixAddress(text);
    const fd = openDatagramSocket(true);
    const on = Buffer.alloc(4);
    on.writeInt32LE(1, 0);
    if (libc().setsockopt(fd, SOL_SOCKET, SO_PASSCRED, on, on.length) !== 0) {
      const errno = lastErrno();
      closeFd(fd);
      throw callError(`setsockopt(SO_PASSCRED) for ${text} failed`, errno);
    }
    if (libc().bind(fd, address.bytes, address.length) !== 0) {
      const errno = lastErrno();
      closeFd(fd);
      throw callError(`bind(${text}) failed`, errno);
    }
    return new NotifyListener(fd, text, path, options);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `callback` for each datagram with at least one field; starts the poll timer. */
  onMessage(callback: NotifyMessageCallback): () => void {
    if (this.#closed) throw new SdNotifyError(`listener ${this.address} is closed`);
    this.#messageCallbacks.add(callback);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.poll(), this.#pollIntervalMs);
      this.#timer.unref();
    }
    return () => this.#messageCallbacks.delete(callback);
  }

  /** Receives reports of dropped datagrams, malformed lines and callback failures. */
  onProblem(callback: (problem: NotifyProblem) => void): () => void {
    this.#problemCallbacks.add(callback);
    return () => this.#problemCallbacks.delete(callback);
  }

  /** Reads and dispatches the datagrams queued now; returns how many were read. */
  poll(): number {
    let count = 0;
    while (!this.#closed && count < MAX_DATAGRAMS_PER_POLL) {
      const received = this.#receive();
      if (received === undefined) break;
      count++;
      const parsed = parseNotifyDatagram(
        this.#data.subarray(0, Math.min(received.length, this.#data.length)),
        received.length,
      );
      for (const problem of parsed.problems) this.#report(problem);
      if (Object.keys(parsed.fields).length === 0) continue;
      for (const callback of this.#messageCallbacks) {
        try {
          callback(parsed.fields, parsed.raw, received.sender);
        } catch (error) {
          const cause = error instanceof Error ? error : new Error(String(error));
          this.#report({
            kind: "callback-failed",
            message: `message callback threw: ${cause.message}`,
            error: cause,
          });
        }
      }
    }
    return count;
  }

  /** Stops polling, closes the socket and removes its file; later calls do nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    closeFd(this.#fd);
    this.#fd = -1;
    if (this.path !== undefined) {
      try {
        unlinkSync(this.path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #report(problem: NotifyProblem): void {
    for (const callback of this.#problemCallbacks) {
      try {
        callback(problem);
      } catch {
        // A failing problem handler must not stop the receive loop.
      }
    }
  }

  #receive(): { length: number; sender: SenderCredentials | undefined } | undefined {
    for (;;) {
      // Pointers are taken afresh for each call rather than trusted to stay put.
      this.#iovec.writeBigUInt64LE(BigInt(ptr(this.#data)), 0);
      this.#iovec.writeBigUInt64LE(BigInt(this.#data.length), 8);
      this.#msghdr.fill(0);
      this.#msghdr.writeBigUInt64LE(BigInt(ptr(this.#iovec)), 16);
      this.#msghdr.writeBigUInt64LE(1n, 24);
      this.#msghdr.writeBigUInt64LE(BigInt(ptr(this.#control)), 32);
      this.#msghdr.writeBigUInt64LE(BigInt(CONTROL_SIZE), 40);
      const length = Number(
        libc().recvmsg(this.#fd, this.#msghdr, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC),
      );
      if (length >= 0) {
        const sender = this.#readControl();
        return { length, sender };
      }
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) {
        const error = callError(`recvmsg on ${this.address} failed`, errno);
        this.#report({ kind: "receive-failed", message: error.message, error });
      }
      return undefined;
    }
  }

  #readControl(): SenderCredentials | undefined {
    const control = this.#control;
    const controlLength = Math.min(Number(this.#msghdr.readBigUInt64LE(40)), CONTROL_SIZE);
    let sender: SenderCredentials | undefined;
    let offset = 0;
    while (offset + CMSGHDR_SIZE <= controlLength) {
      const length = Number(control.readBigUInt64LE(offset));
      if (length < CMSGHDR_SIZE || offset + length > controlLength) break;
      const level = control.readInt32LE(offset + 8);
      const type = control.readInt32LE(offset + 12);
      const data = offset + CMSGHDR_SIZE;
      if (level === SOL_SOCKET && type === SCM_CREDENTIALS && length >= CMSGHDR_SIZE + 12) {
        sender = {
          pid: control.readInt32LE(data),
          uid: control.readUInt32LE(data + 4),
          gid: control.readUInt32LE(data + 8),
        };
      } else if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        // Passed descriptors (BARRIER=1's pipe, FDSTORE=1) are not kept: closing them is
        // what releases a sender waiting on a barrier.
        for (let at = data; at + 4 <= offset + length; at += 4) closeFd(control.readInt32LE(at));
      }
      offset += align8(length);
    }
    if ((this.#msghdr.readInt32LE(48) & MSG_CTRUNC) !== 0) {
      this.#report({ kind: "truncated", message: "control data truncated; some fds dropped" });
    }
    return sender;
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (!lstatSync(path).isSocket()) {
      throw new SdNotifyError(`${path} exists and is not a socket; not removing it`);
    }
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
