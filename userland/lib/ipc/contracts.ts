// Message contracts: the body schema of each message type and of its answer. The IFM
// validates both directions, so a unit can trust the shape of what reaches it. Every message
// type of the policy has a contract here (a test checks both lists agree).
import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";

const Strict = { additionalProperties: false } as const;
const EndpointName = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" });
const IsoTime = T.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?(Z|[+-]\\d{2}:\\d{2})$",
});
/** OBIS code as "A-B:C.D.E*F", e.g. "1-0:1.8.0*255". */
export const ObisSchema = T.String({
  pattern: "^\\d{1,3}-\\d{1,3}:\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\*\\d{1,3}$",
});

export const ReadingSchema = T.Object(
  {
    obis: ObisSchema,
    value: T.Number(),
    unit: T.String({ maxLength: 16 }),
    /** Gateway time at which the reading was received (the gateway, not the meter, stamps time). */
    capturedAt: IsoTime,
    /** The meter's status word, kept raw. */
    status: T.Integer({ minimum: 0, maximum: 0xffffffff }),
  },
  Strict,
);
export type Reading = Static<typeof ReadingSchema>;

export const StoredReadingSchema = T.Composite([ReadingSchema, T.Object({ seq: T.Integer() })]);

/** One billing register of a tariff use case (TAF), e.g. the register of tariff stage 1. */
export const TariffRegisterSchema = T.Object(
  {
    obis: ObisSchema,
    /** Tariff stage of the analysis profile; 0 for a total over all stages. */
    tariffStage: T.Integer({ minimum: 0, maximum: 65535 }),
    value: T.Number(),
    unit: T.String({ maxLength: 16 }),
    /** Gateway time of the register's last update. */
    capturedAt: IsoTime,
    description: T.Optional(T.String({ maxLength: 256 })),
  },
  Strict,
);
export type TariffRegister = Static<typeof TariffRegisterSchema>;

/** An entry of a consumer's log: what the gateway did with that consumer's data, and when. */
export const ConsumerLogEntrySchema = T.Object(
  {
    seq: T.Integer({ minimum: 1 }),
    /** Whose log the entry is in (the display checks it is the consumer it asked for). */
    consumer: EndpointName,
    at: IsoTime,
    level: T.Union([
      T.Literal("info"),
      T.Literal("warning"),
      T.Literal("error"),
      T.Literal("fatal"),
    ]),
    outcome: T.Union([T.Literal("success"), T.Literal("failure")]),
    /** The meter the entry is about, if it is about one. */
    meter: T.Optional(EndpointName),
    text: T.String({ maxLength: 2000 }),
  },
  Strict,
);
export type ConsumerLogEntry = Static<typeof ConsumerLogEntrySchema>;

/** Flat, bounded detail of a log entry. */
const LogDetail = T.Record(
  T.String({ maxLength: 64 }),
  T.Union([T.String({ maxLength: 512 }), T.Number(), T.Boolean()]),
  { maxProperties: 32 },
);

/**
 * A metrologically relevant event for the calibration log: a register that ran backwards, the
 * tariff a profile bills by, a closed billing period with its registers. Entries about a meter
 * name it; its consumer may read them.
 */
export const CalibrationEventSchema = T.Object(
  {
    event: T.String({ pattern: "^[a-z][a-z0-9.-]{1,63}$" }),
    meter: T.Optional(EndpointName),
    detail: LogDetail,
  },
  Strict,
);
export type CalibrationEvent = Static<typeof CalibrationEventSchema>;

/** An entry of the calibration log as it is read: the event with its place and gateway time. */
export const CalibrationLogEntrySchema = T.Object(
  { seq: T.Integer({ minimum: 1 }), at: IsoTime, ...CalibrationEventSchema.properties },
  Strict,
);
export type CalibrationLogEntry = Static<typeof CalibrationLogEntrySchema>;

/** A page of a log read on behalf of a consumer, by time range, optionally about one meter. */
const LogPageRequest = T.Object(
  {
    /** Only entries about this meter (the IFM checks it is the consumer's). */
    meter: T.Optional(EndpointName),
    from: T.Optional(IsoTime),
    to: T.Optional(IsoTime),
    limit: T.Optional(T.Integer({ minimum: 1, maximum: 1000 })),
    /** Paging cursor: the `seq` of the last entry of the previous page. */
    after: T.Optional(T.Integer({ minimum: 0 })),
  },
  Strict,
);
/** The answer: the entries, and where the next page starts if there is more. */
const logPage = <E extends TSchema>(entry: E) =>
  T.Object(
    {
      entries: T.Array(entry, { maxItems: 1000 }),
      next: T.Optional(T.Integer({ minimum: 0 })),
    },
    Strict,
  );

/** Byte strings travel as lower-case hex. */
const HexBytes = (min: number, max: number) =>
  T.String({ pattern: "^([0-9a-f]{2})+$", minLength: min, maxLength: max });
/** A secure-storage domain; each has its own storage key in the security module. */
const StoreDomain = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" });
/** A monotonic counter of the security module: "<domain>/<store>". */
const CounterName = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}/[a-z][a-z0-9-]{0,31}$" });
/** 64-bit counter values as decimal strings (JSON numbers stop at 2^53). */
const Decimal = T.String({ pattern: "^(0|[1-9][0-9]{0,19})$" });

/** A channel of the TCM: opaque, random, good only for the unit it was opened for. */
const ChannelId = T.String({ pattern: "^ch-[0-9a-f]{32}$" });
const FlowId = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" });
/** Channel payload, base64: at most 96 KiB of bytes, so a message stays far below a frame. */
const ChannelBytes = T.String({ pattern: "^[A-Za-z0-9+/]*={0,2}$", maxLength: 131072 });
/** Who is at the other end of a channel, as the TCM verified it. */
const ChannelPeerSchema = T.Object(
  {
    endpoint: EndpointName,
    /** The peer certificate's subject DN (RFC 2253). */
    subject: T.String({ maxLength: 512 }),
    protocol: T.String({ maxLength: 16 }),
    cipher: T.String({ maxLength: 64 }),
  },
  Strict,
);

/** A tariff use case's name in the policy. */
const ProfileName = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" });
/** Payload of a delivery, base64: at most 96 KiB of bytes. */
const DeliveryBytes = T.String({
  pattern: "^[A-Za-z0-9+/]*={0,2}$",
  minLength: 4,
  maxLength: 131072,
});

/** A tariff use case as its registers name it. */
const TariffInfoSchema = T.Object(
  {
    useCase: T.Integer({ minimum: 1, maximum: 14 }),
    id: T.String({ minLength: 1, maxLength: 64 }),
    name: T.Optional(T.String({ maxLength: 256 })),
    billingPeriodStart: T.Optional(IsoTime),
  },
  Strict,
);

/** The registers one profile computed for one meter, as the display shows them. */
export const ProfileRegistersSchema = T.Object(
  {
    meter: EndpointName,
    tariff: TariffInfoSchema,
    registers: T.Array(TariffRegisterSchema, { maxItems: 256 }),
  },
  Strict,
);
export type ProfileRegisters = Static<typeof ProfileRegistersSchema>;

/** Data a profile hands over for delivery to an EMT: signed, kept until the EMT confirms. */
export const DeliverySchema = T.Object(
  {
    recipient: EndpointName,
    /** MIME type of the payload, e.g. "application/pkcs7-mime". */
    contentType: T.String({ pattern: "^[a-z0-9.+/-]{3,100}$" }),
    payload: DeliveryBytes,
    /** The meters whose data it carries (for the consumer log). */
    meters: T.Array(EndpointName, { maxItems: 64 }),
    /** What it is, for the logs, e.g. "TAF7 series 12:00-12:15". */
    summary: T.String({ minLength: 1, maxLength: 200 }),
  },
  Strict,
);
export type Delivery = Static<typeof DeliverySchema>;

const StatusBody = T.Object(
  {
    unit: T.String(),
    version: T.String(),
    uptimeSeconds: T.Number({ minimum: 0 }),
    state: T.Union([T.Literal("ok"), T.Literal("degraded")]),
    detail: T.Record(T.String(), T.Unknown()),
  },
  Strict,
);

export const CONTRACTS = {
  "storage.append-readings": {
    request: T.Object(
      { meter: EndpointName, readings: T.Array(ReadingSchema, { minItems: 1, maxItems: 1000 }) },
      Strict,
    ),
    response: T.Object({ stored: T.Integer({ minimum: 0 }) }, Strict),
  },
  "storage.query-readings": {
    request: T.Object(
      {
        meter: EndpointName,
        obis: T.Optional(ObisSchema),
        from: T.Optional(IsoTime),
        to: T.Optional(IsoTime),
        limit: T.Optional(T.Integer({ minimum: 1, maximum: 1000 })),
        /** Paging cursor: the `seq` of the last reading of the previous page. */
        after: T.Optional(T.Integer({ minimum: 0 })),
      },
      Strict,
    ),
    response: T.Object(
      {
        readings: T.Array(StoredReadingSchema, { maxItems: 1000 }),
        next: T.Optional(T.Integer({ minimum: 0 })),
      },
      Strict,
    ),
  },
  "storage.list-meters": {
    request: T.Object({}, Strict),
    response: T.Object(
      {
        meters: T.Array(
          T.Object(
            { meter: EndpointName, readings: T.Integer({ minimum: 0 }), last: T.Optional(IsoTime) },
            Strict,
          ),
        ),
      },
      Strict,
    ),
  },
  "storage.append-log": {
    request: T.Object(
      {
        event: T.String({ pattern: "^[a-z][a-z0-9.-]{1,63}$" }),
        severity: T.Union([T.Literal("info"), T.Literal("warning"), T.Literal("alert")]),
        detail: T.Record(
          T.String({ maxLength: 64 }),
          T.Union([T.String({ maxLength: 512 }), T.Number(), T.Boolean()]),
        ),
      },
      Strict,
    ),
    response: T.Object({ seq: T.Integer({ minimum: 1 }) }, Strict),
  },
  "storage.tariff-registers": {
    request: T.Object({ meter: EndpointName }, Strict),
    response: T.Object(
      {
        /** The tariff use case the registers belong to, if one is configured. */
        tariff: T.Optional(TariffInfoSchema),
        registers: T.Array(TariffRegisterSchema, { maxItems: 256 }),
      },
      Strict,
    ),
  },
  "storage.consumer-log": {
    request: LogPageRequest,
    response: logPage(ConsumerLogEntrySchema),
  },
  "storage.calibration-append": {
    request: T.Object(
      { entries: T.Array(CalibrationEventSchema, { minItems: 1, maxItems: 64 }) },
      Strict,
    ),
    /** The seq of the last entry appended. */
    response: T.Object({ last: T.Integer({ minimum: 1 }) }, Strict),
  },
  "storage.calibration-log": {
    request: LogPageRequest,
    response: logPage(CalibrationLogEntrySchema),
  },
  "storage.profile-commit": {
    request: T.Object(
      {
        profile: ProfileName,
        /** The profile's processing state after this commit (JSON text, the meter domain's). */
        state: T.String({ minLength: 2, maxLength: 131072 }),
        registers: T.Optional(T.Array(ProfileRegistersSchema, { maxItems: 64 })),
        deliveries: T.Optional(T.Array(DeliverySchema, { maxItems: 1 })),
        /**
         * Calibration-log events of this step (closed billing periods, the tariff in use). The
         * storage appends them before it commits, so a failed commit may log them twice when
         * retried, never lose them.
         */
        calibration: T.Optional(T.Array(CalibrationEventSchema, { maxItems: 64 })),
      },
      Strict,
    ),
    /** The ids of the deliveries, in order. State, registers and deliveries commit together. */
    response: T.Object({ deliveries: T.Array(T.Integer({ minimum: 1 })) }, Strict),
  },
  "storage.profile-load": {
    request: T.Object({ profile: ProfileName }, Strict),
    response: T.Object(
      {
        state: T.Optional(T.String({ maxLength: 131072 })),
        /** How many deliveries of this profile no EMT has confirmed yet. */
        pending: T.Integer({ minimum: 0 }),
      },
      Strict,
    ),
  },
  "storage.delivery-next": {
    request: T.Object(
      {
        profile: ProfileName,
        /** Skip deliveries up to this id (those being sent already). */
        after: T.Optional(T.Integer({ minimum: 0 })),
      },
      Strict,
    ),
    response: T.Object(
      {
        /** The oldest delivery not confirmed yet, if any. */
        delivery: T.Optional(
          T.Composite([
            DeliverySchema,
            T.Object({ id: T.Integer({ minimum: 1 }), createdAt: IsoTime }),
          ]),
        ),
      },
      Strict,
    ),
  },
  "storage.delivery-done": {
    request: T.Object(
      {
        profile: ProfileName,
        id: T.Integer({ minimum: 1 }),
        /** What the EMT answered, for the logs. */
        receipt: T.String({ maxLength: 200 }),
      },
      Strict,
    ),
    response: T.Object({ done: T.Literal(true) }, Strict),
  },
  "status.get": { request: T.Object({}, Strict), response: StatusBody },
  "cls.relay": {
    request: T.Object(
      {
        device: EndpointName,
        channel: T.String({ maxLength: 64 }),
        data: T.String({ maxLength: 65536 }),
      },
      Strict,
    ),
    response: T.Object({ sent: T.Integer({ minimum: 0 }) }, Strict),
  },
  "crypto.sign": {
    request: T.Object(
      {
        key: T.String({ pattern: "^[a-z0-9-]{1,32}$" }),
        algorithm: T.Union([T.Literal("ecdsa-sha256"), T.Literal("ecdsa-sha384")]),
        digest: T.String({ pattern: "^[0-9a-f]{64,128}$" }),
      },
      Strict,
    ),
    response: T.Object({ signature: T.String({ pattern: "^[0-9a-f]+$" }) }, Strict),
  },
  "crypto.wrap": {
    request: T.Object({ domain: StoreDomain, dataKey: HexBytes(2, 128) }, Strict),
    response: T.Object({ wrapped: HexBytes(2, 2048) }, Strict),
  },
  "crypto.unwrap": {
    request: T.Object({ domain: StoreDomain, wrapped: HexBytes(2, 2048) }, Strict),
    response: T.Object({ dataKey: HexBytes(2, 128) }, Strict),
  },
  "crypto.counter-read": {
    request: T.Object({ counter: CounterName }, Strict),
    response: T.Object({ value: Decimal }, Strict),
  },
  "crypto.counter-increment": {
    request: T.Object({ counter: CounterName }, Strict),
    response: T.Object({ value: Decimal }, Strict),
  },
  "tcm.open-channel": {
    request: T.Object(
      {
        endpoint: EndpointName,
        /** The policy's outbound flow of the TCM the channel serves, e.g. "wan-emt-delivery". */
        purpose: FlowId,
        /** The CLS device a cls-traffic channel relays for. */
        device: T.Optional(EndpointName),
      },
      Strict,
    ),
    response: T.Object({ channel: ChannelId, peer: ChannelPeerSchema }, Strict),
  },
  "tcm.send": {
    request: T.Object({ channel: ChannelId, data: ChannelBytes }, Strict),
    response: T.Object(
      {
        sent: T.Integer({ minimum: 0 }),
        /** Bytes still waiting for the network on this channel. */
        buffered: T.Integer({ minimum: 0 }),
      },
      Strict,
    ),
  },
  "tcm.receive": {
    request: T.Object(
      {
        channel: ChannelId,
        max: T.Optional(T.Integer({ minimum: 1, maximum: 98304 })),
        /** How long to wait for the first byte; the IFM's own timeout is 10 s. */
        waitMs: T.Optional(T.Integer({ minimum: 0, maximum: 5000 })),
      },
      Strict,
    ),
    response: T.Object(
      {
        data: ChannelBytes,
        /** The channel has ended and everything received was given out. */
        closed: T.Boolean(),
        /** Why it ended, when not by a clean close. */
        reason: T.Optional(T.String({ maxLength: 256 })),
      },
      Strict,
    ),
  },
  "tcm.close": {
    request: T.Object({ channel: ChannelId }, Strict),
    response: T.Object({ closed: T.Literal(true) }, Strict),
  },
  "tcm.accept": {
    request: T.Object(
      {
        /** The policy's inbound TLS flow to the asking unit, e.g. "han-cls-proxy". */
        listener: FlowId,
        waitMs: T.Optional(T.Integer({ minimum: 0, maximum: 5000 })),
      },
      Strict,
    ),
    response: T.Object(
      { channel: T.Optional(ChannelId), peer: T.Optional(ChannelPeerSchema) },
      Strict,
    ),
  },
} as const satisfies Record<string, { request: TSchema; response: TSchema }>;

export type MessageType = keyof typeof CONTRACTS;
export type RequestBody<M extends MessageType> = Static<(typeof CONTRACTS)[M]["request"]>;
export type ResponseBody<M extends MessageType> = Static<(typeof CONTRACTS)[M]["response"]>;

export const MESSAGE_TYPES = Object.keys(CONTRACTS) as MessageType[];

export function isMessageType(s: string): s is MessageType {
  return Object.hasOwn(CONTRACTS, s);
}

const compiled = new Map<string, { request: TypeCheck<TSchema>; response: TypeCheck<TSchema> }>(
  Object.entries(CONTRACTS).map(([k, v]) => [
    k,
    { request: TypeCompiler.Compile(v.request), response: TypeCompiler.Compile(v.response) },
  ]),
);

export function contractOf(type: MessageType): {
  request: TypeCheck<TSchema>;
  response: TypeCheck<TSchema>;
} {
  const c = compiled.get(type);
  if (!c) throw new Error(`no contract for ${type}`);
  return c;
}
