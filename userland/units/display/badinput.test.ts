// Bad input at every door: malformed and hostile parameters, huge ranges, oversized and
// broken bodies, odd headers. Every answer is a 4xx with a JSON error, nothing the client sent
// comes back unescaped, and the display keeps serving.
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createDisplay } from "./app.ts";
import type { IfmClient } from "./data.ts";
import { listen, MAX_REQUEST_BODY } from "./serve.ts";
import { call, login, makeFixture, memoryLog, testAccounts } from "./testing/fixture.ts";

const f = await makeFixture({ days: 3 });
const alice = (await login(f.display, "alice")).cookie as { cookie: string };

async function get(path: string, headers: Record<string, string> = alice) {
  return call(f.display, path, { headers });
}

function isJsonError(r: { status: number; headers: Headers; body: unknown }): boolean {
  return (
    r.status >= 400 &&
    r.status < 500 &&
    (r.headers.get("content-type") ?? "").startsWith("application/json") &&
    typeof (r.body as { error?: { message?: unknown } }).error?.message === "string"
  );
}

const R = "/api/v1/meters/meter-1/readings";
const S = "/api/v1/meters/meter-1/series";
const E = "/api/v1/meters/meter-1/export";
const range = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";

describe("malformed parameters", () => {
  test.each([
    [
      `${R}?from=yesterday`,
      400,
      "from must be an ISO 8601 time with offset, e.g. 2026-01-01T00:00:00Z",
    ],
    [`${R}?from=2026-01-01T00:00:00`, 400, "from must be an ISO 8601 time"],
    [`${R}?from=2026-13-45T00:00:00Z`, 400, "from is not a valid time"],
    [`${R}?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`, 400, "from is after to"],
    [`${R}?limit=0`, 400, "limit must be an integer from 1 to 1000"],
    [`${R}?limit=1001`, 400, "limit must be an integer from 1 to 1000"],
    [`${R}?limit=1e3`, 400, "limit must be an integer from 1 to 1000"],
    [`${R}?limit=`, 400, "limit must be an integer from 1 to 1000"],
    [`${R}?limit=%2010`, 400, "limit must be an integer from 1 to 1000"],
    [`${R}?limit=99999999999999999999`, 400, "limit must be an integer from 1 to 1000"],
    [`${R}?after=-1`, 400, "after must be a non-negative integer"],
    [`${R}?limit=5&limit=6`, 400, "limit is given more than once"],
    [`${R}?obis=1.8.0'%20OR%201=1`, 400, "obis must look like 1-0:1.8.0*255"],
    [`${R}?meter=meter-3`, 400, "unknown query parameter meter"],
    [`${R}?%3Cscript%3E=1`, 400, "unknown query parameter ?"],
    [`${S}?${range}`, 400, "step is required"],
    [`${S}?${range}&step=5m`, 400, "step must be one of 15m, 1h, 1d, 1mo"],
    [`${S}?step=1h`, 400, "from is required"],
    [`${E}?from=2026-01-01T00:00:00Z`, 400, "to is required"],
    ["/api/v1/meters/METER-1/readings", 400, "meter must be a meter name like meter-1"],
    [`/api/v1/meters/${"m".repeat(40)}/readings`, 400, "meter must be a meter name"],
    ["/api/v1/log?meter=../etc", 400, "meter must be a meter name"],
  ])("%s", async (path, status, message) => {
    const r = await get(path);
    expect(r.status).toBe(status);
    expect(isJsonError(r)).toBe(true);
    expect((r.body as { error: { message: string } }).error.message).toStartWith(message);
  });

  test("huge ranges are refused where they would be expensive, and paged where not", async () => {
    const cases: [string, number, string][] = [
      [`${S}?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&step=15m`, 400, "too-many-points"],
      [`${S}?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&step=1mo`, 400, "range-too-long"],
      [`${E}?from=1970-01-01T00:00:00Z&to=9999-12-31T00:00:00Z`, 400, "range-too-long"],
    ];
    for (const [path, status, code] of cases) {
      const r = await get(path);
      expect({
        path,
        status: r.status,
        code: (r.body as { error: { code: string } }).error.code,
      }).toEqual({
        path,
        status,
        code,
      });
    }
    const paged = await get(`${R}?from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59Z&limit=100`);
    expect(paged.status).toBe(200);
    expect((paged.body as { readings: unknown[]; next?: number }).next).toBeNumber();
  });

  test("an export of more readings than allowed says so instead of filling memory", async () => {
    // A storage that always has another full page.
    let seq = 0;
    const endless: IfmClient = {
      request: (async (_to: string, type: string) => {
        if (type === "storage.query-readings") {
          const readings = Array.from({ length: 1000 }, () => ({
            seq: ++seq,
            obis: "1-0:1.8.0*255",
            value: seq,
            unit: "Wh",
            capturedAt: "2026-01-01T00:00:00.000Z",
            status: 4,
          }));
          return { readings, next: seq };
        }
        return { entries: [], registers: [] };
      }) as IfmClient["request"],
    };
    const d = createDisplay({
      ifm: endless,
      table: f.table,
      accounts: await testAccounts({ alice: "pw" }, f.table),
      log: memoryLog(),
      version: "0.1.0",
    });
    const s = (await login(d, "alice", "pw")).cookie as { cookie: string };
    const r = await call(d, `${E}?${range}`, { headers: s });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ error: { code: "export-too-large" } });
  });
});

const HOSTILE = [
  "<script>alert(1)</script>",
  '"><img src=x onerror=alert(1)>',
  "'; DROP TABLE readings; --",
  "1' OR '1'='1",
  "../../../../etc/passwd",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, on purpose
  "${7*7}{{7*7}}",
  "\u0000\u0001\u001f",
  "\uD800",
  "%00%ZZ%",
  "A".repeat(5000),
  "\u202e\u2028\u2029",
];

/** A reflected string is one that comes back raw, outside a JSON string's escaping. */
function reflects(text: string, payload: string): boolean {
  return payload.length >= 3 && /[<>"'&\\]/.test(payload) && text.includes(payload);
}

describe("hostile input in every field", () => {
  const fields = (p: string) => {
    // Every byte percent-encoded (a lone surrogate becomes U+FFFD's bytes, as a browser sends).
    const e = [...Buffer.from(p, "utf8")]
      .map((b) => `%${b.toString(16).padStart(2, "0")}`)
      .join("");
    return [
      `/api/v1/meters/${e}/readings`,
      `/api/v1/meters/${e}/export?${range}`,
      `${R}?from=${e}`,
      `${R}?to=${e}`,
      `${R}?obis=${e}`,
      `${R}?limit=${e}`,
      `${R}?after=${e}`,
      `${R}?${e}=1`,
      `${S}?${range}&step=${e}`,
      `${S}?${range}&step=1h&obis=${e}`,
      `/api/v1/log?meter=${e}`,
      `/api/v1/${e}`,
      `/assets/${e}`,
    ];
  };

  test.each(HOSTILE.map((p) => [JSON.stringify(p).slice(0, 40), p]))(
    "%s",
    async (_name, payload) => {
      for (const path of fields(payload)) {
        const r = await get(path);
        expect({ path: path.slice(0, 80), ok: isJsonError(r) }).toEqual({
          path: path.slice(0, 80),
          ok: true,
        });
        expect(reflects(r.text, payload)).toBe(false);
      }
      for (const body of [
        { user: payload, password: "x" },
        { user: "alice", password: payload },
      ]) {
        const r = await call(f.display, "/api/v1/login", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          client: "198.18.0.1",
        });
        expect(isJsonError(r)).toBe(true);
        expect(reflects(r.text, payload)).toBe(false);
      }
      const hostileHeaders: Record<string, string>[] = [
        { cookie: `smgw_session=${payload}` },
        { authorization: `Basic ${payload}` },
        { authorization: payload },
      ];
      for (const headers of hostileHeaders) {
        const r = await call(f.display, "/api/v1/meters", { headers, client: "198.18.0.2" }).catch(
          () => undefined,
        );
        // A header Bun itself refuses to construct never reaches the display.
        if (!r) continue;
        expect(r.status === 401 || r.status === 429).toBe(true);
        expect(reflects(r.text, payload)).toBe(false);
      }
      const page = await call(f.display, "/", {
        headers: { "accept-language": payload.slice(0, 200) },
      }).catch(() => undefined);
      if (page) expect(page.status).toBe(200);
    },
  );

  test("random strings in random fields: always a 4xx JSON error, never reflected (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "binary", maxLength: 60 }),
        fc.integer({ min: 0, max: 12 }),
        async (s, i) => {
          const path = fields(s)[i] as string;
          const r = await get(path);
          expect(r.status).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
          expect(reflects(r.text, s)).toBe(false);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe("bodies and methods", () => {
  const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
    call(f.display, "/api/v1/login", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      client: "198.18.0.3",
    });

  test.each([
    ["not JSON", "{user:", 400, "the body is not JSON"],
    ["a JSON array", "[]", 400, "the body must be a JSON object"],
    ["JSON null", "null", 400, "the body must be a JSON object"],
    ["a missing password", '{"user":"alice"}', 400, "password is required"],
    ["an extra field", '{"user":"alice","password":"x","admin":true}', 400, "unknown field admin"],
    ["a number as user", '{"user":1,"password":"x"}', 400, "user must be a user name"],
    [
      "a 5 KB body",
      JSON.stringify({ user: "alice", password: "x".repeat(5000) }),
      413,
      "the body may hold",
    ],
    ["deep nesting", `${"[".repeat(3000)}${"]".repeat(3000)}`, 413, "the body may hold"],
  ])("%s", async (_name, body, status, message) => {
    const r = await post(body);
    expect(r.status).toBe(status);
    expect(isJsonError(r)).toBe(true);
    expect((r.body as { error: { message: string } }).error.message).toStartWith(message);
  });

  test("bytes that are not UTF-8", async () => {
    const r = await post(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { message: "the body is not UTF-8 text" } });
  });

  test("other methods answer 405 with Allow; unknown paths 404; both JSON", async () => {
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const r = await call(f.display, "/api/v1/meters", { method, headers: alice });
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe("GET");
      expect(isJsonError(r)).toBe(true);
    }
    const r = await call(f.display, "/api/v1/login", { method: "GET" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("POST");
    expect(isJsonError(await get("/api/v2/meters"))).toBe(true);
  });

  test("over-long paths and queries", async () => {
    expect((await get(`${R}?obis=${"1".repeat(3000)}`)).status).toBe(414);
  });
});

describe("over real HTTP", () => {
  const server = listen(f.display, {
    hostname: "127.0.0.1",
    port: 0,
    listener: "han",
    log: memoryLog(),
  });
  const base = `http://127.0.0.1:${server.port}`;
  afterAll(() => server.stop(true));

  test("a body beyond Bun's limit is refused and the server keeps serving", async () => {
    const big = await fetch(`${base}/api/v1/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(MAX_REQUEST_BODY + 10),
    }).catch((e: unknown) => e as Error);
    if (big instanceof Response) expect(big.status).toBe(413);
    const chunked = await fetch(`${base}/api/v1/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("x".repeat(8000)));
          c.close();
        },
      }),
    });
    expect(chunked.status).toBe(413);
    const ok = await fetch(`${base}/api/v1/status`, { headers: alice });
    expect(ok.status).toBe(200);
  });

  test("the client's address reaches the throttle: one address's failures do not block another", async () => {
    for (let i = 0; i < 3; i++) {
      await fetch(`${base}/api/v1/meters`, {
        headers: { authorization: `Basic ${btoa("bob:wrong")}` },
      });
    }
    const r = await fetch(`${base}/api/v1/meters`, {
      headers: { authorization: `Basic ${btoa("bob:wrong")}` },
    });
    expect(r.status).toBe(429);
    // The same account from another address (in-process, as a HAN client) is not slowed.
    const other = await call(f.display, "/api/v1/meters", {
      headers: { authorization: `Basic ${btoa("bob:bob-battery-staple")}` },
      client: "203.0.113.11",
    });
    expect(other.status).toBe(200);
  });
});
