// The display's HAN API under load, in one process:
// 1. p99 latency of one month's range query over two years of 15-minute data of 8 meters
//    (import and export registers), held in SQLite with the storage unit's query shape behind
//    a fake IFM that checks contracts and the rule table: a page of readings, and the chart
//    series (all of the month's readings, aggregated per day). Goal: p99 <= 50 ms.
// 2. Requests per second on the status route against a bare Bun.serve answering the same JSON,
//    in the same run, as a ratio.
// Run: bun bench/display.ts   (from the userland directory, or with its node_modules on PATH)
import { compileRuleTable, parsePolicy } from "../userland/lib/policy/index.ts";
import { createDisplay } from "../userland/units/display/app.ts";
import { listen } from "../userland/units/display/serve.ts";
import {
  defaultStatus,
  FakeIfm,
  FakeStorage,
  generateReadings,
} from "../userland/units/display/testing/fake-ifm.ts";
import { memoryLog, POLICY_FILE, testAccounts } from "../userland/units/display/testing/fixture.ts";
import { meterName, policyWith } from "../userland/units/display/testing/policy.ts";

const METERS = 8;
const DAY = 86_400_000;
const START = Date.UTC(2024, 0, 1) - 3_600_000; // 2024-01-01 00:00 German time
const END = START + 731 * DAY;
const QUERIES = Number(process.env.QUERIES ?? 400);
const SECONDS = Number(process.env.SECONDS ?? 3);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

// Two consumers with four meters each.
const owner = Array.from({ length: METERS }, (_, i) => (i < 4 ? 0 : 1));
const table = compileRuleTable(
  parsePolicy(policyWith(await Bun.file(POLICY_FILE).text(), METERS, 2, owner), "bench.yaml"),
);
const storage = new FakeStorage();
let t0 = performance.now();
let rows = 0;
for (let i = 0; i < METERS; i++) {
  // A month at a time keeps the generator's arrays small.
  for (let from = START; from < END; from += 30 * DAY) {
    const readings = generateReadings({
      from,
      to: Math.min(END, from + 30 * DAY),
      start: (i + 1) * 1_000_000_000 + (from - START) / 1000,
      registers: ["import", "export"],
    });
    storage.addReadings(meterName(i), readings);
    rows += readings.length;
  }
}
console.log(
  `loaded ${rows.toLocaleString("en")} readings (${METERS} meters x 2 registers x 2 years of quarter hours) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const plan = storage.db
  .query(
    "EXPLAIN QUERY PLAN SELECT seq, obis, value, unit, captured_at AS capturedAt, status FROM readings WHERE meter = $meter AND seq > $after AND obis = $obis AND captured_ms >= $from AND captured_ms < $to ORDER BY seq LIMIT $limit",
  )
  .all({ meter: "meter-1", after: 0, obis: "1-0:1.8.0*255", from: 0, to: 1, limit: 1 }) as {
  detail: string;
}[];
console.log(`query plan: ${plan.map((p) => p.detail).join("; ")}`);

const ifm = new FakeIfm(table, storage, { status: defaultStatus });
const display = createDisplay({
  ifm,
  table,
  accounts: await testAccounts({ alice: "bench-password", bob: "bench-password-2" }, table),
  log: memoryLog(),
  version: "0.1.0",
});
const server = listen(display, {
  hostname: "127.0.0.1",
  port: 0,
  listener: "han",
  log: memoryLog(),
});
const base = `http://127.0.0.1:${server.port}`;
const login = await fetch(`${base}/api/v1/login`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ user: "alice", password: "bench-password" }),
});
const cookie = login.headers.get("set-cookie")?.split(";")[0] ?? "";
const headers = { cookie };

/** A random calendar month (German time) of the two years, for one of alice's meters. */
function randomMonth(): { meter: string; from: string; to: string } {
  const m = Math.floor(Math.random() * 24);
  const from = new Date(Date.UTC(2024, m, 1) - (m >= 3 && m < 10 ? 2 : 1) * 3_600_000);
  const to = new Date(Date.UTC(2024, m + 1, 1) - (m + 1 >= 3 && m + 1 < 10 ? 2 : 1) * 3_600_000);
  return {
    meter: meterName(Math.floor(Math.random() * 4)),
    from: from.toISOString(),
    to: to.toISOString(),
  };
}

async function latency(name: string, path: (q: ReturnType<typeof randomMonth>) => string) {
  for (let i = 0; i < 20; i++)
    await (await fetch(`${base}${path(randomMonth())}`, { headers })).text();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < QUERIES; i++) {
    const started = performance.now();
    const r = await fetch(`${base}${path(randomMonth())}`, { headers });
    const body = await r.text();
    times.push(performance.now() - started);
    if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status} ${body.slice(0, 200)}`);
    bytes += body.length;
  }
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);
  console.log(
    `${name}: ${QUERIES} queries, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${(times.at(-1) ?? 0).toFixed(1)} ms, ${(bytes / QUERIES / 1024).toFixed(0)} KiB/answer${p99 <= 50 ? "" : "  (goal p99 <= 50 ms missed)"}`,
  );
  return p99;
}

const pageP99 = await latency(
  "one month, first page of 1000 readings",
  (q) =>
    `/api/v1/meters/${q.meter}/readings?from=${q.from}&to=${q.to}&obis=1-0:1.8.0*255&limit=1000`,
);
const seriesP99 = await latency(
  "one month as a chart series (all readings, per day)",
  (q) => `/api/v1/meters/${q.meter}/series?from=${q.from}&to=${q.to}&step=1d`,
);

/** Requests per second with `concurrency` requests in flight for `seconds`. */
async function throughput(url: string, h: Record<string, string>, concurrency = 32) {
  const until = performance.now() + SECONDS * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < until) {
      const r = await fetch(url, { headers: h });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / SECONDS;
}

// The bare server answers what the status route answers, without routing, auth or checks.
const statusBody = JSON.stringify(await (await fetch(`${base}/api/v1/status`, { headers })).json());
const bare = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () =>
    new Response(statusBody, { headers: { "content-type": "application/json; charset=utf-8" } }),
});
await throughput(`http://127.0.0.1:${bare.port}/`, {}, 8); // warm up both
await throughput(`${base}/api/v1/status`, headers, 8);
t0 = performance.now();
const bareRps = await throughput(`http://127.0.0.1:${bare.port}/`, {});
const displayRps = await throughput(`${base}/api/v1/status`, headers);
console.log(
  `status route: ${displayRps.toFixed(0)} req/s through the display (session cookie, Elysia, fake IFM) against ${bareRps.toFixed(0)} req/s from a bare Bun.serve: ratio ${(displayRps / bareRps).toFixed(2)}`,
);
console.log(
  JSON.stringify({
    readingsPageP99Ms: Number(pageP99.toFixed(2)),
    seriesMonthP99Ms: Number(seriesP99.toFixed(2)),
    statusRps: Math.round(displayRps),
    bareRps: Math.round(bareRps),
    ratio: Number((displayRps / bareRps).toFixed(3)),
  }),
);
bare.stop(true);
server.stop(true);
