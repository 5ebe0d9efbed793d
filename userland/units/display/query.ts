// Strict parsing of query strings and path parameters against the route's TypeBox schema:
// unknown or repeated parameters are refused, integers must be plain digits, and the first
// problem is reported in words. Client-supplied text is never echoed back, only the names of
// the schema's own parameters.
import { Kind, type TObject, type TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";

export type Parsed<V> = { ok: true; value: V } | { ok: false; message: string };

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();
function checker(schema: TSchema): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c;
}

const SAFE_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

/** A name safe to put in a message: it matched the schema's own names or is shown as "?". */
function shown(name: string): string {
  return SAFE_NAME.test(name) ? name : "?";
}

function isInteger(schema: TSchema): boolean {
  return schema[Kind] === "Integer";
}

/** Coerce text parameters to what the schema expects, then check them. */
export function parseParameters<V>(
  schema: TObject,
  entries: Iterable<[string, string]>,
  what: "query" | "path",
): Parsed<V> {
  const props = schema.properties as Record<string, TSchema>;
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const [name, raw] of entries) {
    const prop = Object.hasOwn(props, name) ? props[name] : undefined;
    if (!prop) return { ok: false, message: `unknown ${what} parameter ${shown(name)}` };
    if (seen.has(name)) return { ok: false, message: `${name} is given more than once` };
    seen.add(name);
    if (isInteger(prop)) {
      if (!/^-?\d{1,16}$/.test(raw)) return { ok: false, message: messageFor(name, prop) };
      out[name] = Number(raw);
    } else {
      out[name] = raw;
    }
  }
  const check = checker(schema);
  if (check.Check(out)) return { ok: true, value: out as V };
  for (const e of check.Errors(out)) {
    const name = e.path.split("/")[1] ?? "";
    const prop = Object.hasOwn(props, name) ? props[name] : undefined;
    if (!prop) break;
    if (out[name] === undefined) return { ok: false, message: `${name} is required` };
    return { ok: false, message: messageFor(name, prop) };
  }
  return { ok: false, message: `the ${what} parameters do not fit` };
}

/** Check a parsed JSON body against a schema; the message names the first bad field. */
export function checkBody<V>(schema: TObject, body: unknown): Parsed<V> {
  const check = checker(schema);
  if (check.Check(body)) return { ok: true, value: body as V };
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, message: "the body must be a JSON object" };
  }
  const props = schema.properties as Record<string, TSchema>;
  for (const e of check.Errors(body)) {
    const name = e.path.split("/")[1] ?? "";
    const prop = Object.hasOwn(props, name) ? props[name] : undefined;
    if (!prop) return { ok: false, message: `unknown field ${shown(name)}` };
    if ((body as Record<string, unknown>)[name] === undefined) {
      return { ok: false, message: `${name} is required` };
    }
    return { ok: false, message: messageFor(name, prop) };
  }
  return { ok: false, message: "the body does not fit" };
}

function messageFor(name: string, prop: TSchema): string {
  const custom = (prop as { "x-error"?: unknown })["x-error"];
  return typeof custom === "string" ? custom : `${name} is not valid`;
}
