// Sending side of the service notification protocol (sd_notify): one datagram of
// newline-separated KEY=VALUE lines to the AF_UNIX socket named by $NOTIFY_SOCKET.
import { SdNotifyError } from "./errors.ts";
import {
  callError,
  closeFd,
  EINTR,
  lastErrno,
  libc,
  MSG_NOSIGNAL,
  monotonicUsec,
  openDatagramSocket,
  SO_SNDTIMEO,
  SOL_SOCKET,
  type UnixAddress,
  unixAddress,
} from "./libc.ts";

export type Environment = Record<string, string | undefined>;

/** systemd ignores notification datagrams of this size or more (its buffer is PIPE_BUF). */
export const MAX_NOTIFY_MESSAGE_SIZE = 4096;

/** How long a send may wait when the receiver's queue is full before it fails with EAGAIN. */
export const SEND_TIMEOUT_MS = 1000;

// setInterval treats delays above a signed 32-bit millisecond count as 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

const KEY_PATTERN = /^[A-Za-z0-9_]+$/;

let senderFd: number | undefined;
let exitHookInstalled = false;
let cachedAddress: UnixAddress | undefined;

function sender(): number {
  if (senderFd !== undefined) return senderFd;
  const fd = openDatagramSocket(false);
  // Blocking like sd_notify, but bounded so a stuck receiver cannot hang the daemon.
  const timeval = Buffer.alloc(16);
  timeval.writeBigInt64LE(BigInt(Math.floor(SEND_TIMEOUT_MS / 1000)), 0);
  timeval.writeBigInt64LE(BigInt((SEND_TIMEOUT_MS % 1000) * 1000), 8);
  if (libc().setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeval, timeval.length) !== 0) {
    const errno = lastErrno();
    closeFd(fd);
    throw callError("setsockopt(SO_SNDTIMEO) on the notification socket failed", errno);
  }
  senderFd = fd;
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", closeNotifySocket);
  }
  return fd;
}

/** Closes the reused sending socket; the next notify() opens a new one. */
export function closeNotifySocket(): void {
  if (senderFd === undefined) return;
  closeFd(senderFd);
  senderFd = undefined;
}

function destination(text: string): UnixAddress {
  if (cachedAddress?.text !== text) {
    if (text.startsWith("vsock:")) {
      throw new SdNotifyError(`NOTIFY_SOCKET ${JSON.stringify(text)}: AF_VSOCK is not supported`);
    }
    try {
      cachedAddress = unixAddress(text);
    } catch (error) {
      throw new SdNotifyError(`NOTIFY_SOCKET: ${(error as Error).message}`);
    }
  }
  return cachedAddress;
}

function checkLine(line: string, where: string): void {
  const equals = line.indexOf("=");
  if (equals <= 0 || !KEY_PATTERN.test(line.slice(0, equals))) {
    throw new SdNotifyError(`${where}: ${JSON.stringify(line)} is not a KEY=VALUE line`);
  }
  if (line.includes("\0")) throw new SdNotifyError(`${where}: contains a NUL character`);
}

/**
 * Renders a state as the datagram text. A RELOADING=1 without MONOTONIC_USEC gets the current
 * CLOCK_MONOTONIC added, because systemd (since v253) needs it to match the reload.
 */
export function encodeState(state: string | Record<string, string>): string {
  let lines: string[];
  if (typeof state === "string") {
    lines = state.split("\n").filter((line) => line !== "");
    for (const [index, line] of lines.entries()) checkLine(line, `state line ${index + 1}`);
  } else {
    lines = [];
    for (const [key, value] of Object.entries(state)) {
      if (!KEY_PATTERN.test(key)) {
        throw new SdNotifyError(`state key ${JSON.stringify(key)} is not [A-Za-z0-9_]+`);
      }
      if (typeof value !== "string" || value.includes("\n") || value.includes("\0")) {
        throw new SdNotifyError(`state ${key}: value must be a string without newline or NUL`);
      }
      lines.push(`${key}=${value}`);
    }
  }
  if (lines.length === 0) throw new SdNotifyError("state is empty: nothing to notify");
  if (lines.includes("RELOADING=1") && !lines.some((line) => line.startsWith("MONOTONIC_USEC="))) {
    lines.push(`MONOTONIC_USEC=${monotonicUsec()}`);
  }
  return lines.join("\n");
}

/**
 * Sends raw datagram bytes to a NOTIFY_SOCKET-style address over the shared sending socket.
 * Not size-checked: for tests of a receiver's handling of odd datagrams.
 */
export function sendDatagram(address: string, data: Uint8Array): void {
  const target = destination(address);
  const fd = sender();
  for (;;) {
    const sent = Number(
      libc().sendto(fd, data, data.length, MSG_NOSIGNAL, target.bytes, target.length),
    );
    if (sent === data.length) return;
    const errno = sent < 0 ? lastErrno() : 0;
    if (errno === EINTR) continue;
    if (sent >= 0) {
      throw new SdNotifyError(`sending to NOTIFY_SOCKET ${address}: short send of ${sent} bytes`);
    }
    throw callError(`sending to NOTIFY_SOCKET ${address} failed`, errno);
  }
}

/**
 * Sends a notification such as "READY=1", { STATUS: "..." }, "WATCHDOG=1" or "STOPPING=1".
 * Returns false when NOTIFY_SOCKET is unset (not supervised); throws SdNotifyError when it is
 * set but the state is invalid or sending fails.
 */
export function notify(
  state: string | Record<string, string>,
  env: Environment = process.env,
): boolean {
  const address = env.NOTIFY_SOCKET;
  if (address === undefined || address === "") return false;
  const data = Buffer.from(encodeState(state), "utf8");
  if (data.length >= MAX_NOTIFY_MESSAGE_SIZE) {
    throw new SdNotifyError(
      `state is ${data.length} bytes; receivers accept less than ${MAX_NOTIFY_MESSAGE_SIZE}`,
    );
  }
  sendDatagram(address, data);
  return true;
}

/** Announces a reload: RELOADING=1 with MONOTONIC_USEC, plus an optional STATUS. */
export function notifyReloading(status?: string, env: Environment = process.env): boolean {
  const state: Record<string, string> = { RELOADING: "1", MONOTONIC_USEC: `${monotonicUsec()}` };
  if (status !== undefined) state.STATUS = status;
  return notify(state, env);
}

function parseDecimal(name: string, text: string): number {
  if (!/^[0-9]{1,20}$/.test(text)) {
    throw new SdNotifyError(`${name}=${JSON.stringify(text)} is not a decimal number`);
  }
  return Number(text);
}

/**
 * The interval in ms at which to send WATCHDOG=1: half of WATCHDOG_USEC, as systemd recommends.
 * undefined when no watchdog is configured, or WATCHDOG_PID names another process (the
 * variables were inherited). Throws SdNotifyError for malformed values.
 */
export function watchdogInterval(env: Environment = process.env): number | undefined {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || usecText === "") return undefined;
  const usec = parseDecimal("WATCHDOG_USEC", usecText);
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined && pidText !== "") {
    const pid = parseDecimal("WATCHDOG_PID", pidText);
    if (pid === 0) throw new SdNotifyError("WATCHDOG_PID=0 is not a process id");
    if (pid !== process.pid) return undefined;
  }
  if (usec === 0) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * Sends WATCHDOG=1 every watchdogInterval(env) ms on an unref'd timer; returns an idempotent
 * stop function (a no-op when no watchdog is configured). A failed ping goes to onError,
 * by default stderr: a timer must not crash the daemon, the missing pings will.
 */
export function startWatchdog(
  env: Environment = process.env,
  onError: (error: Error) => void = (error) => console.error(`watchdog ping: ${error.message}`),
): () => void {
  const interval = watchdogInterval(env);
  if (interval === undefined) return () => {};
  const timer = setInterval(
    () => {
      try {
        notify("WATCHDOG=1", env);
      } catch (error) {
        onError(error as Error);
      }
    },
    Math.min(interval, MAX_TIMER_MS),
  );
  timer.unref();
  return () => clearInterval(timer);
}
