// The display's HTTP API on the HAN. A consumer sees the meters assigned to them and their
// readings; the service technician sees the gateway status only. The IFM checks the same
// rule again on every request (scope consumer-own-meters), so a bug here cannot leak.

import type { Logger } from "@smgw/daemon";
import type { IpcClient } from "@smgw/ipc";
import { IpcError } from "@smgw/ipc";
import type { Authenticator } from "./auth.ts";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;
const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const OBIS = /^\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}\*\d{1,3}$/;

export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

function problem(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) {
  return json(status, { error: { code, message } }, headers);
}

export function createHandler(deps: { ifm: IpcClient; auth: Authenticator; log: Logger }) {
  const { ifm, auth, log } = deps;
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method !== "GET")
      return problem(405, "method-not-allowed", "the API is read-only", { allow: "GET" });
    if (url.pathname.length > 256 || url.search.length > 1024) {
      return problem(414, "too-long", "request line too long");
    }
    const who = await auth.check(req.headers.get("authorization"));
    if (!who.ok) {
      log.info("login refused", { path: url.pathname, reason: who.reason });
      return who.status === 429
        ? problem(429, "slow-down", who.reason, {
            "retry-after": String(who.retryAfterSeconds ?? 1),
          })
        : problem(401, "unauthorised", who.reason, {
            "www-authenticate": 'Basic realm="smgw", charset="UTF-8"',
          });
    }
    try {
      if (url.pathname === "/api/v1/status") {
        const s = await ifm.request("sysmgmt", "status.get", {});
        return json(200, { state: s.state, version: s.version, units: s.detail.units ?? {} });
      }
      if (who.role !== "consumer")
        return problem(403, "forbidden", "the technician sees diagnostics only");
      if (url.pathname === "/api/v1/meters") {
        const r = await ifm.request(
          "storage",
          "storage.list-meters",
          {},
          { onBehalfOf: who.account },
        );
        return json(200, r);
      }
      const m = /^\/api\/v1\/meters\/([^/]+)\/readings$/.exec(url.pathname);
      if (m) {
        const meter = decodeURIComponent(m[1] ?? "");
        if (!NAME.test(meter)) return problem(400, "bad-meter", "meter must be a meter name");
        const q = parseReadingQuery(url.searchParams);
        if ("error" in q) return problem(400, "bad-query", q.error);
        const r = await ifm.request(
          "storage",
          "storage.query-readings",
          { meter, ...q },
          { onBehalfOf: who.account },
        );
        return json(200, r);
      }
      return problem(404, "not-found", `no route ${url.pathname}`);
    } catch (e) {
      if (e instanceof IpcError && e.code === "denied") {
        // Same answer as for a meter that does not exist: nothing about other consumers leaks.
        return problem(404, "not-found", "no such meter");
      }
      log.warn("request failed", { path: url.pathname, error: (e as Error).message });
      return problem(503, "unavailable", "the gateway could not answer; try again");
    }
  };
}

export function parseReadingQuery(
  p: URLSearchParams,
):
  | { from?: string; to?: string; obis?: string; limit?: number; after?: number }
  | { error: string } {
  const allowed = new Set(["from", "to", "obis", "limit", "after"]);
  for (const k of p.keys())
    if (!allowed.has(k)) return { error: `unknown parameter ${k.slice(0, 32)}` };
  const out: { from?: string; to?: string; obis?: string; limit?: number; after?: number } = {};
  for (const k of ["from", "to"] as const) {
    const v = p.get(k);
    if (v === null) continue;
    if (!ISO.test(v) || !Number.isFinite(Date.parse(v)))
      return { error: `${k} must be an ISO 8601 time` };
    out[k] = v;
  }
  if (out.from && out.to && Date.parse(out.from) > Date.parse(out.to))
    return { error: "from is after to" };
  const obis = p.get("obis");
  if (obis !== null) {
    if (!OBIS.test(obis)) return { error: "obis must look like 1-0:1.8.0*255" };
    out.obis = obis;
  }
  for (const [k, max] of [
    ["limit", 1000],
    ["after", Number.MAX_SAFE_INTEGER],
  ] as const) {
    const v = p.get(k);
    if (v === null) continue;
    if (!/^\d{1,16}$/.test(v) || Number(v) > max || (k === "limit" && Number(v) < 1)) {
      return { error: `${k} must be an integer${k === "limit" ? " from 1 to 1000" : ""}` };
    }
    out[k] = Number(v);
  }
  return out;
}
