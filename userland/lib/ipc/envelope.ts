// The IPC envelope. A unit sends requests to the IFM naming the destination unit; the IFM
// delivers them with the source it knows from the socket (never from the message).
import { type Static, Type as T } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

const Id = T.String({ minLength: 1, maxLength: 64 });
const UnitRef = T.String({ pattern: "^[a-z]{2,16}$" });
const MessageType = T.String({ pattern: "^[a-z]+\\.[a-z-]+$", maxLength: 64 });
const ErrorBody = T.Object(
  { code: T.String({ maxLength: 64 }), message: T.String({ maxLength: 2000 }) },
  { additionalProperties: false },
);

export const RequestSchema = T.Object(
  {
    kind: T.Literal("request"),
    id: Id,
    to: UnitRef,
    type: MessageType,
    onBehalfOf: T.Optional(T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" })),
    body: T.Unknown(),
  },
  { additionalProperties: false },
);

export const ResponseSchema = T.Union([
  T.Object(
    { kind: T.Literal("response"), id: Id, ok: T.Literal(true), body: T.Unknown() },
    { additionalProperties: false },
  ),
  T.Object(
    { kind: T.Literal("response"), id: Id, ok: T.Literal(false), error: ErrorBody },
    { additionalProperties: false },
  ),
]);

export const ScopeSchema = T.Object(
  { consumer: T.String(), meters: T.Array(T.String()) },
  { additionalProperties: false },
);

export const DeliverSchema = T.Object(
  {
    kind: T.Literal("deliver"),
    id: Id,
    from: UnitRef,
    type: MessageType,
    scope: T.Optional(ScopeSchema),
    body: T.Unknown(),
  },
  { additionalProperties: false },
);

export type Request = Static<typeof RequestSchema>;
export type Response = Static<typeof ResponseSchema>;
export type Deliver = Static<typeof DeliverSchema>;
export type Scope = Static<typeof ScopeSchema>;
export type ErrorCode =
  | "malformed"
  | "oversized"
  | "unknown-type"
  | "invalid-body"
  | "denied"
  | "unavailable"
  | "timeout"
  | "busy"
  | "handler-failed"
  | "invalid-response";

export const checkRequest = TypeCompiler.Compile(RequestSchema);
export const checkResponse = TypeCompiler.Compile(ResponseSchema);
export const checkDeliver = TypeCompiler.Compile(DeliverSchema);

export function errorResponse(id: string, code: ErrorCode, message: string): Response {
  return { kind: "response", id, ok: false, error: { code, message: message.slice(0, 2000) } };
}

/** The first schema error of a value, as one line. */
export function firstError(
  check: { Errors: (v: unknown) => Iterable<{ path: string; message: string }> },
  value: unknown,
): string {
  for (const e of check.Errors(value)) return `${e.path || "/"}: ${e.message}`;
  return "invalid";
}
