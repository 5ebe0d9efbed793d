// Benchmark: the secure store (AES-256-GCM per record, hash chain, anchored commits) against
// plain bun:sqlite without encryption, in one run: a year of 15-minute values for 8 meters
// (8 × 35,040), inserted one day per meter per commit, then range queries.
//
//   userland/node_modules/.bin/bun bench/securestore.ts [--queries N] [--scale]
//
// Both sides use WAL with synchronous=FULL and the same commits. --scale adds the verification
// times for 24 months × 8 meters × 4 registers (about 2.2 million records).
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { openMeterStore, SoftwareKeyService } from "../userland/lib/securestore/index.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    queries: { type: "string", default: "2000" },
    scale: { type: "boolean", default: false },
  },
});
const QUERIES = Number(values.queries);
const METERS = 8;
const DAYS = 365;
const PER_DAY = 96;
const QUARTER = 15 * 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
const OBIS = "1-0:1.8.0*255";
const silent = { warn: () => {}, error: () => {} };

const root = mkdtempSync(path.join(tmpdir(), "smgw-bench-store-"));

function reading(i: number, obis = OBIS) {
  return {
    obis,
    value: 1000 + i * 0.25,
    unit: "Wh",
    capturedAt: new Date(T0 + i * QUARTER).toISOString(),
    status: 0,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

function timeQueries(run: (meter: number, from: number, to: number) => number, days: number) {
  const lat: number[] = [];
  let rows = 0;
  for (let q = 0; q < QUERIES; q++) {
    const meter = q % METERS;
    const day = Math.floor(Math.random() * (DAYS - days + 1));
    const t = performance.now();
    rows += run(meter, T0 + day * DAY, T0 + (day + days) * DAY);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), rows: rows / QUERIES };
}

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

try {
  // The three writers, interleaved day by day so that they see the same machine load:
  //   secure   one day of one meter per append (commit), one meter after the other;
  //   grouped  the 8 meters' appends of a day at once: they share commits (group commit);
  //   plain    bun:sqlite, the storage unit's table, one transaction per day and meter.
  const keys = new SoftwareKeyService({
    masterKey: Buffer.alloc(32, 7),
    counterFile: path.join(root, "counters.json"),
    log: silent,
  });
  const secureDir = path.join(root, "secure");
  const secure = await openMeterStore(secureDir, keys, { log: silent });
  const groupKeys = new SoftwareKeyService({
    masterKey: Buffer.alloc(32, 9),
    counterFile: path.join(root, "group-counters.json"),
    log: silent,
  });
  const grouped = await openMeterStore(path.join(root, "grouped"), groupKeys, { log: silent });
  const plainFile = path.join(root, "plain.sqlite");
  const plain = new Database(plainFile, { create: true, strict: true });
  plain.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
  plain.exec(`CREATE TABLE readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, meter TEXT NOT NULL,
    obis TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL, captured_at TEXT NOT NULL,
    captured_ms INTEGER NOT NULL, status INTEGER NOT NULL);
    CREATE INDEX readings_by_meter ON readings (meter, obis, captured_ms)`);
  const insert = plain.prepare(
    "INSERT INTO readings (meter, obis, value, unit, captured_at, captured_ms, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const batch = plain.transaction((meter: string, rows: ReturnType<typeof reading>[]) => {
    for (const r of rows) {
      insert.run(meter, r.obis, r.value, r.unit, r.capturedAt, Date.parse(r.capturedAt), r.status);
    }
  });
  let secureMs = 0;
  let groupedMs = 0;
  let plainMs = 0;
  let incrementMs = 0;
  let t = 0;
  for (let d = 0; d < DAYS; d++) {
    const day = Array.from({ length: PER_DAY }, (_, k) => reading(d * PER_DAY + k));
    t = performance.now();
    for (let m = 0; m < METERS; m++) await secure.append(`meter-${m}`, day);
    secureMs += performance.now() - t;
    t = performance.now();
    await Promise.all(Array.from({ length: METERS }, (_, m) => grouped.append(`meter-${m}`, day)));
    groupedMs += performance.now() - t;
    t = performance.now();
    for (let m = 0; m < METERS; m++) batch(`meter-${m}`, day);
    plainMs += performance.now() - t;
    // What an anchored commit pays for the key service's counter (a file: two fsyncs here).
    t = performance.now();
    await keys.increment("bench/counter");
    incrementMs += performance.now() - t;
  }
  const total = DAYS * PER_DAY * METERS;
  const groupCommits = Number(await groupKeys.counter("meter/readings"));
  await grouped.close();

  console.log(
    `${METERS} meters × ${DAYS * PER_DAY} values = ${total} values, one day of one meter per append`,
  );
  const si = total / (secureMs / 1000);
  const gi = total / (groupedMs / 1000);
  const pi = total / (plainMs / 1000);
  console.log(
    `inserts/s   secure ${si.toFixed(0).padStart(7)}   8 meters at once ${gi.toFixed(0).padStart(7)}   plain ${pi.toFixed(0).padStart(7)}   ratios ${(si / pi).toFixed(2)}× and ${(gi / pi).toFixed(2)}×`,
  );
  console.log(
    `commits     secure ${(secureMs / (DAYS * METERS)).toFixed(2)} ms each   8 meters at once ${groupCommits} commits for ${DAYS * METERS} appends   plain ${(plainMs / (DAYS * METERS)).toFixed(2)} ms each   (counter increment alone ${(incrementMs / DAYS).toFixed(2)} ms)`,
  );

  // ---- range queries
  const plainQuery = plain.prepare(
    "SELECT seq, obis, value, unit, captured_at, status FROM readings WHERE meter = ? AND obis = ? AND captured_ms >= ? AND captured_ms < ? ORDER BY captured_ms, seq LIMIT ?",
  );
  for (const days of [1, 31]) {
    const s = timeQueries((m, from, to) => {
      let n = 0;
      let cursor: string | undefined;
      for (;;) {
        const page = secure.query({
          meter: `meter-${m}`,
          obis: OBIS,
          from,
          to,
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        n += page.readings.length;
        if (!page.next) return n;
        cursor = page.next;
      }
    }, days);
    const p = timeQueries((m, from, to) => {
      // The same paging: 1000 rows per page, continuing after the last (time, seq).
      let n = 0;
      let after = from;
      for (;;) {
        const rows = plainQuery.all(`meter-${m}`, OBIS, after, to, 1000) as {
          captured_at: string;
        }[];
        n += rows.length;
        if (rows.length < 1000) return n;
        after = Date.parse((rows[rows.length - 1] as { captured_at: string }).captured_at) + 1;
      }
    }, days);
    console.log(
      `range ${String(days).padStart(2)} day${days > 1 ? "s" : " "} (${s.rows.toFixed(0)} values, pages of 1000)  p50 secure ${fmt(s.p50)} plain ${fmt(p.p50)}   p99 secure ${fmt(s.p99)} plain ${fmt(p.p99)}   p99 ratio ${(s.p99 / p.p99).toFixed(1)}×`,
    );
  }
  await secure.close();
  plain.close(true);
  const secureSize = statSync(path.join(secureDir, "meter", "readings.sqlite")).size;
  console.log(
    `file size   secure ${(secureSize / 1e6).toFixed(1)} MB   plain ${(statSync(plainFile).size / 1e6).toFixed(1)} MB`,
  );

  // ---- verification
  t = performance.now();
  const reopened = await openMeterStore(secureDir, keys, { log: silent });
  const openMs = performance.now() - t;
  const report = await reopened.verify();
  console.log(
    `verify      open (checkpoints) ${openMs.toFixed(0)} ms   full verify() ${report.ms.toFixed(0)} ms for ${report.recordsChecked} records`,
  );
  await reopened.close();

  if (values.scale) {
    // 24 months × 8 meters × 4 registers, written in large commits: only verification is timed.
    const scaleDir = path.join(root, "scale");
    // A key service of its own: the counter "meter/readings" of the first one is taken.
    const scaleKeys = new SoftwareKeyService({
      masterKey: Buffer.alloc(32, 8),
      counterFile: path.join(root, "scale-counters.json"),
      log: silent,
    });
    const big = await openMeterStore(scaleDir, scaleKeys, { log: silent, maxBatch: 10_000 });
    const registers = ["1-0:1.8.0*255", "1-0:2.8.0*255", "1-0:1.8.1*255", "1-0:1.8.2*255"];
    const values2y = 2 * DAYS * PER_DAY;
    t = performance.now();
    for (let m = 0; m < METERS; m++) {
      for (const obis of registers) {
        for (let i = 0; i < values2y; i += 9600) {
          await big.append(
            `meter-${m}`,
            Array.from({ length: Math.min(9600, values2y - i) }, (_, k) => reading(i + k, obis)),
          );
        }
      }
    }
    const fillS = (performance.now() - t) / 1000;
    await big.close();
    t = performance.now();
    const again = await openMeterStore(scaleDir, scaleKeys, { log: silent });
    const bigOpen = performance.now() - t;
    const bigReport = await again.verify();
    await again.close();
    console.log(
      `scale       ${bigReport.lastSeq} records (filled in ${fillS.toFixed(0)} s): open (checkpoints) ${bigOpen.toFixed(0)} ms, full verify() ${(bigReport.ms / 1000).toFixed(1)} s, ${bigReport.ok ? "ok" : "FAILED"}`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
