// Blocking UNIX stream sockets through bun:ffi on libc. Bun's sockets are asynchronous only;
// OpenSSL asks for a signature synchronously in the middle of a handshake, so the TCM needs
// one connection it can write to and wait on without returning to the event loop.
// Struct layouts assume 64-bit Linux (x86_64, aarch64).
import { dlopen, FFIType, type Pointer, read } from "bun:ffi";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const POLLRDHUP = 0x2000;
const EINTR = 4;
const EAGAIN = 11;
/** sun_path holds 108 bytes including the terminating NUL. */
const SUN_PATH_SIZE = 108;

const ERRNO_NAMES: Record<number, string> = {
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  32: "EPIPE",
  104: "ECONNRESET",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
};

/** A failed socket call, with the errno name ("ECONNREFUSED") when known. */
export class SocketCallError extends Error {
  override readonly name = "SocketCallError";
  constructor(
    message: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(message);
  }
}

const { i32, i64, ptr, u64 } = FFIType;

function bind() {
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    connect: { args: [i32, ptr, i32], returns: i32 },
    send: { args: [i32, ptr, u64, i32], returns: i64 },
    recv: { args: [i32, ptr, u64, i32], returns: i64 },
    poll: { args: [ptr, u64, i32], returns: i32 },
    close: { args: [i32], returns: i32 },
    __errno_location: { args: [], returns: ptr },
  }).symbols;
}

let bound: ReturnType<typeof bind> | undefined;

function libc(): ReturnType<typeof bind> {
  bound ??= bind();
  return bound;
}

function errno(): number {
  const at = libc().__errno_location() as Pointer | null;
  return at ? read.i32(at, 0) : 0;
}

function failure(what: string): SocketCallError {
  const n = errno();
  const code = ERRNO_NAMES[n] ?? `errno ${n}`;
  return new SocketCallError(`${what}: ${code}`, n, code);
}

/** One connected UNIX stream socket with blocking reads bounded by a deadline. */
export class UnixStream {
  #fd: number;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Connects to the socket at `path`; throws SocketCallError (ENOENT, ECONNREFUSED, EACCES). */
  static connect(path: string): UnixStream {
    const name = Buffer.from(path, "utf8");
    if (name.length >= SUN_PATH_SIZE || name.includes(0)) {
      throw new SocketCallError(`socket path too long or not a path: ${path}`, 36, "ENAMETOOLONG");
    }
    const c = libc();
    const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw failure("socket");
    const address = Buffer.alloc(2 + SUN_PATH_SIZE);
    address.writeUInt16LE(AF_UNIX, 0);
    name.copy(address, 2);
    for (;;) {
      if (c.connect(fd, address, address.length) === 0) return new UnixStream(fd);
      const e = failure(`connect ${path}`);
      if (e.errno === EINTR) continue;
      c.close(fd);
      throw e;
    }
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Writes all of `bytes` (never raises SIGPIPE). */
  write(bytes: Uint8Array): void {
    const c = libc();
    let offset = 0;
    while (offset < bytes.length) {
      const part = offset === 0 ? bytes : bytes.subarray(offset);
      const n = Number(c.send(this.#fd, part, BigInt(part.length), MSG_NOSIGNAL));
      if (n < 0) {
        const e = failure("send");
        if (e.errno === EINTR) continue;
        throw e;
      }
      offset += n;
    }
  }

  /**
   * Waits until bytes arrive or `timeoutMs` passes. Returns the bytes read (empty on timeout),
   * or null when the peer closed the connection.
   */
  read(into: Buffer, timeoutMs: number): Buffer | null {
    const c = libc();
    const pollfd = Buffer.alloc(8);
    pollfd.writeInt32LE(this.#fd, 0);
    pollfd.writeInt16LE(POLLIN | POLLRDHUP, 4);
    const ready = c.poll(pollfd, 1n, Math.max(0, Math.floor(timeoutMs)));
    if (ready < 0) {
      const e = failure("poll");
      if (e.errno === EINTR) return Buffer.alloc(0);
      throw e;
    }
    if (ready === 0) return Buffer.alloc(0);
    const revents = pollfd.readInt16LE(6);
    if (revents & POLLNVAL) throw new SocketCallError("poll: socket is not open", 9, "EBADF");
    const n = Number(c.recv(this.#fd, into, BigInt(into.length), MSG_DONTWAIT));
    if (n > 0) return into.subarray(0, n);
    if (n === 0) return null;
    const e = failure("recv");
    if (e.errno === EAGAIN || e.errno === EINTR) {
      return revents & (POLLHUP | POLLERR) ? null : Buffer.alloc(0);
    }
    if (e.code === "ECONNRESET") return null;
    throw e;
  }

  close(): void {
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    this.#fd = -1;
  }
}
