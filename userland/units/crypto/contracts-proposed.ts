// Message types the crypto manager offers beyond crypto.sign and secure storage's
// wrap/unwrap/counters (those are in lib/ipc/contracts.ts), as proposed TypeBox contracts:
// the policy and lib/ipc/contracts.ts do not carry them yet. Byte strings are lower-case hex,
// as in crypto.sign; 64-bit counter values are decimal strings (JSON numbers stop at 2^53).
import { type Static, Type as T } from "@sinclair/typebox";

const Strict = { additionalProperties: false } as const;
const KeyName = T.String({ pattern: "^[a-z0-9-]{1,32}$" });
const Hex = (min: number, max: number) =>
  T.String({ pattern: "^([0-9a-f]{2})+$", minLength: min, maxLength: max });
const CurveName = T.Union([
  T.Literal("brainpoolP256r1"),
  T.Literal("brainpoolP384r1"),
  T.Literal("prime256v1"),
]);

export const PROPOSED_CONTRACTS = {
  "crypto.public-key": {
    request: T.Object({ key: KeyName }, Strict),
    response: T.Object(
      { curve: CurveName, spki: Hex(2, 512), certificate: T.Optional(Hex(2, 8192)) },
      Strict,
    ),
  },
  "crypto.agree": {
    request: T.Object({ key: KeyName, peer: Hex(2, 512) }, Strict),
    response: T.Object({ secret: Hex(2, 128) }, Strict),
  },
  "crypto.random": {
    request: T.Object({ length: T.Integer({ minimum: 1, maximum: 1024 }) }, Strict),
    response: T.Object({ random: Hex(2, 2048) }, Strict),
  },
} as const;

type C = typeof PROPOSED_CONTRACTS;
export type ProposedType = keyof C;
export type ProposedRequest<M extends ProposedType> = Static<C[M]["request"]>;
export type ProposedResponse<M extends ProposedType> = Static<C[M]["response"]>;
