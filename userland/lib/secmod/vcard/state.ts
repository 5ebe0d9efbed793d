// The virtual card's persistent memory: keys, PIN, counters and files in one JSON file
// (mode 0600), replaced atomically so a crash never leaves half a state. Counters and the PIN
// retry counter are written before the card answers, as a real card's EEPROM would be.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { COUNTER_COUNT, PIN_TRIES } from "../card/commands.ts";
import { writeFileAtomic } from "../files.ts";
import { CURVES } from "../module.ts";

const B64 = T.String({ pattern: "^[A-Za-z0-9+/]*={0,2}$", maxLength: 16384 });
const Ref = T.String({ pattern: "^[0-9]{1,3}$" });

export const CardStateSchema = T.Object(
  {
    format: T.Literal(1),
    serial: T.String({ pattern: "^[0-9a-f]{16}$" }),
    pin: T.Object({ salt: B64, hash: B64 }, { additionalProperties: false }),
    pinTries: T.Integer({ minimum: 0, maximum: PIN_TRIES }),
    ecKeys: T.Record(
      Ref,
      T.Object(
        { curve: T.Union(CURVES.map((c) => T.Literal(c))), private: B64 },
        { additionalProperties: false },
      ),
    ),
    storageKeys: T.Record(Ref, B64),
    counters: T.Array(T.String({ pattern: "^[0-9]{1,20}$" }), {
      minItems: COUNTER_COUNT,
      maxItems: COUNTER_COUNT,
    }),
    files: T.Record(T.String({ pattern: "^[0-9]{1,5}$" }), B64),
  },
  { additionalProperties: false },
);
export type CardState = Static<typeof CardStateSchema>;

export class CardStateError extends Error {
  override name = "CardStateError";
}

export function hashPin(pin: Uint8Array, salt: Uint8Array): Uint8Array {
  return createHash("sha256").update(salt).update(pin).digest();
}

export function pinMatches(state: CardState, pin: Uint8Array): boolean {
  const expected = Buffer.from(state.pin.hash, "base64");
  const actual = hashPin(pin, Buffer.from(state.pin.salt, "base64"));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A fresh, personalised card: the given PIN, no keys, counters at zero. */
export function newCardState(pin: Uint8Array): CardState {
  const salt = randomBytes(16);
  return {
    format: 1,
    serial: randomBytes(8).toString("hex"),
    pin: {
      salt: salt.toString("base64"),
      hash: Buffer.from(hashPin(pin, salt)).toString("base64"),
    },
    pinTries: PIN_TRIES,
    ecKeys: {},
    storageKeys: {},
    counters: Array.from({ length: COUNTER_COUNT }, () => "0"),
    files: {},
  };
}

/** Check parsed JSON against the schema; a CardStateError names the first problems. */
export function parseCardState(text: string, where: string): CardState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CardStateError(`${where}: not JSON (${(e as Error).message})`);
  }
  if (!Value.Check(CardStateSchema, raw)) {
    const problems = [...Value.Errors(CardStateSchema, raw)]
      .slice(0, 3)
      .map((e) => `${e.path || "/"}: ${e.message}`);
    throw new CardStateError(`${where}: invalid card state (${problems.join("; ")})`);
  }
  return raw;
}

export interface CardStore {
  load(): CardState | undefined;
  save(state: CardState): void;
}

export class MemoryCardStore implements CardStore {
  private text: string | undefined;
  load(): CardState | undefined {
    return this.text === undefined ? undefined : parseCardState(this.text, "memory");
  }
  save(state: CardState): void {
    this.text = JSON.stringify(state);
  }
}

export class FileCardStore implements CardStore {
  constructor(readonly file: string) {}

  load(): CardState | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new CardStateError(`${this.file}: ${(e as Error).message}`);
    }
    return parseCardState(text, this.file);
  }

  save(state: CardState): void {
    writeFileAtomic(this.file, JSON.stringify(state));
  }
}
