// The OpenAPI 3.1 document of the display's API, made from the route declarations: every
// route's parameters, body and answers come from the same TypeBox schemas that check them.
import type { TObject, TSchema } from "@sinclair/typebox";
import type { RouteSpec } from "./app.ts";
import { ErrorSchema } from "./schemas.ts";

export type OpenApiDocument = {
  openapi: "3.1.0";
  info: Record<string, unknown>;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: Record<string, unknown>;
  [key: string]: unknown;
};

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Record<string, string[]>[];
  parameters?: Record<string, unknown>[];
  requestBody?: Record<string, unknown>;
  responses: Record<string, Record<string, unknown>>;
}

/** A TypeBox schema as plain JSON Schema (TypeBox's symbols dropped). */
function plain(schema: TSchema): Record<string, unknown> {
  if (schema === ErrorSchema) return { $ref: "#/components/schemas/Error" };
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

function parameters(schema: TObject | undefined, where: "path" | "query") {
  if (!schema) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties as Record<string, TSchema>).map(([name, prop]) => {
    const { description, ...rest } = plain(prop);
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: rest,
    };
  });
}

const ERROR = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

export function buildOpenApi(routes: readonly RouteSpec[], version: string): OpenApiDocument {
  const paths: OpenApiDocument["paths"] = {};
  for (const r of routes) {
    const path = r.path.replace(/:([a-z]+)/g, "{$1}");
    const responses: OpenApiOperation["responses"] = {};
    for (const [status, spec] of Object.entries(r.responses)) {
      const type = spec.contentType ?? "application/json";
      responses[status] =
        spec.schema || type === "application/json"
          ? {
              description: spec.description,
              content: { [type]: { schema: spec.schema ? plain(spec.schema) : {} } },
            }
          : Number(status) === 304
            ? { description: spec.description }
            : {
                description: spec.description,
                content: { [type]: { schema: { type: "string" } } },
              };
    }
    const add = (status: number, description: string) => {
      responses[String(status)] ??= ERROR(description);
    };
    if (r.params || r.query) add(400, "A parameter does not fit; the message names it");
    if (r.access !== "public") {
      add(401, "Not signed in, or wrong Basic credentials");
      add(429, "Too many failed logins (Basic); see retryAfterSeconds");
      add(503, "The gateway could not answer");
    }
    if (r.access === "consumer") add(403, "The service technician sees no consumer data");
    if (r.access === "technician") add(403, "For the service technician only");
    if (r.method === "POST") add(403, "Cross-origin request");
    add(500, "Internal error");
    const op: OpenApiOperation = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: r.tags,
      ...(r.access === "public" ? { security: [] } : {}),
      parameters: [...parameters(r.params, "path"), ...parameters(r.query, "query")],
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: plain(r.body) } },
            },
          }
        : {}),
      responses,
    };
    paths[path] ??= {};
    (paths[path] as Record<string, OpenApiOperation>)[r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Smart Meter Gateway HAN interface",
      version,
      description:
        "The open interface of the gateway's display on the home area network. Consumers " +
        "read their own meters' data and log; the service technician reads diagnostics. " +
        "Browsers sign in with POST /api/v1/login (session cookie); scripts may use Basic " +
        "authentication on every request. Errors are JSON: {error: {code, message}}.",
    },
    servers: [{ url: "/" }],
    security: [{ session: [] }, { basic: [] }],
    tags: [
      { name: "session", description: "Signing in and out" },
      { name: "consumer", description: "A consumer's own data" },
      { name: "gateway", description: "Gateway state and diagnostics" },
      { name: "web", description: "The web interface" },
      { name: "meta", description: "This description" },
    ],
    paths,
    components: {
      schemas: { Error: plain({ ...ErrorSchema } as TSchema) },
      securitySchemes: {
        session: { type: "apiKey", in: "cookie", name: "smgw_session" },
        basic: { type: "http", scheme: "basic" },
      },
    },
  };
}
