import { describe, expect, test } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { validateAr2418, xmllintPath } from "@smgw/ar2418";
import { parseMeterData } from "@smgw/taf";
import { checkAccounts } from "./auth.ts";
import { trustedHeaderSource } from "./client-cert.ts";
import { basic, call, login, makeFixture, PASSWORDS } from "./testing/fixture.ts";

const f = await makeFixture();
const alice = (await login(f.display, "alice")).cookie as { cookie: string };
const bob = (await login(f.display, "bob")).cookie as { cookie: string };
const tech = (await login(f.display, "technician")).cookie as { cookie: string };

/** Check an answer against the schema the route declares for that status. */
function conforms(path: string, method: string, status: number, body: unknown): void {
  const spec = f.display.routes.find(
    (r) =>
      r.method === method &&
      new RegExp(`^${r.path.replace(/:[a-z]+/g, "[^/]+")}$`).test(path.split("?")[0] ?? ""),
  );
  const schema = spec?.responses[status]?.schema as TSchema | undefined;
  if (!schema) return;
  const errors = [...Value.Errors(schema, body)].map((e) => `${e.path} ${e.message}`);
  expect({ path, errors }).toEqual({ path, errors: [] });
}

async function get(path: string, who: Record<string, string> = alice) {
  const r = await call(f.display, path, { headers: who });
  conforms(path, "GET", r.status, r.body);
  return r;
}

describe("sessions over HTTP", () => {
  test("login sets an HttpOnly, SameSite=Strict cookie; logout ends it", async () => {
    const r = await login(f.display, "alice");
    expect(r.status).toBe(200);
    const cookie = r.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(
      /^smgw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    conforms("/api/v1/login", "POST", 200, r.body);
    expect((await get("/api/v1/session", r.cookie)).body).toMatchObject({
      account: "alice",
      via: "password",
    });
    const out = await call(f.display, "/api/v1/logout", {
      method: "POST",
      headers: { ...r.cookie, origin: "http://localhost", host: "localhost" },
    });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await get("/api/v1/session", r.cookie)).status).toBe(401);
  });

  test("sessions expire after half an hour without use", async () => {
    const g = await makeFixture({ days: 1 });
    const s = (await login(g.display, "bob")).cookie as { cookie: string };
    g.clock.now += 29 * 60_000;
    expect((await call(g.display, "/api/v1/meters", { headers: s })).status).toBe(200);
    g.clock.now += 31 * 60_000;
    const r = await call(g.display, "/api/v1/meters", { headers: s });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ error: { code: "session-ended" } });
  });

  test("a login from another site, or not as JSON, is refused (CSRF)", async () => {
    const body = JSON.stringify({ user: "alice", password: PASSWORDS.alice });
    const post = (headers: Record<string, string>) =>
      call(f.display, "/api/v1/login", { method: "POST", body, headers });
    const json = { "content-type": "application/json", host: "localhost" };
    expect((await post({ ...json, origin: "http://evil.example" })).status).toBe(403);
    expect((await post({ ...json, origin: "null" })).status).toBe(403);
    expect((await post({ ...json, "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ host: "localhost", "content-type": "text/plain" })).status).toBe(415);
    expect(
      (await post({ host: "localhost", "content-type": "application/x-www-form-urlencoded" }))
        .status,
    ).toBe(415);
    // Without Origin (curl) it is allowed: there is no cookie to ride on.
    expect((await post(json)).status).toBe(200);
  });

  test("Basic authentication works per request, as before", async () => {
    expect((await get("/api/v1/meters", basic("alice"))).status).toBe(200);
    const wrong = await get("/api/v1/meters", basic("alice", "nope"));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain("Basic");
    expect((await get("/api/v1/meters", basic("mallory", "x"))).status).toBe(401);
    const none = await get("/api/v1/meters", {});
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBeNull();
  });

  test("a client certificate named by the TCM on loopback signs the request in", async () => {
    const accounts = checkAccounts({
      bob: {
        role: "consumer",
        passwordHash: "$argon2id$v=19$m=1024,t=1,p=1$x$y",
        certificateSubject: "CN=Bob Test",
      },
    });
    const g = await makeFixture({
      days: 1,
      accounts,
      display: { certificates: trustedHeaderSource() },
    });
    const headers = { "x-smgw-client-subject": "CN=Bob Test" };
    const viaTcm = await call(g.display, "/api/v1/session", {
      headers,
      client: "127.0.0.1",
      listener: "tcm",
    });
    expect(viaTcm.body).toMatchObject({ account: "bob", via: "certificate" });
    const forged = await call(g.display, "/api/v1/session", { headers, client: "203.0.113.66" });
    expect(forged.status).toBe(401);
    expect(g.log.lines.some((l) => l.msg.includes("client certificate header"))).toBe(true);
  });
});

describe("consumer routes", () => {
  test("meters: exactly the consumer's own", async () => {
    const r = await get("/api/v1/meters");
    expect((r.body as { meters: { meter: string }[] }).meters.map((m) => m.meter)).toEqual([
      "meter-1",
      "meter-2",
      "wmbus-1",
      "wmbus-2",
    ]);
    const b = await get("/api/v1/meters", bob);
    expect(b.body).toMatchObject({
      meters: [
        { meter: "meter-3", meterId: "1EMH0012345673" },
        { meter: "wmbus-3", meterId: "XSM30000003" },
        { meter: "wmbus-4", meterId: "XSM30000004" },
        { meter: "wmbus-5", meterId: "XSM30000005" },
      ],
    });
  });

  test("readings page through a range without gaps or repeats", async () => {
    const from = "2026-01-10T00:00:00Z";
    const to = "2026-01-11T00:00:00Z";
    const seen: number[] = [];
    let after: number | undefined;
    for (;;) {
      const r = await get(
        `/api/v1/meters/meter-1/readings?from=${from}&to=${to}&obis=1-0:1.8.0*255&limit=40${after ? `&after=${after}` : ""}`,
      );
      expect(r.status).toBe(200);
      const page = r.body as { readings: { seq: number; capturedAt: string }[]; next?: number };
      seen.push(...page.readings.map((x) => x.seq));
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(seen).toHaveLength(96);
    expect(new Set(seen).size).toBe(96);
  });

  test("current values, series, tariff registers and the log", async () => {
    const cur = await get("/api/v1/meters/meter-2/current");
    expect((cur.body as { values: { obis: string }[] }).values.map((v) => v.obis)).toEqual([
      "1-0:1.8.0*255",
      "1-0:2.8.0*255",
      "1-0:16.7.0*255",
    ]);
    const day = await get(
      "/api/v1/meters/meter-1/series?from=2026-01-09T23:00:00Z&to=2026-01-10T23:00:00Z&step=1h",
    );
    const s = day.body as { points: { value: number | null }[]; total: number; kind: string };
    expect(s.kind).toBe("consumption");
    expect(s.points).toHaveLength(24);
    expect(s.points.every((p) => p.value !== null && p.value > 0)).toBe(true);
    // The day's total is the register's increase over the day.
    const reg = await get(
      "/api/v1/meters/meter-1/readings?obis=1-0:1.8.0*255&from=2026-01-09T23:00:00Z&to=2026-01-10T23:00:01Z&limit=1000",
    );
    const values = (reg.body as { readings: { value: number }[] }).readings.map((r) => r.value);
    expect(s.total).toBeCloseTo((values.at(-1) ?? 0) - (values[0] ?? 0), 3);
    const month = await get(
      "/api/v1/meters/meter-1/series?from=2025-12-31T23:00:00Z&to=2026-01-31T23:00:00Z&step=1d&obis=1-0:16.7.0*255",
    );
    expect(month.body).toMatchObject({ kind: "average", unit: "W" });
    expect((month.body as { points: unknown[] }).points).toHaveLength(31);
    const tariff = await get("/api/v1/meters/meter-1/tariff-registers");
    expect(tariff.body).toMatchObject({
      tariff: { useCase: 2 },
      registers: [{ tariffStage: 0 }, {}, {}],
    });
    const log = await get("/api/v1/log?limit=2");
    const l = log.body as { entries: { meter?: string }[]; next?: number };
    expect(l.entries).toHaveLength(2);
    expect(l.next).toBeNumber();
    const onlyTwo = await get("/api/v1/log?meter=meter-2");
    expect(
      (onlyTwo.body as { entries: { meter?: string }[] }).entries.every(
        (e) => e.meter === "meter-2",
      ),
    ).toBe(true);
    const calibration = await get("/api/v1/calibration-log");
    expect(calibration.status).toBe(200);
    conforms("/api/v1/calibration-log", "GET", 200, calibration.body);
    const c = calibration.body as { entries: { meter?: string; event: string }[] };
    expect(c.entries.map((e) => e.event)).toContain("tariff.configured");
    expect(c.entries.some((e) => e.meter === undefined)).toBe(true);
    const own = new Set(f.table.consumers.alice);
    expect(c.entries.every((e) => e.meter === undefined || own.has(e.meter))).toBe(true);
    const page = await get("/api/v1/calibration-log?limit=1");
    expect((page.body as { entries: unknown[]; next?: number }).entries).toHaveLength(1);
    const next = (page.body as { next?: number }).next;
    expect(next).toBeNumber();
    const second = await get(`/api/v1/calibration-log?limit=1&after=${next}`);
    expect((second.body as { entries: { seq: number }[] }).entries[0]?.seq).toBeGreaterThan(
      next ?? 0,
    );
    const oneMeter = await get("/api/v1/calibration-log?meter=meter-1");
    expect(
      (oneMeter.body as { entries: { meter?: string }[] }).entries.every(
        (e) => e.meter === "meter-1",
      ),
    ).toBe(true);
    expect((await get("/api/v1/calibration-log?meter=meter-3")).status).toBe(404);
    expect((await get("/api/v1/calibration-log?limit=0")).status).toBe(400);
    expect((await get("/api/v1/calibration-log?from=yesterday")).status).toBe(400);
  });

  test("day buckets follow German legal time across the change to summer time", async () => {
    const g = await makeFixture({ end: Date.UTC(2026, 2, 31), days: 5 });
    const s = (await login(g.display, "alice")).cookie as { cookie: string };
    // 28 March 00:00 CET to 31 March 00:00 CEST: three days, the middle one has 23 hours.
    const r = await call(
      g.display,
      "/api/v1/meters/meter-1/series?from=2026-03-27T23:00:00Z&to=2026-03-30T22:00:00Z&step=1d",
      { headers: s },
    );
    expect((r.body as { points: { start: string }[] }).points.map((p) => p.start)).toEqual([
      "2026-03-27T23:00:00.000Z",
      "2026-03-28T23:00:00.000Z",
      "2026-03-29T22:00:00.000Z",
    ]);
  });

  test("the export is a valid AR 2418-6 document the tariff engine reads back", async () => {
    const r = await call(
      f.display,
      "/api/v1/meters/meter-1/export?from=2026-01-26T00:00:00%2B01:00&to=2026-01-28T00:00:00%2B01:00",
      { headers: alice },
    );
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/xml; charset=utf-8");
    expect(r.headers.get("content-disposition")).toBe(
      'attachment; filename="meter-1_2026-01-26_2026-01-28.xml"',
    );
    if (xmllintPath()) expect(validateAr2418([r.text]).errors).toEqual([]);
    const doc = parseMeterData(r.text);
    expect(doc).toMatchObject({
      usagePointId: "1ESY1161234561",
      customerId: "alice",
      smgwId: "ESMGW0000000001",
      tariffName: "HT/NT",
    });
    expect(doc.meterReadings.map((m) => m.readingType.obisCode)).toEqual([
      "0100010800FF",
      "0100020800FF",
      "0100100700FF",
    ]);
    const energy = doc.meterReadings[0];
    const readings = energy?.intervalBlocks[0]?.intervalReadings ?? [];
    expect(readings).toHaveLength(192);
    expect(energy?.intervalBlocks[0]?.intervalDuration).toBe(2 * 86_400);
    // Values come back exactly (the scaler carries the decimals).
    const stored = await get(
      "/api/v1/meters/meter-1/readings?obis=1-0:1.8.0*255&from=2026-01-26T00:00:00%2B01:00&to=2026-01-28T00:00:00%2B01:00&limit=1000",
    );
    const want = (stored.body as { readings: { value: number }[] }).readings.map((x) => x.value);
    const scaler = energy?.readingType.scaler ?? 0;
    expect(readings.map((x) => Math.round(x.value * 10 ** scaler * 1000) / 1000)).toEqual(want);
    expect(readings.every((x) => x.statusPTB === 0 && x.statusFNN?.length === 16)).toBe(true);
    // The consumer log's entries about this meter in the range come along.
    expect(doc.logEntries.map((e) => e.text)).toEqual([
      "Messwerte von meter-1 an EMT Lieferant gesendet (Tag 1)",
      "Messwerte von meter-1 an EMT Lieferant gesendet (Tag 2)",
    ]);
  });
});

describe("roles", () => {
  test("the technician sees the status and diagnostics but nothing of a consumer", async () => {
    for (const path of [
      "/api/v1/meters",
      "/api/v1/meters/meter-1/readings",
      "/api/v1/meters/meter-1/current",
      "/api/v1/meters/meter-1/series?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&step=1h",
      "/api/v1/meters/meter-1/tariff-registers",
      "/api/v1/meters/meter-1/export?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
      "/api/v1/log",
      "/api/v1/calibration-log",
    ]) {
      const r = await get(path, tech);
      expect({ path, status: r.status }).toEqual({ path, status: 403 });
    }
    const d = await get("/api/v1/diagnostics", tech);
    expect(d.status).toBe(200);
    expect(JSON.stringify(d.body)).not.toMatch(/alice|bob|meter-\d/);
    expect((await get("/api/v1/status", tech)).status).toBe(200);
    expect((await get("/api/v1/diagnostics", alice)).status).toBe(403);
    // The IFM never saw a consumer-data request for the technician.
    expect(f.ifm.seen.some((s) => s.onBehalfOf === "technician")).toBe(false);
  });

  test("a consumer sees unit states without the technician's details", async () => {
    const r = await get("/api/v1/status");
    expect(r.body).toMatchObject({ state: "ok", units: { meter: { state: "ok" } } });
  });
});

describe("the API description", () => {
  test("every route Elysia serves is in the OpenAPI document, and nothing else", async () => {
    const r = await get("/api/v1/openapi.json", {});
    expect(r.status).toBe(200);
    const doc = r.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.1.0");
    const served = f.display.app.routes
      .map((x) => `${x.method} ${x.path.replace(/:([a-z]+)/g, "{$1}")}`)
      .sort();
    const described = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(described).toEqual(served);
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops) as { parameters: { name: string; in: string }[] }[]) {
        const inPath = [...p.matchAll(/\{([a-z]+)\}/g)].map((m) => m[1] ?? "");
        expect(op.parameters.filter((x) => x.in === "path").map((x) => x.name)).toEqual(inPath);
      }
    }
    const series = doc.paths["/api/v1/meters/{meter}/series"]?.get as {
      parameters: { name: string; required: boolean }[];
    };
    expect(series.parameters.map((x) => [x.name, x.required])).toEqual([
      ["meter", true],
      ["from", true],
      ["to", true],
      ["obis", false],
      ["step", true],
    ]);
  });

  test("the page and its assets are served from the gateway, in the asked language", async () => {
    const de = await call(f.display, "/", { headers: { "accept-language": "de-DE,de;q=0.9" } });
    expect(de.text).toContain('<html lang="de">');
    const en = await call(f.display, "/", { headers: { "accept-language": "en-US,en;q=0.8" } });
    expect(en.text).toContain('<html lang="en">');
    const chosen = await call(f.display, "/", {
      headers: { "accept-language": "en", cookie: "smgw_lang=de" },
    });
    expect(chosen.text).toContain('<html lang="de">');
    expect(de.headers.get("content-security-policy")).toContain("script-src 'self'");
    // No external resource: every src/href is the gateway's own.
    for (const m of de.text.matchAll(/(?:src|href)="([^"]+)"/g)) {
      expect(m[1]).toMatch(/^(\/|#|data:)/);
    }
    for (const name of ["app.js", "app.css", "uplot.js", "uplot.css"]) {
      const a = await call(f.display, `/assets/${name}`);
      expect(a.status).toBe(200);
      // Nothing loads from elsewhere (uPlot's licence comment names its home; that loads nothing).
      const code = a.text.replace(/^\/\*![^*]*\*\//, "");
      expect(code.match(/https?:\/\/|url\(|@import/g)).toBeNull();
      const again = await call(f.display, `/assets/${name}`, {
        headers: { "if-none-match": a.headers.get("etag") ?? "" },
      });
      expect(again.status).toBe(304);
    }
    expect((await call(f.display, "/assets/secret.txt")).status).toBe(404);
    expect((await call(f.display, "/assets/..%2Fauth.ts")).status).toBe(404);
  });
});
