import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SdNotifyError } from "./errors.ts";
import { NotifyListener } from "./listener.ts";
import { notify, sendDatagram } from "./notify.ts";
import {
  collect,
  countOpenFds,
  socketDirectory,
  uniqueAbstractName,
  waitFor,
} from "./test-helpers.ts";

const SYSTEMD_NOTIFY = "/usr/bin/systemd-notify";

let directory: ReturnType<typeof socketDirectory>;
let socketPath: string;

beforeEach(() => {
  directory = socketDirectory();
  socketPath = join(directory.path, "notify.sock");
});

afterEach(() => directory.remove());

const bytes = (text: string) => new TextEncoder().encode(text);

describe("NotifyListener.bind", () => {
  test("creates a socket file and exposes its address", () => {
    const listener = NotifyListener.bind(socketPath);
    try {
      expect(statSync(socketPath).isSocket()).toBe(true);
      expect(listener.path).toBe(socketPath);
      expect(listener.address).toBe(socketPath);
    } finally {
      listener.close();
    }
  });

  test("replaces a stale socket file left by an earlier listener", () => {
    const first = NotifyListener.bind(socketPath);
    // Simulate a crashed supervisor: the fd goes away but the file stays.
    const stale = NotifyListener.bind(join(directory.path, "other.sock"));
    stale.close();
    const second = NotifyListener.bind(socketPath);
    try {
      const { messages } = collect(second);
      notify("READY=1", { NOTIFY_SOCKET: socketPath });
      second.poll();
      expect(messages).toHaveLength(1);
    } finally {
      second.close();
      first.close();
    }
  });

  test("refuses to remove a file that is not a socket", () => {
    writeFileSync(socketPath, "keep me");
    expect(() => NotifyListener.bind(socketPath)).toThrow(SdNotifyError);
    expect(existsSync(socketPath)).toBe(true);
    mkdirSync(join(directory.path, "dir"));
    expect(() => NotifyListener.bind(join(directory.path, "dir"))).toThrow(/not a socket/);
  });

  test("fails clearly for a path in a missing directory or one too long", () => {
    expect(() => NotifyListener.bind(join(directory.path, "no", "such.sock"))).toThrow(/ENOENT/);
    expect(() => NotifyListener.bind(join(directory.path, "x".repeat(120)))).toThrow(/sun_path/);
  });

  test("an abstract name can be bound once at a time", () => {
    const name = uniqueAbstractName();
    const first = NotifyListener.bindAbstract(name);
    try {
      expect(() => NotifyListener.bindAbstract(name)).toThrow(/EADDRINUSE/);
    } finally {
      first.close();
    }
    NotifyListener.bindAbstract(name).close();
  });

  test("rejects an unusable datagram buffer size", () => {
    expect(() => NotifyListener.bind(socketPath, { maxDatagramSize: 0 })).toThrow(SdNotifyError);
    expect(() => NotifyListener.bind(socketPath, { maxDatagramSize: 1.5 })).toThrow(SdNotifyError);
  });
});

describe("NotifyListener.close", () => {
  test("is idempotent, closes the fd and unlinks the path once", () => {
    const before = countOpenFds();
    const listener = NotifyListener.bind(socketPath);
    listener.onMessage(() => {});
    expect(countOpenFds()).toBe(before + 1);
    listener.close();
    expect(listener.closed).toBe(true);
    expect(existsSync(socketPath)).toBe(false);
    expect(countOpenFds()).toBe(before);
    // A new socket at the same path must survive a second close of the old listener.
    const successor = NotifyListener.bind(socketPath);
    listener.close();
    listener[Symbol.dispose]();
    expect(existsSync(socketPath)).toBe(true);
    expect(countOpenFds()).toBe(before + 1);
    successor.close();
  });

  test("after close, poll reads nothing and onMessage throws", () => {
    const listener = NotifyListener.bind(socketPath);
    listener.close();
    expect(listener.poll()).toBe(0);
    expect(() => listener.onMessage(() => {})).toThrow(/closed/);
  });

  test("an abstract listener leaves the filesystem alone", () => {
    const listener = NotifyListener.bindAbstract(uniqueAbstractName());
    listener.close();
    listener.close();
    expect(listener.closed).toBe(true);
  });

  test("binding and closing many listeners leaks no fd", () => {
    const before = countOpenFds();
    for (let i = 0; i < 200; i++) {
      const listener = NotifyListener.bind(socketPath);
      listener.onMessage(() => {});
      listener.close();
    }
    expect(countOpenFds()).toBe(before);
  });
});

describe("receiving", () => {
  let listener: NotifyListener;
  beforeEach(() => {
    listener = NotifyListener.bind(socketPath);
  });
  afterEach(() => listener.close());

  test("the poll timer delivers without explicit polling", async () => {
    const { messages } = collect(listener);
    notify("READY=1\nSTATUS=up", { NOTIFY_SOCKET: socketPath });
    await waitFor(() => messages.length === 1);
    expect(messages[0]?.fields).toEqual({ READY: "1", STATUS: "up" });
  });

  test("malformed datagrams are reported and the listener keeps working", () => {
    const { messages, problems } = collect(listener);
    const junk = [
      bytes("no equals sign"),
      new Uint8Array(0),
      new Uint8Array([0, 1, 2, 255, 254, 0]),
      new Uint8Array([0x41, 0x3d, 0xc3, 0x28]),
      bytes(`STATUS=${"x".repeat(5000)}`),
      bytes("READY=1\n=\ngarbage\nSTATUS=partly fine"),
    ];
    for (const datagram of junk) sendDatagram(socketPath, datagram);
    expect(listener.poll()).toBe(junk.length);
    notify("READY=1", { NOTIFY_SOCKET: socketPath });
    listener.poll();
    expect(problems.map((p) => p.kind)).toEqual([
      "malformed-line",
      "empty",
      "binary",
      "invalid-utf8",
      "truncated",
      "malformed-line",
      "malformed-line",
    ]);
    expect(problems[4]?.message).toContain("5007 bytes");
    expect(messages.map((m) => m.fields)).toEqual([
      { READY: "1", STATUS: "partly fine" },
      { READY: "1" },
    ]);
  });

  test("random datagrams never break the listener", () => {
    const { messages } = collect(listener);
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 500; i++) {
      const data = new Uint8Array(random() % 6000);
      for (let j = 0; j < data.length; j++) data[j] = random() % 256;
      sendDatagram(socketPath, data);
      listener.poll();
    }
    notify("READY=1", { NOTIFY_SOCKET: socketPath });
    listener.poll();
    expect(messages.at(-1)?.fields).toEqual({ READY: "1" });
  });

  test("a smaller buffer truncates and reports longer datagrams", () => {
    const small = NotifyListener.bindAbstract(uniqueAbstractName(), { maxDatagramSize: 16 });
    try {
      const { messages, problems } = collect(small);
      notify("STATUS=this is longer than sixteen bytes", { NOTIFY_SOCKET: small.address });
      notify("READY=1", { NOTIFY_SOCKET: small.address });
      small.poll();
      expect(problems.map((p) => p.kind)).toEqual(["truncated"]);
      expect(messages.map((m) => m.raw)).toEqual(["READY=1"]);
    } finally {
      small.close();
    }
  });

  test("a throwing callback is reported and does not stop delivery", () => {
    const problems: string[] = [];
    const seen: string[] = [];
    listener.onProblem((problem) => problems.push(problem.kind));
    listener.onProblem(() => {
      throw new Error("broken problem handler");
    });
    listener.onMessage(() => {
      throw new Error("boom");
    });
    const stop = listener.onMessage((_fields, raw) => seen.push(raw));
    notify("READY=1", { NOTIFY_SOCKET: socketPath });
    notify("WATCHDOG=1", { NOTIFY_SOCKET: socketPath });
    listener.poll();
    stop();
    notify("STOPPING=1", { NOTIFY_SOCKET: socketPath });
    listener.poll();
    expect(seen).toEqual(["READY=1", "WATCHDOG=1"]);
    expect(problems).toEqual(["callback-failed", "callback-failed", "callback-failed"]);
  });
});

describe.skipIf(!existsSync(SYSTEMD_NOTIFY))("interop with systemd-notify", () => {
  let listener: NotifyListener;
  beforeEach(() => {
    listener = NotifyListener.bind(socketPath);
  });
  afterEach(() => listener.close());

  async function run(args: string[]): Promise<{ exitCode: number; pid: number; ms: number }> {
    const started = Date.now();
    const child = Bun.spawn([SYSTEMD_NOTIFY, ...args], {
      env: { PATH: process.env.PATH ?? "", NOTIFY_SOCKET: socketPath },
      stdout: "ignore",
      stderr: "inherit",
    });
    const exitCode = await child.exited;
    return { exitCode, pid: child.pid, ms: Date.now() - started };
  }

  test("--ready and --status are received", async () => {
    const { messages, problems } = collect(listener);
    const result = await run(["--ready", "--status=Serving"]);
    expect(result.exitCode).toBe(0);
    await waitFor(() => messages.some((m) => m.fields.READY === "1"));
    const ready = messages.find((m) => m.fields.READY === "1");
    expect(ready?.fields.STATUS).toBe("Serving");
    // Its synchronisation barrier (BARRIER=1 with a pipe fd) is released by closing the fd;
    // otherwise systemd-notify would wait its full 5 s timeout.
    expect(result.ms).toBeLessThan(4000);
    expect(problems).toEqual([]);
  });

  test("--pid sends MAINPID, --no-block skips the barrier", async () => {
    const { messages } = collect(listener);
    const before = countOpenFds();
    const result = await run(["--no-block", `--pid=${process.pid}`, "--ready"]);
    expect(result.exitCode).toBe(0);
    await waitFor(() => messages.length >= 1);
    expect(messages[0]?.fields.MAINPID).toBe(String(process.pid));
    expect(messages[0]?.fields.READY).toBe("1");
    expect(messages.some((m) => m.fields.BARRIER !== undefined)).toBe(false);
    expect(countOpenFds()).toBe(before);
  });

  test("arbitrary VARIABLE=VALUE arguments arrive as fields", async () => {
    const { messages } = collect(listener);
    expect((await run(["--no-block", "WATCHDOG=1", "ERRNO=5"])).exitCode).toBe(0);
    await waitFor(() => messages.length >= 1);
    expect(messages[0]?.fields).toMatchObject({ WATCHDOG: "1", ERRNO: "5" });
  });

  test("barrier descriptors are closed, not leaked", async () => {
    const { messages } = collect(listener);
    const before = countOpenFds();
    for (let i = 0; i < 5; i++) expect((await run(["--ready"])).exitCode).toBe(0);
    await waitFor(() => messages.filter((m) => m.fields.BARRIER === "1").length === 5);
    expect(countOpenFds()).toBe(before);
  });
});
