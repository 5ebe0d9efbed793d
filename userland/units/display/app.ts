// The display's HTTP interface on the HAN: the open API under /api/v1 (described by the
// OpenAPI document it serves) and the web interface. Routes are declared once, with TypeBox
// schemas for their parameters and answers; Elysia routes them, this file checks them.
//
// Who may see what: a consumer sees the meters the policy assigns to them and their log; the
// service technician sees the gateway's state and diagnostics and nothing of a consumer. A
// meter outside the consumer's scope answers 404, the same as one that does not exist.
import type { TObject, TSchema } from "@sinclair/typebox";
import { formatDateTime } from "@smgw/ar2418";
import { IpcError } from "@smgw/ipc";
import type { RuleTable } from "@smgw/policy";
import { Elysia } from "elysia";
import { type Accounts, Authenticator, type AuthenticatorOptions, type Role } from "./auth.ts";
import type { ClientCertificateSource, Peer } from "./client-cert.ts";
import { ApiError, ConsumerData, type IfmClient, MAX_RANGE_DAYS } from "./data.ts";
import { type Lang, pickLanguage } from "./i18n.ts";
import { buildOpenApi, type OpenApiDocument } from "./openapi.ts";
import { checkBody, parseParameters } from "./query.ts";
import {
  AssetParams,
  CalibrationLogSchema,
  CurrentSchema,
  DiagnosticsSchema,
  ErrorSchema,
  ExportQuery,
  LoginBody,
  LogQuery,
  LogSchema,
  MeterParams,
  MetersSchema,
  NoQuery,
  OkSchema,
  ReadingsQuery,
  ReadingsSchema,
  SeriesQuery,
  SeriesSchema,
  SessionSchema,
  StatusSchema,
  type Step,
  TariffSchema,
} from "./schemas.ts";
import { bucketEstimate, MAX_BUCKETS } from "./series.ts";
import { type Session, SessionStore } from "./sessions.ts";
import { ASSETS, renderPage } from "./ui.ts";

export type Access = "public" | "any" | "consumer" | "technician";

export interface Identity {
  account: string;
  role: Role;
  via: "password" | "certificate";
  session?: { token: string; session: Session };
}

export interface Call {
  request: Request;
  peer: Peer;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
  who: Identity | undefined;
}

export interface ResponseSpec {
  description: string;
  schema?: TSchema;
  /** Defaults to application/json. */
  contentType?: string;
}

export interface RouteSpec {
  method: "GET" | "POST";
  /** Elysia's path syntax, e.g. /api/v1/meters/:meter/readings. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  access: Access;
  params?: TObject;
  query?: TObject;
  body?: TObject;
  /** Answers besides the errors every route of its access level can give. */
  responses: Record<number, ResponseSpec>;
  handle: (c: Call) => Promise<Response | object> | Response | object;
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface DisplayOptions {
  ifm: IfmClient;
  table: RuleTable;
  accounts: Accounts;
  log: Logger;
  version: string;
  /** Injectable clock (login delays and session expiry). */
  now?: () => number;
  /** The gateway's identity in exports (SMGW/smgwId, at most 32 characters). */
  gatewayId?: string;
  certificates?: ClientCertificateSource;
  /** Mark the session cookie Secure (once the TCM terminates TLS for the display). */
  secureCookies?: boolean;
  /** Host header values accepted (DNS rebinding); any host if absent. */
  allowedHosts?: readonly string[];
  auth?: AuthenticatorOptions;
  session?: { idleMs?: number; maxAgeMs?: number };
}

export interface Display {
  /** Answer one request; `peer` says where it came from (default: HAN, unknown address). */
  fetch(request: Request, peer?: Peer): Promise<Response>;
  readonly app: Elysia;
  readonly routes: readonly RouteSpec[];
  readonly openapi: OpenApiDocument;
  readonly auth: Authenticator;
  readonly sessions: SessionStore;
  stats(): Record<string, unknown>;
}

const COOKIE = "smgw_session";
const MAX_BODY = 4096;
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()",
};

export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

export function problem(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  retryAfterSeconds?: number,
): Response {
  const error =
    retryAfterSeconds === undefined ? { code, message } : { code, message, retryAfterSeconds };
  return json(status, { error }, headers);
}

function withSecurityHeaders(r: Response): Response {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!r.headers.has(k)) r.headers.set(k, v);
  return r;
}

function cookieValue(header: string | null, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** True if a state-changing request comes from the display's own pages (CSRF defence). */
export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  const host = request.headers.get("host");
  if (origin !== null) {
    try {
      return host !== null && new URL(origin).host === host;
    } catch {
      return false;
    }
  }
  const site = request.headers.get("sec-fetch-site");
  return site === null || site === "same-origin" || site === "none";
}

const HAN_PEER: Peer = { address: "", listener: "han" };

export function createDisplay(o: DisplayOptions): Display {
  const now = o.now ?? Date.now;
  const startedAt = now();
  const auth = new Authenticator(o.accounts, { now, ...o.auth });
  const sessions = new SessionStore({ now, ...o.session });
  const data = new ConsumerData(o.ifm, o.table);
  const peers = new WeakMap<Request, Peer>();
  const requests: Record<string, number> = {};
  const allowedHosts = o.allowedHosts ? new Set(o.allowedHosts) : undefined;
  const gatewayId = o.gatewayId ?? "smgw";
  const cookieSuffix = `; Path=/; HttpOnly; SameSite=Strict${o.secureCookies ? "; Secure" : ""}`;

  const sessionInfo = (who: Identity) => ({
    account: who.account,
    role: who.role,
    via: who.via,
    ...(who.session
      ? { expiresAt: new Date(sessions.expiresAt(who.session.session)).toISOString() }
      : {}),
  });

  async function gatewayStatus(full: boolean) {
    const s = await o.ifm.request("sysmgmt", "status.get", {});
    const raw = (s.detail.units ?? {}) as Record<string, Record<string, unknown>>;
    const units: Record<string, { state: string; uptimeSeconds?: number; error?: string }> = {};
    for (const [name, u] of Object.entries(raw)) {
      if (typeof u !== "object" || u === null) continue;
      units[name] = {
        state: typeof u.state === "string" ? u.state : "unknown",
        ...(typeof u.uptimeSeconds === "number" ? { uptimeSeconds: u.uptimeSeconds } : {}),
        ...(full && typeof u.error === "string" ? { error: u.error.slice(0, 500) } : {}),
      };
    }
    return { state: s.state, version: s.version, uptimeSeconds: s.uptimeSeconds, units };
  }

  function checkRange(q: { from?: string; to?: string }, maxDays?: number): void {
    const from = q.from === undefined ? undefined : Date.parse(q.from);
    const to = q.to === undefined ? undefined : Date.parse(q.to);
    for (const [name, v] of [
      ["from", from],
      ["to", to],
    ] as const) {
      if (v !== undefined && !Number.isFinite(v)) {
        throw new ApiError(400, "bad-query", `${name} is not a valid time`);
      }
    }
    if (from !== undefined && to !== undefined && from > to) {
      throw new ApiError(400, "bad-query", "from is after to");
    }
    if (maxDays !== undefined && from !== undefined && to !== undefined) {
      if (to - from > maxDays * 86_400_000 + 2 * 3_600_000) {
        throw new ApiError(400, "range-too-long", `the range may span at most ${maxDays} days`);
      }
    }
  }

  const meterResponses = {
    404: { description: "No such meter among the consumer's meters" },
  };

  const routes: RouteSpec[] = [
    {
      method: "GET",
      path: "/",
      operationId: "page",
      summary: "The web interface",
      tags: ["web"],
      access: "public",
      responses: { 200: { description: "The page", contentType: "text/html" } },
      handle: ({ request }) => {
        const lang: Lang = pickLanguage(
          request.headers.get("cookie"),
          request.headers.get("accept-language"),
        );
        return new Response(renderPage(lang), {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "text/html; charset=utf-8",
            "content-language": lang,
            "cache-control": "no-store",
            vary: "accept-language, cookie",
          },
        });
      },
    },
    {
      method: "GET",
      path: "/assets/:file",
      operationId: "asset",
      summary: "Script, style and chart library of the web interface",
      tags: ["web"],
      access: "public",
      params: AssetParams,
      query: undefined,
      responses: {
        200: { description: "The file", contentType: "text/plain" },
        304: { description: "Not modified" },
        404: { description: "No such file" },
      },
      handle: ({ params, request }) => {
        const file = String(params.file);
        const a = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
        if (!a) return problem(404, "not-found", "no such asset");
        const headers = {
          ...SECURITY_HEADERS,
          etag: a.etag,
          "cache-control": "no-cache",
        };
        if (request.headers.get("if-none-match") === a.etag) {
          return new Response(null, { status: 304, headers });
        }
        return new Response(a.body, { headers: { ...headers, "content-type": a.contentType } });
      },
    },
    {
      method: "GET",
      path: "/api/v1/openapi.json",
      operationId: "openapi",
      summary: "This API's OpenAPI 3.1 description",
      tags: ["meta"],
      access: "public",
      responses: { 200: { description: "The OpenAPI document" } },
      handle: () => openapi,
    },
    {
      method: "POST",
      path: "/api/v1/login",
      operationId: "login",
      summary: "Sign in with user name and password; sets the session cookie",
      description:
        "Wrong passwords slow the account down (1 s doubling up to 60 s per client address; " +
        "at most 15 s for the account as a whole) but never lock it. The answer 429 says " +
        "when to try again. The request must come from the display's own origin and be JSON.",
      tags: ["session"],
      access: "public",
      body: LoginBody,
      responses: {
        200: { description: "Signed in", schema: SessionSchema },
        400: { description: "The body is not a login", schema: ErrorSchema },
        401: { description: "Wrong user name or password", schema: ErrorSchema },
        403: { description: "Cross-origin request", schema: ErrorSchema },
        413: { description: "Body too large", schema: ErrorSchema },
        415: { description: "Not JSON", schema: ErrorSchema },
        429: { description: "Too many failed logins; try again later", schema: ErrorSchema },
        503: { description: "Too many logins at once", schema: ErrorSchema },
      },
      handle: async ({ body, peer }) => {
        const { user, password } = body as { user: string; password: string };
        const r = await auth.password(user, password, peer.address);
        if (!r.ok) {
          o.log.info("login refused", { client: peer.address, status: r.status });
          const retry = r.retryAfterSeconds;
          return problem(
            r.status,
            r.status === 429 ? "slow-down" : r.status === 503 ? "busy" : "unauthorised",
            r.reason,
            retry === undefined ? {} : { "retry-after": String(retry) },
            retry,
          );
        }
        const created = sessions.create(r.account, r.role, r.via);
        const who: Identity = { account: r.account, role: r.role, via: r.via, session: created };
        return json(200, sessionInfo(who), {
          "set-cookie": `${COOKIE}=${created.token}${cookieSuffix}; Max-Age=${Math.floor(sessions.maxAgeMs / 1000)}`,
        });
      },
    },
    {
      method: "POST",
      path: "/api/v1/logout",
      operationId: "logout",
      summary: "End the session and clear its cookie",
      tags: ["session"],
      access: "public",
      responses: {
        200: { description: "Signed out", schema: OkSchema },
        403: { description: "Cross-origin request", schema: ErrorSchema },
      },
      handle: ({ request }) => {
        sessions.delete(cookieValue(request.headers.get("cookie"), COOKIE));
        return json(200, { ok: true }, { "set-cookie": `${COOKIE}=${cookieSuffix}; Max-Age=0` });
      },
    },
    {
      method: "GET",
      path: "/api/v1/session",
      operationId: "session",
      summary: "Who the request is signed in as",
      tags: ["session"],
      access: "any",
      responses: { 200: { description: "The signed-in account", schema: SessionSchema } },
      handle: ({ who }) => sessionInfo(who as Identity),
    },
    {
      method: "GET",
      path: "/api/v1/status",
      operationId: "status",
      summary: "The gateway's state and the state of each of its services",
      tags: ["gateway"],
      access: "any",
      responses: { 200: { description: "Gateway status", schema: StatusSchema } },
      handle: ({ who }) => gatewayStatus(who?.role === "service-technician"),
    },
    {
      method: "GET",
      path: "/api/v1/diagnostics",
      operationId: "diagnostics",
      summary: "Diagnostics for the service technician (no consumer data)",
      tags: ["gateway"],
      access: "technician",
      responses: { 200: { description: "Diagnostics", schema: DiagnosticsSchema } },
      handle: async () => ({
        gateway: await gatewayStatus(true),
        display: {
          version: o.version,
          uptimeSeconds: Math.round((now() - startedAt) / 1000),
          policyDigest: o.table.digest,
          accounts: auth.accountCount,
          sessions: sessions.size,
          requests: { ...requests },
          logins: auth.stats(),
        },
      }),
    },
    {
      method: "GET",
      path: "/api/v1/meters",
      operationId: "listMeters",
      summary: "The consumer's meters",
      tags: ["consumer"],
      access: "consumer",
      responses: { 200: { description: "Meters", schema: MetersSchema } },
      handle: ({ who }) => data.meters((who as Identity).account),
    },
    {
      method: "GET",
      path: "/api/v1/meters/:meter/readings",
      operationId: "readings",
      summary: "Readings of one meter by time range, paged",
      description:
        "Readings in storage order. `next` is the cursor for the following page (pass it as " +
        "`after`); it is absent on the last page.",
      tags: ["consumer"],
      access: "consumer",
      params: MeterParams,
      query: ReadingsQuery,
      responses: {
        200: { description: "One page of readings", schema: ReadingsSchema },
        ...meterResponses,
      },
      handle: ({ who, params, query }) => {
        checkRange(query as { from?: string; to?: string });
        return data.readings((who as Identity).account, {
          meter: String(params.meter),
          ...(query as object),
        });
      },
    },
    {
      method: "GET",
      path: "/api/v1/meters/:meter/current",
      operationId: "currentValues",
      summary: "The latest value of each register of one meter",
      tags: ["consumer"],
      access: "consumer",
      params: MeterParams,
      responses: {
        200: { description: "Current values", schema: CurrentSchema },
        ...meterResponses,
      },
      handle: ({ who, params }) => data.current((who as Identity).account, String(params.meter)),
    },
    {
      method: "GET",
      path: "/api/v1/meters/:meter/series",
      operationId: "series",
      summary: "Consumption (or mean value) per 15 minutes, hour, day or month, for charts",
      description:
        "For a cumulative register (OBIS D = 8) each bucket holds its increase; for other " +
        `registers the mean. At most ${MAX_BUCKETS} buckets and ${MAX_RANGE_DAYS} days.`,
      tags: ["consumer"],
      access: "consumer",
      params: MeterParams,
      query: SeriesQuery,
      responses: { 200: { description: "The series", schema: SeriesSchema }, ...meterResponses },
      handle: ({ who, params, query }) => {
        const q = query as { from: string; to: string; obis?: string; step: Step };
        checkRange(q, MAX_RANGE_DAYS);
        if (bucketEstimate(Date.parse(q.from), Date.parse(q.to), q.step) > MAX_BUCKETS) {
          throw new ApiError(
            400,
            "too-many-points",
            `the range has more than ${MAX_BUCKETS} buckets of ${q.step}; use a coarser step`,
          );
        }
        return data.series((who as Identity).account, String(params.meter), q);
      },
    },
    {
      method: "GET",
      path: "/api/v1/meters/:meter/tariff-registers",
      operationId: "tariffRegisters",
      summary: "The billing registers of the meter's tariff use case",
      tags: ["consumer"],
      access: "consumer",
      params: MeterParams,
      responses: {
        200: { description: "Tariff registers", schema: TariffSchema },
        ...meterResponses,
      },
      handle: ({ who, params }) => data.tariff((who as Identity).account, String(params.meter)),
    },
    {
      method: "GET",
      path: "/api/v1/meters/:meter/export",
      operationId: "exportAr2418",
      summary: "The meter's readings as a VDE AR 2418-6 document (for TRuDI)",
      description:
        "One UsagePoint with a MeterReading per register and the consumer log's entries about " +
        `the meter in the range. At most ${MAX_RANGE_DAYS} days.`,
      tags: ["consumer"],
      access: "consumer",
      params: MeterParams,
      query: ExportQuery,
      responses: {
        200: { description: "AR 2418-6 XML", contentType: "application/xml" },
        413: { description: "Too many readings in the range", schema: ErrorSchema },
        ...meterResponses,
      },
      handle: async ({ who, params, query }) => {
        const q = query as { from: string; to: string };
        checkRange(q, MAX_RANGE_DAYS);
        const meter = String(params.meter);
        const { xml, skipped } = await data.exportXml((who as Identity).account, meter, q, {
          gatewayId,
          version: o.version,
        });
        if (skipped.length) o.log.warn("export left out registers without unit code", { skipped });
        // The file is named by the German calendar days it covers (the end is exclusive).
        const day = (s: string) => formatDateTime(Date.parse(s)).slice(0, 10);
        return new Response(xml, {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "application/xml; charset=utf-8",
            "content-disposition": `attachment; filename="${meter}_${day(q.from)}_${day(q.to)}.xml"`,
            "cache-control": "no-store",
          },
        });
      },
    },
    {
      method: "GET",
      path: "/api/v1/log",
      operationId: "consumerLog",
      summary: "The consumer log: what the gateway did with the consumer's data, paged",
      tags: ["consumer"],
      access: "consumer",
      query: LogQuery,
      responses: { 200: { description: "Log entries", schema: LogSchema }, ...meterResponses },
      handle: ({ who, query }) => {
        checkRange(query as { from?: string; to?: string });
        return data.log((who as Identity).account, query as object);
      },
    },
    {
      method: "GET",
      path: "/api/v1/calibration-log",
      operationId: "calibrationLog",
      summary:
        "The calibration log's entries about the consumer's meters: tariffs, billing periods, registers that ran backwards",
      tags: ["consumer"],
      access: "consumer",
      query: LogQuery,
      responses: {
        200: { description: "Calibration-log entries", schema: CalibrationLogSchema },
        ...meterResponses,
      },
      handle: ({ who, query }) => {
        checkRange(query as { from?: string; to?: string });
        return data.calibration((who as Identity).account, query as object);
      },
    },
  ];

  const openapi = buildOpenApi(routes, o.version);

  async function identify(request: Request, peer: Peer): Promise<Identity | Response | undefined> {
    if (o.certificates) {
      if (o.certificates.isForged?.(request, peer)) {
        o.log.warn("client certificate header from outside the TCM ignored", {
          client: peer.address,
        });
      }
      const subject = o.certificates.subjectOf(request, peer);
      if (subject !== undefined) {
        const r = auth.certificate(subject);
        if (!r.ok) return problem(401, "unauthorised", r.reason);
        return { account: r.account, role: r.role, via: r.via };
      }
    }
    const token = cookieValue(request.headers.get("cookie"), COOKIE);
    const s = sessions.get(token);
    if (s && token)
      return { account: s.account, role: s.role, via: s.via, session: { token, session: s } };
    const b = await auth.basic(request.headers.get("authorization"), peer.address);
    if (b?.ok) return { account: b.account, role: b.role, via: b.via };
    if (b && !b.ok) {
      const retry = b.retryAfterSeconds;
      return b.status === 401
        ? problem(401, "unauthorised", b.reason, {
            "www-authenticate": 'Basic realm="smgw", charset="UTF-8"',
          })
        : problem(
            b.status,
            b.status === 429 ? "slow-down" : "busy",
            b.reason,
            retry === undefined ? {} : { "retry-after": String(retry) },
            retry,
          );
    }
    return token === undefined
      ? undefined
      : problem(401, "session-ended", "the session has ended; sign in again", {
          "set-cookie": `${COOKIE}=${cookieSuffix}; Max-Age=0`,
        });
  }

  async function run(spec: RouteSpec, request: Request, rawParams: Record<string, string>) {
    requests[spec.operationId] = (requests[spec.operationId] ?? 0) + 1;
    const peer = peers.get(request) ?? HAN_PEER;
    try {
      if (allowedHosts && !allowedHosts.has(request.headers.get("host") ?? "")) {
        return problem(421, "misdirected", "this gateway does not answer for that host name");
      }
      const url = new URL(request.url);
      if (url.pathname.length > 512 || url.search.length > 2048) {
        return problem(414, "too-long", "the request's path or query is too long");
      }
      const params = parseParameters<Record<string, unknown>>(
        spec.params ?? NO_PARAMETERS,
        Object.entries(rawParams),
        "path",
      );
      if (!params.ok) {
        return spec.access === "public"
          ? problem(404, "not-found", params.message)
          : problem(400, "bad-path", params.message);
      }
      const query = parseParameters<Record<string, unknown>>(
        spec.query ?? NO_PARAMETERS,
        url.searchParams.entries(),
        "query",
      );
      // Assets carry a cache-busting version; the page's query string is the browser's business.
      if (!query.ok && spec.access !== "public") return problem(400, "bad-query", query.message);

      let who: Identity | undefined;
      if (spec.access !== "public") {
        const id = await identify(request, peer);
        if (id instanceof Response) return id;
        if (!id) return problem(401, "unauthorised", "sign in first (session cookie or Basic)");
        who = id;
        if (spec.access === "consumer" && id.role !== "consumer") {
          return problem(403, "forbidden", "the service technician sees diagnostics only");
        }
        if (spec.access === "technician" && id.role !== "service-technician") {
          return problem(403, "forbidden", "diagnostics are for the service technician");
        }
      }

      let body: unknown;
      if (spec.method === "POST") {
        if (!sameOrigin(request)) {
          return problem(403, "cross-origin", "requests from other sites are refused");
        }
        if (spec.body) {
          const parsed = await readJson(request);
          if (parsed instanceof Response) return parsed;
          const checked = checkBody(spec.body, parsed);
          if (!checked.ok) return problem(400, "bad-body", checked.message);
          body = checked.value;
        }
      }
      const result = await spec.handle({
        request,
        peer,
        params: params.value,
        query: query.ok ? query.value : {},
        body,
        who,
      });
      return result instanceof Response ? withSecurityHeaders(result) : json(200, result);
    } catch (e) {
      if (e instanceof ApiError) {
        return problem(e.status, e.code, e.message, e.headers, e.retryAfterSeconds);
      }
      if (e instanceof IpcError && e.code === "denied") {
        // Same answer as for a meter that does not exist: nothing about other consumers leaks.
        return problem(404, "not-found", "no such meter");
      }
      if (e instanceof IpcError && e.code === "busy") {
        return problem(503, "busy", "the gateway is busy; try again", { "retry-after": "1" });
      }
      if (e instanceof IpcError) {
        o.log.warn("request failed", { route: spec.operationId, error: e.message });
        return problem(503, "unavailable", "the gateway could not answer; try again");
      }
      o.log.error("request crashed", { route: spec.operationId, error: String(e) });
      return problem(500, "internal", "internal error");
    }
  }

  const app = new Elysia();
  app.onError(({ code, request }) => {
    if (code === "NOT_FOUND") {
      const path = new URL(request.url).pathname;
      const allowed = routes.filter((r) => matches(r.path, path)).map((r) => r.method);
      if (allowed.length) {
        return problem(405, "method-not-allowed", `use ${allowed.join(", ")}`, {
          allow: allowed.join(", "),
        });
      }
      return problem(404, "not-found", "no such resource");
    }
    if (code === "PARSE") return problem(400, "bad-body", "the body could not be read");
    return problem(500, "internal", "internal error");
  });
  for (const spec of routes) {
    const handler = (ctx: { request: Request; params: Record<string, string> }) =>
      run(spec, ctx.request, ctx.params ?? {});
    if (spec.method === "GET") app.get(spec.path, handler);
    else app.post(spec.path, handler, { parse: "none" });
  }

  return {
    app,
    routes,
    openapi,
    auth,
    sessions,
    async fetch(request, peer = HAN_PEER) {
      const req = routable(request);
      peers.set(req, peer);
      return app.handle(req);
    },
    stats: () => ({ requests: { ...requests }, sessions: sessions.size, logins: auth.stats() }),
  };
}

const NO_PARAMETERS: TObject = NoQuery;

/** Elysia finds the path at the first "/" from index 11; very short host names defeat that. */
function routable(request: Request): Request {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0 || start >= 11) return request;
  return new Request(`http://display.invalid${url.slice(start)}`, request);
}

function matches(pattern: string, path: string): boolean {
  const re = new RegExp(
    `^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[a-z]+/g, "[^/]+")}/?$`,
  );
  return re.test(path);
}

async function readJson(request: Request): Promise<unknown | Response> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return problem(415, "unsupported-media-type", "send the body as application/json");
  }
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_BODY) return problem(413, "too-large", `the body may hold ${MAX_BODY} bytes`);
  let text: string;
  try {
    const buf = await request.arrayBuffer();
    if (buf.byteLength > MAX_BODY) {
      return problem(413, "too-large", `the body may hold ${MAX_BODY} bytes`);
    }
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
  } catch {
    return problem(400, "bad-body", "the body is not UTF-8 text");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return problem(400, "bad-body", "the body is not JSON");
  }
}
