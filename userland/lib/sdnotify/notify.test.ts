import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SdNotifyError } from "./errors.ts";
import { monotonicUsec } from "./libc.ts";
import { NotifyListener } from "./listener.ts";
import {
  closeNotifySocket,
  encodeState,
  notify,
  notifyReloading,
  sendDatagram,
  startWatchdog,
  watchdogInterval,
} from "./notify.ts";
import {
  collect,
  countOpenFds,
  socketDirectory,
  uniqueAbstractName,
  waitFor,
} from "./test-helpers.ts";

let directory: ReturnType<typeof socketDirectory>;
let listener: NotifyListener;
let env: Record<string, string>;

beforeEach(() => {
  directory = socketDirectory();
  listener = NotifyListener.bind(join(directory.path, "notify.sock"));
  env = { NOTIFY_SOCKET: listener.address };
});

afterEach(() => {
  listener.close();
  directory.remove();
});

function thrown(action: () => unknown): SdNotifyError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SdNotifyError);
    return error as SdNotifyError;
  }
  throw new Error("expected an SdNotifyError");
}

describe("notify", () => {
  test("returns false without sending when NOTIFY_SOCKET is unset or empty", () => {
    const { messages } = collect(listener);
    expect(notify("READY=1", {})).toBe(false);
    expect(notify("READY=1", { NOTIFY_SOCKET: "" })).toBe(false);
    listener.poll();
    expect(messages).toEqual([]);
  });

  test("sends READY, STATUS, WATCHDOG and STOPPING to a path socket", () => {
    const { messages, problems } = collect(listener);
    expect(notify("READY=1", env)).toBe(true);
    expect(notify({ STATUS: "Processing meter readings" }, env)).toBe(true);
    expect(notify("WATCHDOG=1", env)).toBe(true);
    expect(notify({ STOPPING: "1", STATUS: "Shutting down" }, env)).toBe(true);
    expect(listener.poll()).toBe(4);
    expect(messages.map((m) => m.fields)).toEqual([
      { READY: "1" },
      { STATUS: "Processing meter readings" },
      { WATCHDOG: "1" },
      { STOPPING: "1", STATUS: "Shutting down" },
    ]);
    expect(messages[3]?.raw).toBe("STOPPING=1\nSTATUS=Shutting down");
    expect(messages[0]?.sender?.pid).toBe(process.pid);
    expect(problems).toEqual([]);
  });

  test("sends to an abstract socket named with '@'", () => {
    const abstract = NotifyListener.bindAbstract(uniqueAbstractName());
    try {
      expect(abstract.address.startsWith("@")).toBe(true);
      expect(abstract.path).toBeUndefined();
      const { messages } = collect(abstract);
      expect(notify("READY=1\nSTATUS=abstract", { NOTIFY_SOCKET: abstract.address })).toBe(true);
      abstract.poll();
      expect(messages.map((m) => m.fields)).toEqual([{ READY: "1", STATUS: "abstract" }]);
    } finally {
      abstract.close();
    }
  });

  test("a path listener does not receive what goes to an abstract name of the same text", () => {
    const { messages } = collect(listener);
    const abstract = NotifyListener.bindAbstract(listener.address);
    try {
      const other = collect(abstract);
      notify("READY=1", { NOTIFY_SOCKET: `@${listener.address}` });
      listener.poll();
      abstract.poll();
      expect(messages).toEqual([]);
      expect(other.messages).toHaveLength(1);
    } finally {
      abstract.close();
    }
  });

  test("RELOADING=1 carries MONOTONIC_USEC from CLOCK_MONOTONIC", () => {
    const { messages } = collect(listener);
    const before = monotonicUsec();
    notifyReloading("Reloading configuration", env);
    notify("RELOADING=1", env);
    notify({ RELOADING: "1", MONOTONIC_USEC: "42" }, env);
    const after = monotonicUsec();
    listener.poll();
    expect(messages).toHaveLength(3);
    for (const message of messages.slice(0, 2)) {
      expect(message.fields.RELOADING).toBe("1");
      const usec = BigInt(message.fields.MONOTONIC_USEC ?? "-1");
      expect(usec >= before && usec <= after).toBe(true);
    }
    expect(messages[0]?.fields.STATUS).toBe("Reloading configuration");
    expect(messages[2]?.fields.MONOTONIC_USEC).toBe("42");
    expect(before > 0n && after >= before).toBe(true);
  });

  test("throws a clear error when the socket does not exist or nobody listens", () => {
    const missing = thrown(() => notify("READY=1", { NOTIFY_SOCKET: `${directory.path}/none` }));
    expect(missing.code).toBe("ENOENT");
    expect(missing.message).toContain(`${directory.path}/none`);
    const unbound = thrown(() => notify("READY=1", { NOTIFY_SOCKET: `@${uniqueAbstractName()}` }));
    expect(unbound.code).toBe("ECONNREFUSED");
  });

  test("rejects NOTIFY_SOCKET values that are not a path or abstract name", () => {
    for (const value of ["relative/path", "@", "vsock:2:1234", `/${"x".repeat(200)}`]) {
      const error = thrown(() => notify("READY=1", { NOTIFY_SOCKET: value }));
      expect(error.message).toContain("NOTIFY_SOCKET");
    }
  });

  test("rejects invalid states before sending", () => {
    const { messages } = collect(listener);
    const invalid: (string | Record<string, string>)[] = [
      "",
      "\n\n",
      "READY",
      "=1",
      "READY=1\nnot a field",
      "READY=1\0",
      {},
      { "BAD KEY": "1" },
      { STATUS: "two\nlines" },
      { STATUS: "x".repeat(5000) },
    ];
    for (const state of invalid) thrown(() => notify(state, env));
    listener.poll();
    expect(messages).toEqual([]);
  });

  test("encodeState joins record fields in order", () => {
    expect(encodeState({ READY: "1", STATUS: "ok", MAINPID: "7" })).toBe(
      "READY=1\nSTATUS=ok\nMAINPID=7",
    );
    expect(encodeState("READY=1\n")).toBe("READY=1");
  });

  test("a sender in a child process reaches the listener", async () => {
    const { messages } = collect(listener);
    const child = Bun.spawn(
      [
        process.execPath,
        join(import.meta.dir, "fixtures", "child-notify.ts"),
        "READY=1\nSTATUS=child",
      ],
      { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" },
    );
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stdout).text()).toBe("sent");
    await waitFor(() => messages.length === 1);
    expect(messages[0]?.fields).toEqual({ READY: "1", STATUS: "child" });
    expect(messages[0]?.sender?.pid).toBe(child.pid);
  });

  test("a child process without NOTIFY_SOCKET reports unset", async () => {
    const childEnv = { ...process.env };
    delete childEnv.NOTIFY_SOCKET;
    const child = Bun.spawn(
      [process.execPath, join(import.meta.dir, "fixtures", "child-notify.ts")],
      {
        env: childEnv,
        stdout: "pipe",
      },
    );
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stdout).text()).toBe("unset");
  });

  test("a receiver that stops reading makes notify fail with EAGAIN, not hang", () => {
    let error: SdNotifyError | undefined;
    const started = Date.now();
    for (let i = 0; i < 2000 && error === undefined; i++) {
      try {
        notify({ STATUS: `queued ${i}` }, env);
      } catch (caught) {
        error = caught as SdNotifyError;
      }
    }
    expect(error).toBeInstanceOf(SdNotifyError);
    expect(error?.code).toBe("EAGAIN");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("10,000 notifications leak no file descriptor", () => {
    let received = 0;
    listener.onMessage(() => received++);
    notify("WATCHDOG=1", env);
    listener.poll();
    const before = countOpenFds();
    for (let i = 0; i < 10_000; i++) {
      notify(i % 2 === 0 ? "WATCHDOG=1" : { STATUS: `tick ${i}` }, env);
      listener.poll();
    }
    expect(countOpenFds()).toBe(before);
    expect(received).toBe(10_001);
  });

  test("closeNotifySocket releases the sending socket; the next notify reopens one", () => {
    notify("WATCHDOG=1", env);
    const open = countOpenFds();
    closeNotifySocket();
    closeNotifySocket();
    expect(countOpenFds()).toBe(open - 1);
    notify("WATCHDOG=1", env);
    expect(countOpenFds()).toBe(open);
  });
});

describe("sendDatagram", () => {
  test("delivers raw bytes unchanged", () => {
    const { messages } = collect(listener);
    sendDatagram(listener.address, new TextEncoder().encode("A=1\nB=2\n"));
    listener.poll();
    expect(messages[0]?.raw).toBe("A=1\nB=2\n");
  });
});

describe("watchdogInterval", () => {
  test("is half of WATCHDOG_USEC in ms", () => {
    expect(watchdogInterval({ WATCHDOG_USEC: "30000000" })).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: "3000" })).toBe(1);
    expect(watchdogInterval({ WATCHDOG_USEC: "1" })).toBe(1);
  });

  test("is undefined when unset, zero or meant for another process", () => {
    expect(watchdogInterval({})).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: "" })).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: "0" })).toBeUndefined();
    const other = String(process.pid + 1);
    expect(watchdogInterval({ WATCHDOG_USEC: "20000000", WATCHDOG_PID: other })).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_PID: String(process.pid) })).toBeUndefined();
  });

  test("applies when WATCHDOG_PID is this process", () => {
    const own = { WATCHDOG_USEC: "20000000", WATCHDOG_PID: String(process.pid) };
    expect(watchdogInterval(own)).toBe(10_000);
  });

  test("throws for malformed values", () => {
    for (const bad of [
      { WATCHDOG_USEC: "-5" },
      { WATCHDOG_USEC: "10s" },
      { WATCHDOG_USEC: "1e6" },
      { WATCHDOG_USEC: " 100" },
      { WATCHDOG_USEC: "1".repeat(30) },
      { WATCHDOG_USEC: "1000", WATCHDOG_PID: "abc" },
      { WATCHDOG_USEC: "1000", WATCHDOG_PID: "0" },
    ]) {
      thrown(() => watchdogInterval(bad));
    }
  });

  test("uses process.env by default", () => {
    const saved = process.env.WATCHDOG_USEC;
    delete process.env.WATCHDOG_USEC;
    try {
      expect(watchdogInterval()).toBeUndefined();
    } finally {
      if (saved !== undefined) process.env.WATCHDOG_USEC = saved;
    }
  });
});

describe("startWatchdog", () => {
  test("pings WATCHDOG=1 at the interval until stopped", async () => {
    const { messages } = collect(listener);
    const stop = startWatchdog({ ...env, WATCHDOG_USEC: "40000", WATCHDOG_PID: `${process.pid}` });
    await waitFor(() => messages.length >= 3);
    stop();
    stop();
    await Bun.sleep(80);
    const count = messages.length;
    await Bun.sleep(120);
    expect(messages.length).toBe(count);
    expect(messages.every((m) => m.raw === "WATCHDOG=1")).toBe(true);
  });

  test("is a no-op without a watchdog", async () => {
    const { messages } = collect(listener);
    const stop = startWatchdog({ ...env });
    await Bun.sleep(60);
    stop();
    expect(messages).toEqual([]);
  });

  test("reports failed pings to onError instead of throwing", async () => {
    const errors: Error[] = [];
    const stop = startWatchdog(
      { NOTIFY_SOCKET: `${directory.path}/gone`, WATCHDOG_USEC: "20000" },
      (error) => errors.push(error),
    );
    await waitFor(() => errors.length >= 2);
    stop();
    expect(errors[0]).toBeInstanceOf(SdNotifyError);
    expect((errors[0] as SdNotifyError).code).toBe("ENOENT");
  });
});
