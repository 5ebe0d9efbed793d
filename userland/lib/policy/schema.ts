// The policy file's schema. Names follow the protection profile: units are the gateway's
// processes (domains and kernel services), endpoints are the parties outside it.
import { type Static, Type as T } from "@sinclair/typebox";

export const UNIT_NAMES = [
  "meter",
  "admin",
  "cls",
  "display",
  "ifm",
  "tcm",
  "crypto",
  "storage",
  "net",
  "sysmgmt",
] as const;
export type UnitName = (typeof UNIT_NAMES)[number];

export const NETWORK_NAMES = ["WAN", "LMN", "HAN"] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];

export const ENDPOINT_ROLES = [
  "gwa",
  "emt",
  "meter",
  "cls",
  "consumer",
  "service-technician",
] as const;
export type EndpointRole = (typeof ENDPOINT_ROLES)[number];

const Name = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" });
const Description = T.String({ minLength: 1, maxLength: 400 });
const Ipv4 = T.String({ pattern: "^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})$" });
const Ipv4Cidr = T.String({
  pattern: "^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})/(\\d{1,2})$",
});
const Strict = { additionalProperties: false } as const;

export const NetworkSchema = T.Object(
  {
    interface: T.String({ pattern: "^[a-z][a-z0-9]{1,14}$" }),
    address: Ipv4Cidr,
    description: Description,
  },
  Strict,
);

export const DataTypeSchema = T.Object({ personal: T.Boolean(), description: Description }, Strict);

export const UnitSchema = T.Object(
  {
    kind: T.Union([T.Literal("domain"), T.Literal("service")]),
    user: T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" }),
    description: Description,
  },
  Strict,
);

export const MessageSchema = T.Object({ carries: Name, description: Description }, Strict);

export const CredentialSchema = T.Union([
  T.Object(
    {
      kind: T.Literal("tls-certificate"),
      subject: T.String({ minLength: 3, maxLength: 200 }),
      issuer: Name,
    },
    Strict,
  ),
  T.Object(
    { kind: T.Literal("meter-id"), id: T.String({ pattern: "^[0-9A-Za-z]{4,32}$" }) },
    Strict,
  ),
  T.Object({ kind: T.Literal("password") }, Strict),
]);

export const EndpointSchema = T.Object(
  {
    role: T.Union(ENDPOINT_ROLES.map((r) => T.Literal(r))),
    network: T.Union(NETWORK_NAMES.map((n) => T.Literal(n))),
    addresses: T.Array(Ipv4, { minItems: 1, maxItems: 16 }),
    credential: CredentialSchema,
    meters: T.Optional(T.Array(Name, { maxItems: 64 })),
    authorisedEndpoints: T.Optional(T.Array(Name, { maxItems: 16 })),
  },
  Strict,
);

const Ref = T.String({ pattern: "^((role|endpoint):)?[a-z][a-z0-9-]{0,31}$" });
const RefList = T.Union([Ref, T.Array(Ref, { minItems: 1, maxItems: 16 })]);

export const TransportSchema = T.Object(
  {
    protocol: T.Union([T.Literal("tcp"), T.Literal("udp")]),
    port: T.Integer({ minimum: 1, maximum: 65535 }),
    tls: T.Optional(T.Boolean()),
  },
  Strict,
);

export const FlowSchema = T.Object(
  {
    id: Name,
    from: RefList,
    to: RefList,
    network: T.Optional(T.Union(NETWORK_NAMES.map((n) => T.Literal(n)))),
    transport: T.Optional(TransportSchema),
    messages: T.Optional(T.Array(T.String({ pattern: "^[a-z]+\\.[a-z-]+$" }), { minItems: 1 })),
    carries: T.Array(Name, { minItems: 1 }),
    scope: T.Optional(T.Literal("consumer-own-meters")),
    rule: T.String({ pattern: "^(PP-[A-Z]+(-\\d+)?|GW-INT)$" }),
    why: Description,
  },
  Strict,
);

export const PolicyDocumentSchema = T.Object(
  {
    version: T.Literal(1),
    networks: T.Object(
      { WAN: NetworkSchema, LMN: NetworkSchema, HAN: NetworkSchema },
      { additionalProperties: false },
    ),
    dataTypes: T.Record(Name, DataTypeSchema),
    units: T.Object(
      Object.fromEntries(UNIT_NAMES.map((u) => [u, UnitSchema])) as Record<
        UnitName,
        typeof UnitSchema
      >,
      Strict,
    ),
    messages: T.Record(T.String({ pattern: "^[a-z]+\\.[a-z-]+$" }), MessageSchema),
    endpoints: T.Record(Name, EndpointSchema),
    flows: T.Array(FlowSchema, { minItems: 1, maxItems: 1000 }),
  },
  Strict,
);

export type PolicyDocument = Static<typeof PolicyDocumentSchema>;
export type FlowDocument = Static<typeof FlowSchema>;
export type EndpointDocument = Static<typeof EndpointSchema>;
