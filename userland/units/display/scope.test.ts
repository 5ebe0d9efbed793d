// Own data only, over random policies: meters are assigned to consumers at random (through the
// YAML document model on the shipped policy), the rule table is compiled, and every consumer
// asks for every meter through every route and parameter. A consumer must get exactly their
// own meters' data, and nothing of anyone else's can appear in any answer.
import { describe, expect, test } from "bun:test";
import { compileRuleTable, parsePolicy, type RuleTable } from "@smgw/policy";
import fc from "fast-check";
import { createDisplay, type Display } from "./app.ts";
import type { Accounts } from "./auth.ts";
import { FakeIfm, FakeStorage, generateReadings, sampleTariff } from "./testing/fake-ifm.ts";
import { call, memoryLog, POLICY_FILE, testAccounts } from "./testing/fixture.ts";
import { CONSUMER_NAMES, meterIdOf, meterName, policyWith } from "./testing/policy.ts";

const shipped = await Bun.file(POLICY_FILE).text();
const CONSUMERS = CONSUMER_NAMES;
const METERS = Array.from({ length: 6 }, (_, i) => meterName(i));
const meterId = meterIdOf;
const password = (name: string) => `${name}-secret-password`;
const hashed: Accounts = await testAccounts(
  Object.fromEntries([...CONSUMERS, "technician"].map((n) => [n, password(n)])),
);

interface World {
  display: Display;
  table: RuleTable;
  meters: string[];
  consumers: string[];
}

const DAY_START = Date.UTC(2026, 0, 10, 23);
const DAY_END = DAY_START + 86_400_000;

function world(
  meters: number,
  consumers: number,
  owner: (number | null)[],
  broken: boolean,
): World {
  const table = compileRuleTable(
    parsePolicy(policyWith(shipped, meters, consumers, owner), "random.yaml"),
  );
  // A broken world: the IFM forwards everything and the storage ignores the scope, so only the
  // display's own check stands between a consumer and the others' data.
  const storage = new FakeStorage({ ignoreScope: broken });
  const names = METERS.slice(0, meters);
  names.forEach((m, i) => {
    storage.addReadings(
      m,
      generateReadings({ from: DAY_START, to: DAY_END, start: (i + 1) * 1_000_000_000 }),
    );
    storage.setTariff(m, sampleTariff(new Date(DAY_END).toISOString()));
    // A calibration entry about every meter, carrying that meter's register in its billion.
    storage.addCalibration({
      at: new Date(DAY_START + 7_200_000).toISOString(),
      event: "billing.period-closed",
      meter: m,
      detail: { profile: `p-${m}`, "1-0:1.8.0*255": (i + 1) * 1_000_000_000 + 4711 },
    });
    const owning = owner[i];
    for (let c = 0; c < consumers; c++) {
      // Log entries about every meter for every consumer: the display must show a consumer
      // only those about meters that are theirs now.
      storage.addLog(CONSUMERS[c] as string, {
        at: new Date(DAY_START + 3_600_000).toISOString(),
        level: "info",
        outcome: "success",
        meter: m,
        text: `log of ${CONSUMERS[c]} about ${m}${owning === c ? "" : " (foreign)"}`,
      });
    }
  });
  const accounts: Accounts = {};
  for (const n of [...CONSUMERS.slice(0, consumers), "technician"]) {
    accounts[n] = hashed[n] as Accounts[string];
  }
  const ifm = new FakeIfm(table, storage, { permissive: broken });
  const display = createDisplay({ ifm, table, accounts, log: memoryLog(), version: "0.1.0" });
  return { display, table, meters: names, consumers: CONSUMERS.slice(0, consumers) };
}

const day = `from=${new Date(DAY_START).toISOString()}&to=${new Date(DAY_END).toISOString()}`;
const meterRoutes = (m: string) => [
  `/api/v1/meters/${m}/readings?limit=1000`,
  `/api/v1/meters/${m}/readings?${day}&obis=1-0:1.8.0*255`,
  `/api/v1/meters/${m}/current`,
  `/api/v1/meters/${m}/series?${day}&step=1h`,
  `/api/v1/meters/${m}/tariff-registers`,
  `/api/v1/meters/${m}/export?${day}`,
  `/api/v1/log?meter=${m}`,
  `/api/v1/calibration-log?meter=${m}`,
];

/** Ways to name a meter in a URL that must not reach another meter's data. */
const tricks = (own: string | undefined, other: string) => [
  `/api/v1/meters/${encodeURIComponent(other)}/readings`,
  `/api/v1/meters/${other.toUpperCase()}/readings`,
  `/api/v1/meters/${own ?? "meter-1"}/../${other}/readings`,
  `/api/v1/meters/${own ?? "meter-1"}%2F..%2F${other}/readings`,
  `/api/v1/meters/${own ?? "meter-1"}/readings?meter=${other}`,
  `/api/v1/meters/${own ?? "meter-1"}/readings?obis=1-0:1.8.0*255&meter=${other}`,
  `/api/v1/log?meter=${other}&meter=${own ?? "meter-1"}`,
  `/api/v1/calibration-log?meter=${other}&meter=${own ?? "meter-1"}`,
  `/api/v1/calibration-log?meter=${encodeURIComponent(other)}`,
  `/api/v1/meters/${other}%00/readings`,
  `/api/v1/meters/%20${other}/readings`,
  `/api/v1/meters?meter=${other}`,
];

async function checkWorld(w: World): Promise<void> {
  const sessions = new Map<string, Record<string, string>>();
  for (const c of w.consumers) {
    const r = await call(w.display, "/api/v1/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: c, password: password(c) }),
    });
    expect(r.status).toBe(200);
    sessions.set(c, { cookie: r.headers.get("set-cookie")?.split(";")[0] ?? "" });
  }
  for (const c of w.consumers) {
    const own = w.table.consumers[c] ?? [];
    const foreign = w.meters.filter((m) => !own.includes(m));
    const auth = sessions.get(c) as Record<string, string>;
    const answers: string[] = [];
    const list = await call(w.display, "/api/v1/meters", { headers: auth });
    expect((list.body as { meters: { meter: string }[] }).meters.map((m) => m.meter)).toEqual(own);
    answers.push(list.text);
    for (const m of [...w.meters, "meter-9", "nobody"]) {
      for (const path of meterRoutes(m)) {
        const r = await call(w.display, path, { headers: auth });
        const expected = own.includes(m) ? 200 : 404;
        expect({ c, path, status: r.status }).toEqual({ c, path, status: expected });
        if (r.status === 200) answers.push(r.text);
      }
    }
    for (const other of foreign) {
      for (const path of tricks(own[0], other)) {
        const r = await call(w.display, path, { headers: auth });
        expect({ c, path, ok: r.status >= 400 && r.status < 500 }).toEqual({ c, path, ok: true });
      }
    }
    const log = await call(w.display, "/api/v1/log?limit=1000", { headers: auth });
    answers.push(log.text);
    for (const e of (log.body as { entries: { text: string; meter?: string }[] }).entries) {
      expect(e.text).toStartWith(`log of ${c} about `);
      expect(own).toContain(e.meter ?? "");
    }
    const calibration = await call(w.display, "/api/v1/calibration-log?limit=1000", {
      headers: auth,
    });
    answers.push(calibration.text);
    const seen = (calibration.body as { entries: { meter?: string }[] }).entries;
    expect(seen.map((e) => e.meter ?? "").sort()).toEqual([...own].sort());
    // Nothing of another consumer's meters in anything this consumer received.
    const all = answers.join("\n");
    for (const other of foreign) {
      const i = METERS.indexOf(other);
      expect({ c, leaked: all.includes(`"${other}"`) || all.includes(`${other}.`) }).toEqual({
        c,
        leaked: false,
      });
      expect({ c, leaked: all.includes(meterId(i)) }).toEqual({ c, leaked: false });
      expect({ c, leaked: all.includes(`(foreign)`) }).toEqual({ c, leaked: false });
      // Every meter's energy values lie in its own billion; none of another's may appear.
      expect({ c, leaked: new RegExp(`\\b${i + 1}\\d{9}(\\.\\d+)?\\b`).test(all) }).toEqual({
        c,
        leaked: false,
      });
    }
  }
  // The technician sees none of it, whatever the assignment.
  const tech = await call(w.display, "/api/v1/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: "technician", password: password("technician") }),
  });
  const t = { cookie: tech.headers.get("set-cookie")?.split(";")[0] ?? "" };
  for (const m of w.meters) {
    for (const path of meterRoutes(m)) {
      expect((await call(w.display, path, { headers: t })).status).toBe(403);
    }
  }
}

const assignment = fc
  .record({
    meters: fc.integer({ min: 1, max: 6 }),
    consumers: fc.integer({ min: 1, max: 4 }),
  })
  .chain(({ meters, consumers }) =>
    fc.record({
      meters: fc.constant(meters),
      consumers: fc.constant(consumers),
      owner: fc.array(fc.option(fc.integer({ min: 0, max: consumers - 1 }), { nil: null }), {
        minLength: meters,
        maxLength: meters,
      }),
    }),
  );

describe("own data only, over random assignments of meters to consumers", () => {
  test("with the IFM deciding and the storage reading within scope", async () => {
    await fc.assert(
      fc.asyncProperty(assignment, async (a) => {
        await checkWorld(world(a.meters, a.consumers, a.owner, false));
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  test("with a broken IFM and storage: the display's own check alone holds", async () => {
    await fc.assert(
      fc.asyncProperty(assignment, async (a) => {
        await checkWorld(world(a.meters, a.consumers, a.owner, true));
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  test("the IFM's rule table alone refuses a consumer's request for another's meter", async () => {
    const w = world(2, 2, [0, 1], false);
    const storage = new FakeStorage();
    const ifm = new FakeIfm(w.table, storage);
    await expect(
      ifm.request(
        "storage",
        "storage.query-readings",
        { meter: "meter-2" },
        { onBehalfOf: "alice" },
      ),
    ).rejects.toThrow("meter meter-2 is not assigned to alice");
    await expect(
      ifm.request(
        "storage",
        "storage.tariff-registers",
        { meter: "meter-2" },
        { onBehalfOf: "alice" },
      ),
    ).rejects.toThrow("denied");
    await expect(
      ifm.request("storage", "storage.consumer-log", { meter: "meter-2" }, { onBehalfOf: "alice" }),
    ).rejects.toThrow("denied");
    await expect(ifm.request("storage", "storage.consumer-log", {}, {})).rejects.toThrow(
      "needs the consumer it acts for",
    );
  });
});
