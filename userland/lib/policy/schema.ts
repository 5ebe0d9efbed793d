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

export const WMBUS_MEDIA = ["electricity", "water", "heat", "gas"] as const;
export type WmbusMedium = (typeof WMBUS_MEDIA)[number];

/** The tariff use cases (TAF) the meter domain runs. */
export const USE_CASES = [1, 2, 6, 7] as const;

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
  /** A wireless M-Bus meter: its link-layer address and the OMS security mode it must use. */
  T.Object(
    {
      kind: T.Literal("wmbus-id"),
      /** The three-letter manufacturer code (FLAG id). */
      manufacturer: T.String({ pattern: "^[A-Z]{3}$" }),
      /** The identification number as printed on the meter (8 BCD digits). */
      id: T.String({ pattern: "^[0-9]{8}$" }),
      medium: T.Union(WMBUS_MEDIA.map((m) => T.Literal(m))),
      /** OMS security mode: 5 (AES-128-CBC, static key) or 7 (derived keys and CMAC). */
      security: T.Union([T.Literal(5), T.Literal(7)]),
    },
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

/**
 * A tariff use case configured for meters: what the meter domain computes from their readings
 * and which EMT receives it. TAF1 and TAF2 bill with a supplier's tariff file (VDE AR 2418-6
 * IF_Lieferant_TRuDI, relative to the policy file), which names the switching program.
 */
export const ProfileSchema = T.Object(
  {
    useCase: T.Union(USE_CASES.map((u) => T.Literal(u))),
    meters: T.Array(Name, { minItems: 1, maxItems: 64 }),
    /** The EMT endpoint the profile's data is delivered to. */
    recipient: Name,
    /** Measuring period in seconds (TAF7, TAF2): 900 for the quarter hours. */
    periodSeconds: T.Optional(T.Integer({ minimum: 1, maximum: 86400 })),
    /** How often collected data is delivered, in seconds (TAF7). */
    deliverEverySeconds: T.Optional(T.Integer({ minimum: 1, maximum: 31 * 86400 })),
    /** Supplier tariff file (TAF1, TAF2), relative to the policy file. */
    tariff: T.Optional(T.String({ pattern: "^[A-Za-z0-9_./-]{1,200}$" })),
    /** Replaces meter and gateway identities in everything this profile delivers. */
    pseudonym: T.Optional(T.String({ pattern: "^[A-Za-z0-9-]{4,28}$" })),
    description: Description,
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
    profiles: T.Optional(T.Record(Name, ProfileSchema)),
  },
  Strict,
);

export type PolicyDocument = Static<typeof PolicyDocumentSchema>;
export type FlowDocument = Static<typeof FlowSchema>;
export type EndpointDocument = Static<typeof EndpointSchema>;
export type ProfileDocument = Static<typeof ProfileSchema>;
