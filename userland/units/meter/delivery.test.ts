// The delivery loop against an in-memory outbox and an in-process EMT behind fake tcm.*
// messages: the EMT parses each POST with the real HttpParser and answers from a script. A
// delivery is marked done only after a 2xx, exactly once; everything else is retried and nothing
// is lost. Every message the loop sends and every answer it gets fit the IPC contracts.
import { afterEach, describe, expect, test } from "bun:test";
import { createLogger } from "@smgw/daemon";
import {
  contractOf,
  type Delivery,
  type IpcClient,
  IpcError,
  type MessageType,
  type RequestBody,
  type ResponseBody,
} from "@smgw/ipc";
import { DELIVERY_FLOW, DELIVERY_PATH, DeliveryLoop } from "./delivery.ts";
import { encodeResponse, HttpParser, type HttpRequest } from "./http.ts";

const PROFILE = "taf7-supplier";
const GATEWAY = "smgw-1";

/** What the EMT does with the next complete request. */
type Answer =
  | { http: number; body?: string }
  | { raw: string }
  /** Ends the channel before anything is answered. */
  | { close: string };

interface Received {
  channel: string;
  request: HttpRequest;
}

interface Channel {
  id: string;
  endpoint: string;
  parser: HttpParser<HttpRequest>;
  inbound: Buffer;
  ended: boolean;
  reason?: string;
  closedByGateway: boolean;
  notify?: () => void;
}

type Fault = (body: unknown) => Error | undefined;

/** The storage outbox and the TCM with one simulated EMT behind it, as one fake IFM. */
class FakeGateway {
  readonly outbox: (Delivery & { id: number; createdAt: string })[] = [];
  readonly done: RequestBody<"storage.delivery-done">[] = [];
  readonly received: Received[] = [];
  readonly channels = new Map<string, Channel>();
  readonly calls: string[] = [];
  readonly script: Answer[] = [];
  /** Errors to throw instead of answering, per message type, consumed in order. */
  readonly faults: Partial<Record<MessageType, Fault[]>> = {};
  /** Called before a message is answered (to hold it back in tests of timing). */
  gate: Partial<Record<MessageType, () => Promise<void>>> = {};
  /** tcm.receive gives out at most this many bytes at a time. */
  piece = 1 << 20;
  private nextId = 1;
  private nextChannel = 1;

  add(summary: string, payload = Buffer.from(`<signed document ${summary}/>`)): number {
    const id = this.nextId++;
    this.outbox.push({
      id,
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, id)).toISOString(),
      recipient: "emt-supplier",
      contentType: "application/pkcs7-mime",
      payload: payload.toString("base64"),
      meters: ["meter-1"],
      summary,
    });
    return id;
  }

  pending(): number[] {
    const done = new Set(this.done.map((d) => d.id));
    return this.outbox.filter((d) => !done.has(d.id)).map((d) => d.id);
  }

  readonly ifm = {
    request: (async (to: string, type: MessageType, body: unknown) => {
      this.calls.push(type);
      if (!contractOf(type).request.Check(body)) {
        throw new Error(`${type} request does not fit its contract: ${JSON.stringify(body)}`);
      }
      await this.gate[type]?.();
      const fault = this.faults[type]?.shift()?.(body);
      if (fault) throw fault;
      const answer = await this.answer(to, type, body);
      if (!contractOf(type).response.Check(answer)) {
        throw new Error(`${type} answer does not fit its contract: ${JSON.stringify(answer)}`);
      }
      return answer;
    }) as IpcClient["request"],
  };

  private async answer(to: string, type: MessageType, body: unknown): Promise<unknown> {
    switch (type) {
      case "storage.delivery-next": {
        expect(to).toBe("storage");
        const b = body as RequestBody<"storage.delivery-next">;
        expect(b.profile).toBe(PROFILE);
        const done = new Set(this.done.map((d) => d.id));
        const d = this.outbox.find((x) => !done.has(x.id));
        return d ? { delivery: { ...d } } : {};
      }
      case "storage.delivery-done": {
        expect(to).toBe("storage");
        const b = body as RequestBody<"storage.delivery-done">;
        if (!this.outbox.some((d) => d.id === b.id)) throw new IpcError("not-found", "no such id");
        this.done.push(b);
        return { done: true } satisfies ResponseBody<"storage.delivery-done">;
      }
      case "tcm.open-channel": {
        expect(to).toBe("tcm");
        const b = body as RequestBody<"tcm.open-channel">;
        const id = `ch-${(this.nextChannel++).toString(16).padStart(32, "0")}`;
        this.channels.set(id, {
          id,
          endpoint: b.endpoint,
          parser: new HttpParser<HttpRequest>("request"),
          inbound: Buffer.alloc(0),
          ended: false,
          closedByGateway: false,
        });
        return {
          channel: id,
          peer: {
            endpoint: b.endpoint,
            subject: "CN=EMT Supplier Test,O=EMT-Test,C=DE",
            protocol: "TLSv1.2",
            cipher: "ECDHE-ECDSA-AES128-GCM-SHA256",
          },
        } satisfies ResponseBody<"tcm.open-channel">;
      }
      case "tcm.send": {
        const b = body as RequestBody<"tcm.send">;
        const ch = this.open(b.channel);
        const bytes = Buffer.from(b.data, "base64");
        // A parse error is the EMT's 400 and the end of the channel.
        let request: HttpRequest | undefined;
        try {
          request = ch.parser.push(bytes);
        } catch (e) {
          this.deliver(ch, encodeResponse(400, "Bad Request", (e as Error).message));
          this.end(ch);
        }
        if (request) {
          this.received.push({ channel: ch.id, request });
          this.respond(ch, this.script.shift() ?? { http: 201 });
        }
        return { sent: bytes.length, buffered: 0 } satisfies ResponseBody<"tcm.send">;
      }
      case "tcm.receive": {
        const b = body as RequestBody<"tcm.receive">;
        const ch = this.open(b.channel);
        if (ch.inbound.length === 0 && !ch.ended) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, b.waitMs ?? 0);
            ch.notify = () => {
              clearTimeout(t);
              resolve();
            };
          });
        }
        const n = Math.min(ch.inbound.length, b.max ?? 98304, this.piece);
        const data = ch.inbound.subarray(0, n);
        ch.inbound = ch.inbound.subarray(n);
        const closed = ch.ended && ch.inbound.length === 0;
        return {
          data: data.toString("base64"),
          closed,
          ...(closed && ch.reason ? { reason: ch.reason } : {}),
        } satisfies ResponseBody<"tcm.receive">;
      }
      case "tcm.close": {
        const b = body as RequestBody<"tcm.close">;
        const ch = this.channels.get(b.channel);
        if (!ch || ch.closedByGateway) throw new IpcError("denied", `no channel ${b.channel}`);
        ch.closedByGateway = true;
        return { closed: true } satisfies ResponseBody<"tcm.close">;
      }
      default:
        throw new Error(`unexpected message ${type}`);
    }
  }

  private open(id: string): Channel {
    const ch = this.channels.get(id);
    if (!ch || ch.closedByGateway) throw new IpcError("denied", `no channel ${id}`);
    return ch;
  }

  private respond(ch: Channel, a: Answer): void {
    if ("http" in a) {
      const reason = a.http >= 200 && a.http < 300 ? "OK" : "Not OK";
      this.deliver(ch, encodeResponse(a.http, reason, a.body ?? JSON.stringify({ receipt: "r" })));
    } else if ("raw" in a) {
      this.deliver(ch, Buffer.from(a.raw, "latin1"));
      this.end(ch);
    } else {
      this.end(ch, a.close);
    }
  }

  private deliver(ch: Channel, bytes: Buffer): void {
    ch.inbound = Buffer.concat([ch.inbound, bytes]);
    ch.notify?.();
  }

  private end(ch: Channel, reason?: string): void {
    ch.ended = true;
    if (reason) ch.reason = reason;
    ch.notify?.();
  }
}

const logs: Record<string, unknown>[] = [];
const log = createLogger("meter", { write: (l) => logs.push(JSON.parse(l)) });
const loops: DeliveryLoop[] = [];

afterEach(async () => {
  await Promise.all(loops.splice(0).map((l) => l.stop()));
  logs.length = 0;
});

function startLoop(
  gw: FakeGateway,
  options: { sender?: string; minBackoffMs?: number; maxBackoffMs?: number } = {},
): DeliveryLoop {
  const loop = new DeliveryLoop(PROFILE, gw.ifm, log, {
    sender: options.sender ?? GATEWAY,
    minBackoffMs: options.minBackoffMs ?? 5,
    maxBackoffMs: options.maxBackoffMs ?? 20,
  });
  loops.push(loop);
  loop.start();
  return loop;
}

async function until(what: string, f: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

const ipcError = (code: string, message: string): Fault[] => [() => new IpcError(code, message)];
const deliveryHeader = (r: Received) => r.request.headers["x-smgw-delivery"];

describe("a delivery", () => {
  test("201: sent as one POST over a delivery channel, marked done once with the receipt", async () => {
    const gw = new FakeGateway();
    const payload = Buffer.from([0x30, 0x82, 0x01, 0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0xff, 0x00]);
    const id = gw.add("TAF7 series 12:00-12:15", payload);
    gw.script.push({ http: 201, body: '{"receipt":"sha-1"}' });
    const loop = startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.done).toEqual([{ profile: PROFILE, id, receipt: '201 {"receipt":"sha-1"}' }]);
    expect(gw.received).toHaveLength(1);
    const r = gw.received[0] as Received;
    expect(r.request.method).toBe("POST");
    expect(r.request.path).toBe(DELIVERY_PATH);
    expect(r.request.headers).toMatchObject({
      host: "emt-supplier",
      "content-type": "application/pkcs7-mime",
      "content-length": String(payload.length),
      "x-smgw-delivery": `${GATEWAY}/${PROFILE}/${id}`,
    });
    expect(Buffer.compare(r.request.body, payload)).toBe(0);
    const ch = gw.channels.get(r.channel) as Channel;
    expect(ch.endpoint).toBe("emt-supplier");
    // The channel is closed after the answer.
    await until("channel closed", () => ch.closedByGateway);
    expect(loop.counters).toEqual({ delivered: 1, failedAttempts: 0 });
    const delivered = logs.find((l) => l.event === "meter.delivered");
    expect(delivered).toMatchObject({ profile: PROFILE, id, to: "emt-supplier" });
    // Nothing more to send: the loop waits, it does not send anything again.
    await Bun.sleep(50);
    expect(gw.received).toHaveLength(1);
    expect(gw.done).toHaveLength(1);
  });

  test("the channel is asked for the delivery flow and the recipient", async () => {
    const gw = new FakeGateway();
    const seen: unknown[] = [];
    gw.faults["tcm.open-channel"] = [
      (b) => {
        seen.push(b);
        return undefined;
      },
    ];
    gw.add("one");
    startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(seen).toEqual([{ endpoint: "emt-supplier", purpose: DELIVERY_FLOW }]);
  });

  test("a pseudonym given as sender is in the delivery header instead of the gateway's name", async () => {
    const gw = new FakeGateway();
    const id = gw.add("pseudonymised");
    startLoop(gw, { sender: "psn-7f3a9c" });
    await until("done", () => gw.done.length === 1);
    const r = gw.received[0] as Received;
    expect(deliveryHeader(r)).toBe(`psn-7f3a9c/${PROFILE}/${id}`);
    const head = `${r.request.startLine}\n${JSON.stringify(r.request.headers)}`;
    expect(head).not.toContain(GATEWAY);
  });

  test("an answer handed out a byte at a time is put together", async () => {
    const gw = new FakeGateway();
    gw.piece = 1;
    gw.add("slow answer");
    gw.script.push({ http: 200, body: '{"receipt":"slow","duplicate":true}' });
    startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.done[0]?.receipt).toBe('200 {"receipt":"slow","duplicate":true}');
  });

  test("a payload of 96 KiB goes out in several tcm.send messages and arrives whole", async () => {
    const gw = new FakeGateway();
    const payload = Buffer.alloc(96 * 1024, 0x5a);
    payload.write("start");
    gw.add("large", payload);
    startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.calls.filter((c) => c === "tcm.send").length).toBeGreaterThan(1);
    expect(Buffer.compare((gw.received[0] as Received).request.body, payload)).toBe(0);
  });

  test("a long EMT answer is kept to 200 characters of receipt", async () => {
    const gw = new FakeGateway();
    gw.add("chatty");
    gw.script.push({ http: 201, body: "r".repeat(5000) });
    startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.done[0]?.receipt).toBe(`201 ${"r".repeat(180)}`);
  });
});

describe("failures are retried, nothing is marked done before a 2xx, nothing is lost", () => {
  test("503 then 201: retried, done once, one failed attempt counted", async () => {
    const gw = new FakeGateway();
    const id = gw.add("busy EMT");
    gw.script.push({ http: 503, body: '{"error":"try later"}' }, { http: 201 });
    const loop = startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.received).toHaveLength(2);
    expect(gw.received.map(deliveryHeader)).toEqual([
      `${GATEWAY}/${PROFILE}/${id}`,
      `${GATEWAY}/${PROFILE}/${id}`,
    ]);
    expect(gw.done).toHaveLength(1);
    expect(loop.counters.delivered).toBe(1);
    expect(loop.counters.failedAttempts).toBe(1);
    expect(loop.counters.lastError).toBe('emt-supplier answered 503: {"error":"try later"}');
    expect(logs.find((l) => l.event === "meter.delivery-failed")).toMatchObject({
      id,
      error: 'emt-supplier answered 503: {"error":"try later"}',
    });
    // Both channels were closed again.
    expect([...gw.channels.values()].every((c) => c.closedByGateway)).toBe(true);
  });

  const answers: [string, Answer[], RegExp][] = [
    ["a 400", [{ http: 400, body: "bad" }], /answered 400: bad/],
    ["a 301", [{ http: 301, body: "" }], /answered 301/],
    ["a 100", [{ http: 100, body: "" }], /answered 100/],
    ["a garbage answer", [{ raw: "HELLO\r\n\r\n" }], /malformed status line "HELLO"/],
    ["random bytes", [{ raw: "\x16\x03\x03\x00\x02\x02\x28" }], /ended before a whole answer/],
    [
      "an answer cut short",
      [{ raw: "HTTP/1.1 201 Created\r\nContent-Length: 50\r\n\r\nshort" }],
      /ended before a whole answer/,
    ],
    [
      "an answer with bytes after it",
      [{ raw: "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201" }],
      /bytes after the message/,
    ],
    [
      "chunked encoding",
      [{ raw: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" }],
      /chunked transfer encoding is not accepted/,
    ],
    [
      "the channel closed before the answer",
      [{ close: "connection ended without close_notify (truncated)" }],
      /the channel ended before a whole answer came: connection ended without close_notify/,
    ],
    [
      "three failures in a row",
      [{ http: 500 }, { raw: "nonsense\r\n\r\n" }, { close: "peer reset" }],
      /ended before a whole answer came: peer reset/,
    ],
  ];
  for (const [name, script, error] of answers) {
    test(`${name}: retried until a 2xx`, async () => {
      const gw = new FakeGateway();
      const id = gw.add(name);
      gw.script.push(...script);
      const states: number[] = [];
      gw.gate["tcm.open-channel"] = async () => {
        states.push(gw.done.length);
      };
      const loop = startLoop(gw);
      await until("done", () => gw.done.length === 1);
      // Every attempt before the last found the delivery still pending.
      expect(states).toEqual([...script.map(() => 0), 0]);
      expect(gw.received).toHaveLength(script.length + 1);
      expect(gw.done).toEqual([{ profile: PROFILE, id, receipt: expect.stringMatching(/^201 /) }]);
      expect(loop.counters.failedAttempts).toBe(script.length);
      expect(loop.counters.lastError).toMatch(error);
      expect(gw.pending()).toEqual([]);
      expect([...gw.channels.values()].every((c) => c.closedByGateway)).toBe(true);
    });
  }

  const faults: [string, MessageType, Fault[], RegExp][] = [
    [
      "open-channel refused",
      "tcm.open-channel",
      ipcError("unavailable", "handshake with emt-supplier failed: certificate revoked"),
      /certificate revoked/,
    ],
    [
      "open-channel refused twice",
      "tcm.open-channel",
      [...ipcError("timeout", "no answer"), ...ipcError("denied", "flow not allowed")],
      /flow not allowed/,
    ],
    [
      "tcm.send failing",
      "tcm.send",
      ipcError("unavailable", "channel broken while sending"),
      /channel broken while sending/,
    ],
    [
      "tcm.receive failing",
      "tcm.receive",
      ipcError("timeout", "the tcm did not answer"),
      /the tcm did not answer/,
    ],
  ];
  for (const [name, type, fault, error] of faults) {
    test(`${name}: retried, nothing marked done before the 2xx`, async () => {
      const gw = new FakeGateway();
      const id = gw.add(name);
      gw.faults[type] = [...fault];
      const loop = startLoop(gw);
      await until("done", () => gw.done.length === 1);
      expect(gw.done).toEqual([{ profile: PROFILE, id, receipt: expect.stringMatching(/^201 /) }]);
      expect(loop.counters.failedAttempts).toBe(fault.length);
      expect(loop.counters.lastError).toMatch(error);
      // Every channel that was opened was closed again, also after a failed send.
      expect([...gw.channels.values()].every((c) => c.closedByGateway)).toBe(true);
    });
  }

  test("storage failing to record the 2xx: sent again, the EMT confirms, done once", async () => {
    const gw = new FakeGateway();
    const id = gw.add("lost confirmation");
    gw.faults["storage.delivery-done"] = ipcError("unavailable", "storage is busy");
    gw.script.push({ http: 201 }, { http: 200, body: '{"duplicate":true}' });
    const loop = startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.received).toHaveLength(2);
    expect(gw.done).toEqual([{ profile: PROFILE, id, receipt: '200 {"duplicate":true}' }]);
    expect(loop.counters).toMatchObject({ delivered: 1, failedAttempts: 1 });
  });

  test("the outbox not readable: retried with backoff, then delivered", async () => {
    const gw = new FakeGateway();
    gw.add("after a storage outage");
    gw.faults["storage.delivery-next"] = [
      ...ipcError("unavailable", "storage down"),
      ...ipcError("unavailable", "storage down"),
    ];
    startLoop(gw);
    await until("done", () => gw.done.length === 1);
    expect(gw.calls.filter((c) => c === "storage.delivery-next").length).toBeGreaterThanOrEqual(3);
    expect(logs.some((l) => l.msg === "outbox not readable; retrying")).toBe(true);
  });

  test("a failing EMT is retried with growing backoff up to the maximum", async () => {
    const gw = new FakeGateway();
    gw.add("backoff");
    for (let i = 0; i < 6; i++) gw.script.push({ http: 503 });
    const opened: number[] = [];
    gw.gate["tcm.open-channel"] = async () => {
      opened.push(performance.now());
    };
    const loop = startLoop(gw, { minBackoffMs: 20, maxBackoffMs: 80 });
    await until("done", () => gw.done.length === 1, 5000);
    expect(loop.counters.failedAttempts).toBe(6);
    const retries = logs
      .filter((l) => l.event === "meter.delivery-failed")
      .map((l) => l.retryInMs as number);
    expect(retries).toEqual([20, 40, 80, 80, 80, 80]);
    const gaps = opened.slice(1).map((t, i) => t - (opened[i] as number));
    for (const [i, gap] of gaps.entries()) {
      expect(gap).toBeGreaterThanOrEqual((retries[i] as number) - 2);
    }
  });
});

describe("order and timing", () => {
  test("several deliveries go out oldest first, each marked done after its own 2xx", async () => {
    const gw = new FakeGateway();
    const ids = [gw.add("first"), gw.add("second"), gw.add("third")];
    gw.script.push({ http: 201 }, { http: 503 }, { http: 201 }, { http: 201 });
    const loop = startLoop(gw);
    await until("all done", () => gw.done.length === 3);
    expect(gw.done.map((d) => d.id)).toEqual(ids);
    expect(gw.received.map(deliveryHeader)).toEqual(
      [ids[0], ids[1], ids[1], ids[2]].map((id) => `${GATEWAY}/${PROFILE}/${id}`),
    );
    expect(gw.received.map((r) => r.request.body.toString())).toEqual([
      "<signed document first/>",
      "<signed document second/>",
      "<signed document second/>",
      "<signed document third/>",
    ]);
    expect(loop.counters).toMatchObject({ delivered: 3, failedAttempts: 1 });
  });

  test("stop() ends the loop promptly while it waits for new deliveries", async () => {
    const gw = new FakeGateway();
    const loop = startLoop(gw);
    await until("polled", () => gw.calls.includes("storage.delivery-next"));
    await Bun.sleep(20);
    const t0 = performance.now();
    await loop.stop();
    expect(performance.now() - t0).toBeLessThan(200);
    const calls = gw.calls.length;
    await Bun.sleep(50);
    expect(gw.calls.length).toBe(calls);
  });

  test("stop() ends the loop promptly while it backs off after a failure", async () => {
    const gw = new FakeGateway();
    gw.add("never accepted");
    gw.script.push({ http: 503 });
    const loop = startLoop(gw, { minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    await until("failed once", () => loop.counters.failedAttempts === 1);
    const t0 = performance.now();
    await loop.stop();
    expect(performance.now() - t0).toBeLessThan(200);
    expect(gw.pending()).toHaveLength(1);
  });

  test("stop() while the outbox is being read ends the loop promptly afterwards", async () => {
    const gw = new FakeGateway();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    gw.gate["storage.delivery-next"] = () => held;
    const loop = startLoop(gw);
    await until("asking", () => gw.calls.includes("storage.delivery-next"));
    const t0 = performance.now();
    const stopped = loop.stop();
    await Bun.sleep(10);
    release();
    await stopped;
    expect(performance.now() - t0).toBeLessThan(300);
  });

  test("stop() during a delivery lets it finish, then ends", async () => {
    const gw = new FakeGateway();
    gw.add("in flight");
    gw.add("next");
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    gw.gate["tcm.send"] = () => held;
    const loop = startLoop(gw);
    await until("sending", () => gw.calls.includes("tcm.send"));
    const stopped = loop.stop();
    release();
    await stopped;
    expect(gw.done.map((d) => d.id)).toEqual([1]);
    expect(gw.pending()).toEqual([2]);
    expect([...gw.channels.values()].every((c) => c.closedByGateway)).toBe(true);
  });

  test("kick() wakes the waiting loop for a new delivery", async () => {
    const gw = new FakeGateway();
    const loop = startLoop(gw);
    await until("polled", () => gw.calls.includes("storage.delivery-next"));
    await Bun.sleep(20);
    gw.add("fresh");
    await Bun.sleep(100);
    // Without a kick, the loop looks again only at its next poll (30 s).
    expect(gw.done).toHaveLength(0);
    loop.kick();
    await until("done", () => gw.done.length === 1, 500);
  });

  test("kick() while the outbox is being read is not lost", async () => {
    const gw = new FakeGateway();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    // The first look into the outbox finds it empty, and its answer is slow to come back.
    const inner = gw.ifm.request;
    let answered = false;
    gw.ifm.request = (async (to: string, type: MessageType, body: unknown) => {
      if (type !== "storage.delivery-next" || answered)
        return inner(to, type as never, body as never);
      const empty = await inner(to, type, body as never);
      answered = true;
      await held;
      return empty;
    }) as IpcClient["request"];
    const loop = startLoop(gw);
    await until("outbox read", () => answered);
    // Meanwhile a profile commits a delivery and kicks the loop.
    gw.add("committed meanwhile");
    loop.kick();
    release();
    await until("done", () => gw.done.length === 1, 1000);
  });

  test("kick() during a backoff retries at once", async () => {
    const gw = new FakeGateway();
    gw.add("retry now");
    gw.script.push({ http: 503 });
    const loop = startLoop(gw, { minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    await until("failed once", () => loop.counters.failedAttempts === 1);
    loop.kick();
    await until("done", () => gw.done.length === 1, 500);
  });

  test("start() twice runs one loop", async () => {
    const gw = new FakeGateway();
    gw.add("once");
    const loop = startLoop(gw);
    loop.start();
    await until("done", () => gw.done.length === 1);
    await Bun.sleep(30);
    expect(gw.received).toHaveLength(1);
    expect(gw.calls.filter((c) => c === "tcm.open-channel")).toHaveLength(1);
  });
});
