// Schema checks with TypeBox: the first error, with its path, as a SchemaError.
import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { SchemaError } from "./errors.ts";

export const Strict = { additionalProperties: false } as const;
/** A name as the policy writes them: units, endpoints, meters, consumers. */
export const Name = T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" });
export const IsoTime = T.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?(Z|[+-]\\d{2}:\\d{2})$",
});
/** Free-form detail of a log entry: flat, bounded. */
export const Detail = T.Record(
  T.String({ maxLength: 64 }),
  T.Union([T.String({ maxLength: 512 }), T.Number(), T.Boolean()]),
  { maxProperties: 32 },
);

export interface Checker<S extends TSchema> {
  /** The value, typed, or a SchemaError naming the first wrong field. */
  check(value: unknown, what: string): Static<S>;
}

export function checker<S extends TSchema>(schema: S): Checker<S> {
  const compiled = TypeCompiler.Compile(schema);
  return {
    check(value, what) {
      if (compiled.Check(value)) return value as Static<S>;
      const first = compiled.Errors(value).First();
      throw new SchemaError(what, first?.path ?? "", first?.message ?? "does not fit the schema");
    },
  };
}

/** Milliseconds of an ISO time that fits IsoTime, or undefined. */
export function isoToMs(s: string): number | undefined {
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}
