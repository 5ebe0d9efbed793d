// A display over the shipped policy with a fake IFM holding generated readings, for tests,
// the browser tests and the benchmark.
import path from "node:path";
import { compileRuleTable, loadPolicyFile, type RuleTable } from "@smgw/policy";
import { createDisplay, type Display, type DisplayOptions } from "../app.ts";
import type { Accounts } from "../auth.ts";
import {
  FakeIfm,
  type FakeIfmOptions,
  FakeStorage,
  type FakeStorageOptions,
  generateReadings,
  sampleTariff,
} from "./fake-ifm.ts";

export const POLICY_FILE = path.resolve(import.meta.dir, "../../../../policy/smgw.policy.yaml");

export const PASSWORDS: Record<string, string> = {
  alice: "alice-correct-horse",
  bob: "bob-battery-staple",
  technician: "tech-service-1234",
};

/** Cheap argon2id hashes: the cost is the installer's business, not the tests'. */
export async function testAccounts(
  passwords: Record<string, string> = PASSWORDS,
  table?: RuleTable,
): Promise<Accounts> {
  const accounts: Accounts = {};
  for (const [name, password] of Object.entries(passwords)) {
    const consumer = table ? Object.hasOwn(table.consumers, name) : name !== "technician";
    accounts[name] = {
      role: consumer ? "consumer" : "service-technician",
      passwordHash: await Bun.password.hash(password, {
        algorithm: "argon2id",
        memoryCost: 1024,
        timeCost: 1,
      }),
    };
  }
  return accounts;
}

/** Quiet logger that keeps what was logged. */
export function memoryLog() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, ...(fields ? { fields } : {}) });
  };
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

export interface Fixture {
  display: Display;
  ifm: FakeIfm;
  storage: FakeStorage;
  table: RuleTable;
  clock: { now: number };
  log: ReturnType<typeof memoryLog>;
  /** Start of the generated data, and its end (exclusive). */
  from: number;
  to: number;
}

export interface FixtureOptions {
  days?: number;
  /** Last instant of generated data (exclusive). */
  end?: number;
  ifm?: FakeIfmOptions;
  storage?: FakeStorageOptions;
  display?: Partial<DisplayOptions>;
  table?: RuleTable;
  accounts?: Accounts;
}

export async function makeFixture(o: FixtureOptions = {}): Promise<Fixture> {
  const table = o.table ?? compileRuleTable(await loadPolicyFile(POLICY_FILE));
  const storage = new FakeStorage(o.storage);
  const end = o.end ?? Date.UTC(2026, 0, 28, 11); // 2026-01-28T12:00+01:00
  const from = end - (o.days ?? 45) * 86_400_000;
  const meters = Object.keys(table.meters).sort();
  meters.forEach((m, i) => {
    storage.addReadings(m, generateReadings({ from, to: end, start: (i + 1) * 1_000_000_000 }));
    storage.setTariff(m, sampleTariff(new Date(end - 900_000).toISOString()));
    storage.addCalibration({
      at: new Date(from).toISOString(),
      event: "tariff.configured",
      meter: m,
      detail: { profile: `taf2-${m}`, useCase: 2, tariffId: "T2-DAY-NIGHT", from: "2026-01-01" },
    });
    storage.addCalibration({
      at: new Date(end - 2 * 86_400_000).toISOString(),
      event: "register.ran-backwards",
      meter: m,
      detail: { obis: "1-0:1.8.0*255", last: 1_000_500, value: 1_000_100 },
    });
  });
  // A gateway-wide entry (no meter): every consumer sees it.
  storage.addCalibration({
    at: new Date(end - 86_400_000).toISOString(),
    event: "clock.adjusted",
    detail: { by: "NTP", offsetMs: 120 },
  });
  for (const [consumer, own] of Object.entries(table.consumers)) {
    for (const m of own) {
      for (let d = 0; d < 3; d++) {
        storage.addLog(consumer, {
          at: new Date(end - (d + 1) * 86_400_000 + 3_600_000).toISOString(),
          level: d === 2 ? "warning" : "info",
          outcome: d === 2 ? "failure" : "success",
          meter: m,
          text: `Messwerte von ${m} an EMT Lieferant gesendet (Tag ${d + 1})`,
        });
      }
    }
    storage.addLog(consumer, {
      at: new Date(end - 3_600_000).toISOString(),
      level: "info",
      outcome: "success",
      text: "Anmeldung an der Anzeige",
    });
  }
  const ifm = new FakeIfm(table, storage, o.ifm);
  const clock = { now: end + 3_600_000 };
  const log = memoryLog();
  const display = createDisplay({
    ifm,
    table,
    accounts: o.accounts ?? (await testAccounts(PASSWORDS, table)),
    log,
    version: "0.1.0",
    now: () => clock.now,
    gatewayId: "ESMGW0000000001",
    ...o.display,
  });
  return { display, ifm, storage, table, clock, log, from, to: end };
}

/** A request to the display in-process, as from a HAN client. */
export async function call(
  display: Display,
  pathAndQuery: string,
  init: RequestInit & { client?: string; listener?: "han" | "tcm" } = {},
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const { client, listener, ...rest } = init;
  const res = await display.fetch(new Request(`http://localhost${pathAndQuery}`, rest), {
    address: client ?? "203.0.113.10",
    listener: listener ?? "han",
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body, text };
}

export function basic(user: string, password = PASSWORDS[user] ?? ""): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** Sign in and return the cookie header for later requests. */
export async function login(display: Display, user: string, password = PASSWORDS[user] ?? "") {
  const r = await call(display, "/api/v1/login", {
    method: "POST",
    headers: { "content-type": "application/json", origin: "http://localhost", host: "localhost" },
    body: JSON.stringify({ user, password }),
  });
  const cookie = r.headers.get("set-cookie")?.split(";")[0];
  return { ...r, cookie: cookie ? { cookie } : undefined };
}
