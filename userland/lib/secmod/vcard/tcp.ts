// A TCP connection made through libc so that the card can set TCP_QUICKACK on it. vpcd sends
// each message as two writes (length, then bytes) without TCP_NODELAY, so Nagle holds the
// second until the first is acknowledged; with Linux's delayed ACK that costs 40 ms per APDU.
// Re-arming quick ACKs after every read and write keeps the card at sub-millisecond APDUs.
import { dlopen, FFIType } from "bun:ffi";

const { i32, u32, ptr } = FFIType;

function open() {
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    connect: { args: [i32, ptr, u32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
    close: { args: [i32], returns: i32 },
  });
}
let lib: ReturnType<typeof open>["symbols"] | undefined;
function L(): ReturnType<typeof open>["symbols"] {
  lib ??= open().symbols;
  return lib;
}

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const TCP_QUICKACK = 12;
const ONE = Int32Array.of(1);

export class TcpConnectError extends Error {
  override name = "TcpConnectError";
}

/** Connect to an IPv4 address and port; returns the socket's file descriptor. */
export function connectIpv4(host: string, port: number): number {
  const parts = host.split(".").map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TcpConnectError(`host ${host} is not an IPv4 address`);
  }
  const l = L();
  const fd = l.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new TcpConnectError("socket() failed");
  const sa = new Uint8Array(16);
  const view = new DataView(sa.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  sa.set(parts, 4);
  if (l.connect(fd, sa, sa.length) !== 0) {
    l.close(fd);
    throw new TcpConnectError(`cannot connect to ${host}:${port}`);
  }
  l.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, ONE, 4);
  quickAck(fd);
  return fd;
}

/** Acknowledge the next segment at once (Linux clears this after a while; call it often). */
export function quickAck(fd: number): void {
  L().setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ONE, 4);
}
