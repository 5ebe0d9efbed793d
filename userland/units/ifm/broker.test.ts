import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger, ifmSocketPath } from "@smgw/daemon";
import { encodeFrame, FrameDecoder, IpcClient, IpcError } from "@smgw/ipc";
import { compileRuleTable, loadPolicyFile, UNIT_NAMES } from "@smgw/policy";
import { Broker } from "./broker.ts";

const POLICY = path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml");
const table = compileRuleTable(await loadPolicyFile(POLICY));
const logLines: Record<string, unknown>[] = [];
const log = createLogger("ifm", { write: (l) => logLines.push(JSON.parse(l)) });

let runDir: string;
let broker: Broker;
const clients: IpcClient[] = [];

function client(unit: string, timeoutMs = 2000): IpcClient {
  const c = new IpcClient({ socketPath: ifmSocketPath(runDir, unit), timeoutMs });
  clients.push(c);
  return c;
}

/** A raw connection that sends whatever bytes a broken or hostile unit would. */
async function raw(unit: string) {
  const decoder = new FrameDecoder();
  const frames: unknown[] = [];
  let closed = false;
  const socket = await Bun.connect({
    unix: ifmSocketPath(runDir, unit),
    socket: {
      data: (_s, d) => {
        for (const f of decoder.push(d)) if (f.ok) frames.push(f.value);
      },
      close: () => {
        closed = true;
      },
    },
  });
  const next = async (n: number) => {
    const end = Date.now() + 2000;
    while (frames.length < n && Date.now() < end) await Bun.sleep(5);
    return frames[n - 1] as {
      ok?: boolean;
      id?: string;
      error?: { code: string; message: string };
    };
  };
  return { socket, frames, next, isClosed: () => closed };
}

beforeAll(() => {
  runDir = mkdtempSync(path.join(tmpdir(), "smgw-ifm-"));
  broker = new Broker(table, log, { timeoutMs: 300, maxFrame: 64 * 1024 });
  for (const u of UNIT_NAMES) {
    if (u === "ifm") continue;
    mkdirSync(path.dirname(ifmSocketPath(runDir, u)), { recursive: true, mode: 0o700 });
    broker.listen(u, ifmSocketPath(runDir, u));
  }
});

afterAll(() => {
  for (const c of clients) c.close();
  broker.stop();
  rmSync(runDir, { recursive: true, force: true });
});

const reading = {
  obis: "1-0:1.8.0*255",
  value: 1,
  unit: "Wh",
  capturedAt: "2026-01-01T00:00:00.000Z",
  status: 0,
};

describe("IFM broker", () => {
  test("forwards an allowed flow with the source known from the socket", async () => {
    const storage = client("storage");
    const seen: { from: string; meter: string }[] = [];
    storage.handle("storage.append-readings", (body, ctx) => {
      seen.push({ from: ctx.from, meter: body.meter });
      return { stored: body.readings.length };
    });
    await storage.connect();
    const meter = client("meter");
    const r = await meter.request("storage", "storage.append-readings", {
      meter: "meter-1",
      readings: [reading],
    });
    expect(r).toEqual({ stored: 1 });
    expect(seen).toEqual([{ from: "meter", meter: "meter-1" }]);
  });

  test("meter -> cls is denied and the denial is logged", async () => {
    const cls = client("cls");
    cls.handle("cls.relay", () => ({ sent: 1 }));
    await cls.connect();
    const meter = client("meter");
    const err = await meter
      .requestRaw("cls", "cls.relay", { device: "heatpump", channel: "c1", data: "x" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpcError);
    expect((err as IpcError).code).toBe("denied");
    const line = logLines.find(
      (l) => l.event === "flow.denied" && l.from === "meter" && l.to === "cls",
    );
    expect(line).toMatchObject({
      level: "warn",
      type: "cls.relay",
      reason: "no flow allows meter -> cls cls.relay",
    });
  });

  test("consumer scope: own meter delivered with the scope, another's meter denied", async () => {
    const storage = client("storage");
    const scopes: unknown[] = [];
    storage.handle("storage.query-readings", (_b, ctx) => {
      scopes.push(ctx.scope);
      return { readings: [] };
    });
    await storage.connect();
    const display = client("display");
    await display.request(
      "storage",
      "storage.query-readings",
      { meter: "meter-1" },
      { onBehalfOf: "alice" },
    );
    expect(scopes).toEqual([
      { consumer: "alice", meters: ["meter-1", "meter-2", "wmbus-1", "wmbus-2"] },
    ]);
    const denied = await display
      .request("storage", "storage.query-readings", { meter: "meter-3" }, { onBehalfOf: "alice" })
      .catch((e: unknown) => e as IpcError);
    expect((denied as IpcError).code).toBe("denied");
    const anonymous = await display
      .request("storage", "storage.query-readings", { meter: "meter-1" })
      .catch((e: unknown) => e as IpcError);
    expect((anonymous as IpcError).code).toBe("denied");
    expect(scopes).toHaveLength(1);
  });

  test("unknown types, bad bodies and absent units get errors", async () => {
    const meter = client("meter");
    const unknown = await meter
      .requestRaw("storage", "storage.drop-tables", {})
      .catch((e: unknown) => e as IpcError);
    expect((unknown as IpcError).code).toBe("unknown-type");
    const bad = await meter
      .requestRaw("storage", "storage.append-readings", {
        meter: "meter-1",
        readings: [{ ...reading, value: "1" }],
      })
      .catch((e: unknown) => e as IpcError);
    expect((bad as IpcError).code).toBe("invalid-body");
    expect((bad as IpcError).message).toContain("/readings/0/value");
    const sysmgmt = client("sysmgmt");
    const absent = await sysmgmt
      .request("tcm", "status.get", {})
      .catch((e: unknown) => e as IpcError);
    expect((absent as IpcError).code).toBe("unavailable");
  });

  test("malformed frames get error replies and the connection keeps working", async () => {
    const storage = client("storage");
    storage.handle("storage.append-readings", (b) => ({ stored: b.readings.length }));
    await storage.connect();
    const c = await raw("meter");
    const garbage = new TextEncoder().encode("{not json");
    const frame = new Uint8Array(4 + garbage.length);
    new DataView(frame.buffer).setUint32(0, garbage.length);
    frame.set(garbage, 4);
    c.socket.write(frame);
    expect((await c.next(1)).error?.code).toBe("malformed");
    c.socket.write(encodeFrame({ kind: "hello" }));
    expect((await c.next(2)).error?.code).toBe("malformed");
    c.socket.write(encodeFrame([1, 2, 3]));
    expect((await c.next(3)).error?.code).toBe("malformed");
    c.socket.write(
      encodeFrame({
        kind: "request",
        id: "x".repeat(65),
        to: "storage",
        type: "status.get",
        body: {},
      }),
    );
    expect((await c.next(4)).error?.code).toBe("malformed");
    c.socket.write(
      encodeFrame({
        kind: "request",
        id: "ok-1",
        to: "storage",
        type: "storage.append-readings",
        body: { meter: "meter-1", readings: [reading] },
      }),
    );
    expect(await c.next(5)).toMatchObject({ id: "ok-1", ok: true, body: { stored: 1 } });
    // Truncated: half a frame, then the rest later, still one request.
    const whole = encodeFrame({
      kind: "request",
      id: "ok-2",
      to: "storage",
      type: "storage.append-readings",
      body: { meter: "meter-1", readings: [reading] },
    });
    c.socket.write(whole.subarray(0, 7));
    await Bun.sleep(20);
    c.socket.write(whole.subarray(7));
    expect(await c.next(6)).toMatchObject({ id: "ok-2", ok: true });
    c.socket.end();
  });

  test("an oversized frame closes that connection only; others are still served", async () => {
    const c = await raw("meter");
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 10 * 1024 * 1024);
    c.socket.write(header);
    expect((await c.next(1)).error?.code).toBe("oversized");
    const end = Date.now() + 2000;
    while (!c.isClosed() && Date.now() < end) await Bun.sleep(5);
    expect(c.isClosed()).toBe(true);
    const storage = client("storage");
    storage.handle("storage.append-readings", (b) => ({ stored: b.readings.length }));
    await storage.connect();
    expect(
      await client("meter").request("storage", "storage.append-readings", {
        meter: "meter-1",
        readings: [reading],
      }),
    ).toEqual({ stored: 1 });
  });

  test("answers are checked: forged, late and contract-breaking answers go nowhere", async () => {
    const storage = client("storage");
    storage.handle("storage.append-readings", () => ({ stored: -5 }) as never);
    await storage.connect();
    const err = await client("meter")
      .request("storage", "storage.append-readings", { meter: "meter-1", readings: [reading] })
      .catch((e: unknown) => e as IpcError);
    expect((err as IpcError).code).toBe("handler-failed");
    // A unit answering something never delivered to it.
    const rogue = await raw("display");
    rogue.socket.write(encodeFrame({ kind: "response", id: "f1", ok: true, body: { stored: 1 } }));
    await Bun.sleep(50);
    expect(rogue.frames).toEqual([]);
    rogue.socket.end();
  });

  test("a destination that never answers times out", async () => {
    const silent = await raw("tcm");
    await Bun.sleep(20);
    const err = await client("sysmgmt")
      .request("tcm", "status.get", {})
      .catch((e: unknown) => e as IpcError);
    expect((err as IpcError).code).toBe("timeout");
    silent.socket.end();
  });

  test("refuses a socket directory other users could enter", () => {
    const open = path.join(runDir, "open");
    mkdirSync(open);
    chmodSync(open, 0o755);
    expect(() => broker.listen("meter", path.join(open, "ifm.sock"))).toThrow(
      "open to other users",
    );
  });
});
