// The display against the real IFM broker (over UNIX sockets, with the shipped policy): the new
// message contracts pass it, the consumer scope reaches the storage, and a request for another
// consumer's meter is refused by the IFM itself, whatever the display asks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger, ifmSocketPath } from "@smgw/daemon";
import { IpcClient, IpcError, type Scope } from "@smgw/ipc";
import { compileRuleTable, loadPolicyFile, UNIT_NAMES } from "@smgw/policy";
import { Broker } from "@smgw/unit-ifm/broker.ts";
import { createDisplay, type Display } from "./app.ts";
import { defaultStatus, FakeStorage, generateReadings, sampleTariff } from "./testing/fake-ifm.ts";
import { call, login, memoryLog, POLICY_FILE, testAccounts } from "./testing/fixture.ts";

const table = compileRuleTable(await loadPolicyFile(POLICY_FILE));
const denials: Record<string, unknown>[] = [];
const log = createLogger("ifm", {
  write: (l) => {
    const line = JSON.parse(l) as Record<string, unknown>;
    if (line.event === "flow.denied") denials.push(line);
  },
});
const END = Date.UTC(2026, 0, 28, 11);
let runDir: string;
let broker: Broker;
const clients: IpcClient[] = [];
let display: Display;
let displayIpc: IpcClient;
const scopes: (Scope | undefined)[] = [];

function client(unit: string): IpcClient {
  const c = new IpcClient({ socketPath: ifmSocketPath(runDir, unit), timeoutMs: 2000 });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  runDir = mkdtempSync(path.join(tmpdir(), "smgw-display-ifm-"));
  broker = new Broker(table, log, { timeoutMs: 2000 });
  for (const u of UNIT_NAMES) {
    if (u === "ifm") continue;
    mkdirSync(path.dirname(ifmSocketPath(runDir, u)), { recursive: true, mode: 0o700 });
    broker.listen(u, ifmSocketPath(runDir, u));
  }
  // The storage side, as the lead's storage unit will answer: within the scope it is given.
  const store = new FakeStorage();
  for (const m of ["meter-1", "meter-2", "meter-3"]) {
    store.addReadings(m, generateReadings({ from: END - 2 * 86_400_000, to: END }));
    store.setTariff(m, sampleTariff(new Date(END).toISOString()));
  }
  store.addLog("alice", {
    at: new Date(END - 3_600_000).toISOString(),
    level: "info",
    outcome: "success",
    meter: "meter-1",
    text: "Messwerte an EMT gesendet",
  });
  const storage = client("storage");
  storage.handle("storage.query-readings", (b, ctx) => {
    scopes.push(ctx.scope);
    return store.queryReadings(b, ctx.scope);
  });
  storage.handle("storage.list-meters", (_b, ctx) => store.listMeters(ctx.scope));
  storage.handle("storage.tariff-registers", (b, ctx) => store.tariffRegisters(b, ctx.scope));
  storage.handle("storage.consumer-log", (b, ctx) => store.consumerLog(b, ctx.scope));
  await storage.connect();
  const sysmgmt = client("sysmgmt");
  sysmgmt.handle("status.get", () => defaultStatus());
  await sysmgmt.connect();
  displayIpc = client("display");
  await displayIpc.connect();
  display = createDisplay({
    ifm: displayIpc,
    table,
    accounts: await testAccounts(undefined, table),
    log: memoryLog(),
    version: "0.1.0",
  });
});

afterAll(() => {
  for (const c of clients) c.close();
  broker.stop();
  rmSync(runDir, { recursive: true, force: true });
});

describe("display through the real IFM", () => {
  test("a consumer's requests pass the broker with the consumer's scope", async () => {
    const s = (await login(display, "alice")).cookie as { cookie: string };
    const get = (p: string) => call(display, p, { headers: s });
    expect((await get("/api/v1/meters")).body).toMatchObject({
      meters: [
        { meter: "meter-1" },
        { meter: "meter-2" },
        { meter: "wmbus-1" },
        { meter: "wmbus-2" },
      ],
    });
    expect((await get("/api/v1/meters/meter-1/readings?limit=5")).status).toBe(200);
    expect(scopes.at(-1)).toEqual({
      consumer: "alice",
      meters: ["meter-1", "meter-2", "wmbus-1", "wmbus-2"],
    });
    expect((await get("/api/v1/meters/meter-1/tariff-registers")).body).toMatchObject({
      tariff: { useCase: 2 },
    });
    expect((await get("/api/v1/log")).body).toMatchObject({
      entries: [{ consumer: "alice", meter: "meter-1" }],
    });
    const x = await get(
      "/api/v1/meters/meter-1/export?from=2026-01-27T00:00:00%2B01:00&to=2026-01-28T00:00:00%2B01:00",
    );
    expect(x.status).toBe(200);
    expect(x.text).toContain("<customerId>alice</customerId>");
    expect((await get("/api/v1/status")).body).toMatchObject({ state: "ok" });
    expect((await get("/api/v1/meters/meter-3/readings")).status).toBe(404);
  });

  test("the IFM refuses another consumer's meter even when the display asks for it", async () => {
    for (const [type, body] of [
      ["storage.query-readings", { meter: "meter-3" }],
      ["storage.tariff-registers", { meter: "meter-3" }],
      ["storage.consumer-log", { meter: "meter-3" }],
    ] as const) {
      const err = await displayIpc
        .requestRaw("storage", type, body, { onBehalfOf: "alice" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IpcError);
      expect((err as IpcError).code).toBe("denied");
    }
    // No consumer named: the scoped flow is refused.
    const none = await displayIpc.requestRaw("storage", "storage.consumer-log", {}).catch((e) => e);
    expect((none as IpcError).code).toBe("denied");
    expect(denials.map((d) => d.reason)).toContain("meter meter-3 is not assigned to alice");
  });
});
