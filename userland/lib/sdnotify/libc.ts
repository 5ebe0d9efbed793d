// Thin bun:ffi binding to the libc socket calls needed for AF_UNIX datagrams, which Bun's own
// APIs do not offer. Struct layouts assume 64-bit Linux (x86_64, aarch64).
import { CString, dlopen, FFIType, read } from "bun:ffi";
import { SdNotifyError } from "./errors.ts";

export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_PASSCRED = 16;
export const SO_SNDTIMEO = 21;
export const SCM_RIGHTS = 1;
export const SCM_CREDENTIALS = 2;
export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const CLOCK_MONOTONIC = 1;

export const EINTR = 4;
export const EAGAIN = 11;

/** sun_path is 108 bytes; a filesystem path also needs its terminating NUL. */
export const SUN_PATH_SIZE = 108;
const SUN_PATH_OFFSET = 2;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  20: "ENOTDIR",
  22: "EINVAL",
  24: "EMFILE",
  36: "ENAMETOOLONG",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  105: "ENOBUFS",
  107: "ENOTCONN",
  111: "ECONNREFUSED",
};

function open() {
  if (process.platform !== "linux") {
    throw new SdNotifyError(`the notification protocol needs Linux, not ${process.platform}`);
  }
  return dlopen("libc.so.6", {
    socket: { args: ["i32", "i32", "i32"], returns: "i32" },
    bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
    sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: FFIType.i64_fast },
    recvmsg: { args: ["i32", "ptr", "i32"], returns: FFIType.i64_fast },
    setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
    clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
    strerror: { args: ["i32"], returns: "ptr" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
}

let symbols: ReturnType<typeof open> | undefined;

/** The libc symbols, loaded on first use so that importing this module never fails. */
export function libc(): ReturnType<typeof open> {
  symbols ??= open();
  return symbols;
}

/** errno of the calling thread; read it right after the failing call. */
export function lastErrno(): number {
  const location = libc().__errno_location();
  return location === null ? 0 : read.i32(location);
}

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

export function errnoText(errno: number): string {
  const text = libc().strerror(errno);
  return text === null ? errnoName(errno) : new CString(text).toString();
}

/** An SdNotifyError for the call that just failed with `errno`. */
export function callError(what: string, errno: number): SdNotifyError {
  const code = errnoName(errno);
  return new SdNotifyError(`${what}: ${errnoText(errno)} (${code})`, errno, code);
}

/** A bound or destination address: the struct sockaddr_un bytes and the length to pass. */
export interface UnixAddress {
  readonly bytes: Buffer;
  readonly length: number;
  /** How the address was given: "/path" or "@abstract-name". */
  readonly text: string;
}

/**
 * Builds struct sockaddr_un for a NOTIFY_SOCKET-style address: "/path" is a filesystem socket,
 * "@name" an abstract one (leading NUL, length without a trailing NUL).
 */
export function unixAddress(text: string): UnixAddress {
  const abstract = text.startsWith("@");
  if (!abstract && !text.startsWith("/")) {
    throw new SdNotifyError(
      `socket address ${JSON.stringify(text)} is neither an absolute path nor "@" + abstract name`,
    );
  }
  const name = Buffer.from(abstract ? text.slice(1) : text, "utf8");
  if (name.length === 0) {
    throw new SdNotifyError(`socket address ${JSON.stringify(text)} has an empty name`);
  }
  if (!abstract && name.includes(0)) {
    throw new SdNotifyError(`socket path ${JSON.stringify(text)} contains a NUL byte`);
  }
  // Both forms use one byte of sun_path besides the name: the leading NUL or the trailing one.
  if (name.length + 1 > SUN_PATH_SIZE) {
    throw new SdNotifyError(
      `socket address ${JSON.stringify(text)} is ${name.length} bytes; sun_path holds at most ${SUN_PATH_SIZE - 1}`,
    );
  }
  const bytes = Buffer.alloc(SUN_PATH_OFFSET + SUN_PATH_SIZE);
  bytes.writeUInt16LE(AF_UNIX, 0);
  if (abstract) {
    name.copy(bytes, SUN_PATH_OFFSET + 1);
    return { bytes, length: SUN_PATH_OFFSET + 1 + name.length, text };
  }
  name.copy(bytes, SUN_PATH_OFFSET);
  return { bytes, length: SUN_PATH_OFFSET + name.length + 1, text };
}

/** Opens an AF_UNIX datagram socket (close-on-exec; optionally nonblocking). */
export function openDatagramSocket(nonblocking: boolean): number {
  const type = SOCK_DGRAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  const fd = libc().socket(AF_UNIX, type, 0);
  if (fd < 0) throw callError("socket(AF_UNIX, SOCK_DGRAM) failed", lastErrno());
  return fd;
}

export function closeFd(fd: number): void {
  // close() releases the fd even when it reports EINTR on Linux: never retry.
  libc().close(fd);
}

/** CLOCK_MONOTONIC in microseconds, the clock systemd expects for MONOTONIC_USEC. */
export function monotonicUsec(): bigint {
  const timespec = Buffer.alloc(16);
  if (libc().clock_gettime(CLOCK_MONOTONIC, timespec) !== 0) {
    throw callError("clock_gettime(CLOCK_MONOTONIC) failed", lastErrno());
  }
  return timespec.readBigInt64LE(0) * 1_000_000n + timespec.readBigInt64LE(8) / 1000n;
}
