// TypeBox schemas of the HTTP API: parameters, bodies and answers. They validate requests,
// describe the answers (tests check real answers against them) and make the OpenAPI document.
// `x-error` is the message a client gets when a parameter does not fit.
import { Type as T, type TSchema } from "@sinclair/typebox";
import {
  CalibrationLogEntrySchema,
  CONTRACTS,
  ConsumerLogEntrySchema,
  TariffRegisterSchema,
} from "@smgw/ipc";

const Strict = { additionalProperties: false } as const;

export const ISO_TIME =
  "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?(Z|[+-]\\d{2}:\\d{2})$";
const OBIS = "^\\d{1,3}-\\d{1,3}:\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\*\\d{1,3}$";
const NAME = "^[a-z][a-z0-9-]{0,31}$";

const time = (name: string, what: string) =>
  T.String({
    pattern: ISO_TIME,
    maxLength: 40,
    description: what,
    examples: ["2026-01-01T00:00:00+01:00"],
    "x-error": `${name} must be an ISO 8601 time with offset, e.g. 2026-01-01T00:00:00Z`,
  });
const obis = T.String({
  pattern: OBIS,
  maxLength: 24,
  description: "OBIS code of the register",
  examples: ["1-0:1.8.0*255"],
  "x-error": "obis must look like 1-0:1.8.0*255",
});
const limit = T.Integer({
  minimum: 1,
  maximum: 1000,
  description: "Page size (default 100)",
  "x-error": "limit must be an integer from 1 to 1000",
});
const after = T.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: "Paging cursor: `next` of the previous page",
  "x-error": "after must be a non-negative integer (the previous page's next)",
});
const meterName = T.String({
  pattern: NAME,
  maxLength: 32,
  description: "Name of the meter as the policy names it",
  examples: ["meter-1"],
  "x-error": "meter must be a meter name like meter-1",
});

export const MeterParams = T.Object({ meter: meterName }, Strict);
export const AssetParams = T.Object(
  {
    file: T.String({
      pattern: "^[a-z0-9.-]{1,40}$",
      description: "Asset file name",
      "x-error": "no such asset",
    }),
  },
  Strict,
);

export const ReadingsQuery = T.Object(
  {
    from: T.Optional(time("from", "Start of the range, inclusive")),
    to: T.Optional(time("to", "End of the range, exclusive")),
    obis: T.Optional(obis),
    limit: T.Optional(limit),
    after: T.Optional(after),
  },
  Strict,
);

export const STEPS = ["15m", "1h", "1d", "1mo"] as const;
export type Step = (typeof STEPS)[number];

export const SeriesQuery = T.Object(
  {
    from: time("from", "Start of the range, inclusive"),
    to: time("to", "End of the range, exclusive"),
    obis: T.Optional(obis),
    step: T.Union(
      STEPS.map((s) => T.Literal(s)),
      {
        description: "Bucket size; days and months follow German legal time (Europe/Berlin)",
        "x-error": "step must be one of 15m, 1h, 1d, 1mo",
      },
    ),
  },
  Strict,
);

export const ExportQuery = T.Object(
  {
    from: time("from", "Start of the exported range, inclusive"),
    to: time("to", "End of the exported range, exclusive"),
  },
  Strict,
);

export const LogQuery = T.Object(
  {
    meter: T.Optional(meterName),
    from: T.Optional(time("from", "Start of the range, inclusive")),
    to: T.Optional(time("to", "End of the range, exclusive")),
    limit: T.Optional(limit),
    after: T.Optional(after),
  },
  Strict,
);

export const NoQuery = T.Object({}, Strict);

export const LoginBody = T.Object(
  {
    user: T.String({ minLength: 1, maxLength: 64, "x-error": "user must be a user name" }),
    password: T.String({
      minLength: 1,
      maxLength: 1024,
      "x-error": "password must be 1 to 1024 characters",
    }),
  },
  Strict,
);

export const ErrorSchema = T.Object(
  {
    error: T.Object(
      {
        code: T.String({ description: "Stable machine-readable code, e.g. bad-query" }),
        message: T.String({ description: "What was wrong, in English" }),
        retryAfterSeconds: T.Optional(T.Integer({ minimum: 1 })),
      },
      Strict,
    ),
  },
  Strict,
);

const Role = T.Union([T.Literal("consumer"), T.Literal("service-technician")]);

export const SessionSchema = T.Object(
  {
    account: T.String(),
    role: Role,
    via: T.Union([T.Literal("password"), T.Literal("certificate")]),
    /** When the session ends unless used again (absent for certificate and Basic requests). */
    expiresAt: T.Optional(T.String()),
  },
  Strict,
);

export const MetersSchema = T.Object(
  {
    meters: T.Array(
      T.Object(
        {
          meter: T.String(),
          /** The meter's identity (server id) as printed on it. */
          meterId: T.Optional(T.String()),
          readings: T.Integer({ minimum: 0 }),
          last: T.Optional(T.String()),
        },
        Strict,
      ),
    ),
  },
  Strict,
);

export const ReadingsSchema = CONTRACTS["storage.query-readings"].response;

export const CurrentSchema = T.Object(
  {
    meter: T.String(),
    values: T.Array(
      T.Object(
        { obis: T.String(), value: T.Number(), unit: T.String(), capturedAt: T.String() },
        Strict,
      ),
    ),
  },
  Strict,
);

export const SeriesSchema = T.Object(
  {
    meter: T.String(),
    obis: T.String(),
    unit: T.Optional(T.String()),
    /** consumption: increase of a cumulative register per bucket; average: mean value. */
    kind: T.Union([T.Literal("consumption"), T.Literal("average")]),
    step: T.String(),
    from: T.String(),
    to: T.String(),
    points: T.Array(
      T.Object({ start: T.String(), value: T.Union([T.Number(), T.Null()]) }, Strict),
      { maxItems: 3000 },
    ),
    /** Sum over the buckets (consumption only). */
    total: T.Optional(T.Number()),
    /** True if the range held more readings than the display reads for one chart. */
    truncated: T.Boolean(),
  },
  Strict,
);

export const TariffSchema = T.Object(
  {
    meter: T.String(),
    tariff: T.Optional(
      T.Object(
        {
          useCase: T.Integer(),
          id: T.String(),
          name: T.Optional(T.String()),
          billingPeriodStart: T.Optional(T.String()),
        },
        Strict,
      ),
    ),
    registers: T.Array(TariffRegisterSchema),
  },
  Strict,
);

export const LogSchema = T.Object(
  { entries: T.Array(ConsumerLogEntrySchema), next: T.Optional(T.Integer({ minimum: 0 })) },
  Strict,
);

export const CalibrationLogSchema = T.Object(
  { entries: T.Array(CalibrationLogEntrySchema), next: T.Optional(T.Integer({ minimum: 0 })) },
  Strict,
);

const UnitState = T.Object(
  {
    state: T.String(),
    uptimeSeconds: T.Optional(T.Number()),
    error: T.Optional(T.String()),
  },
  Strict,
);

export const StatusSchema = T.Object(
  {
    state: T.Union([T.Literal("ok"), T.Literal("degraded")]),
    version: T.String(),
    uptimeSeconds: T.Number(),
    units: T.Record(T.String(), UnitState),
  },
  Strict,
);

export const DiagnosticsSchema = T.Object(
  {
    gateway: StatusSchema,
    display: T.Object(
      {
        version: T.String(),
        uptimeSeconds: T.Number(),
        policyDigest: T.String(),
        accounts: T.Integer(),
        sessions: T.Integer(),
        requests: T.Record(T.String(), T.Integer()),
        logins: T.Record(T.String(), T.Integer()),
      },
      Strict,
    ),
  },
  Strict,
);

export const OkSchema = T.Object({ ok: T.Literal(true) }, Strict);

export type AnySchema = TSchema;
