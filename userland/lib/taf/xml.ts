/**
 * A small element tree over fast-xml-parser, with the checks every AR 2418-6 reader needs:
 * size limit, well-formedness, no DTDs, namespace prefixes dropped, and helpers that name the
 * offending element in their errors.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { TafError, type TafErrorPhase } from "./errors.ts";
import { parseDateTime, type Timestamp } from "./time.ts";

/** Default upper bound for one document: the largest golden file is about 1.2 MB. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

export interface XmlElement {
  readonly name: string;
  /** Path from the root, e.g. "UsagePoint/MeterReading[2]/ReadingType". */
  readonly path: string;
  /** Concatenated direct text content, trimmed. */
  readonly text: string;
  readonly children: readonly XmlElement[];
}

type OrderedNode = Record<string, unknown>;

export interface ReadXmlOptions {
  maxBytes?: number;
}

/** Parses a document into an element tree; throws TafError for anything that is not usable XML. */
export function readXml(
  input: string | Uint8Array,
  phase: TafErrorPhase,
  options: ReadXmlOptions = {},
): XmlElement {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const size = typeof input === "string" ? input.length : input.byteLength;
  if (size > maxBytes) {
    throw new TafError(
      "INPUT_TOO_LARGE",
      phase,
      `document has ${size} bytes, more than the limit of ${maxBytes}`,
    );
  }
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      throw new TafError("MALFORMED_XML", phase, "document is not valid UTF-8");
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === "") throw new TafError("MALFORMED_XML", phase, "document is empty");
  // AR 2418-6 documents have no DTD; refusing one rules out entity expansion attacks.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
    throw new TafError("UNSUPPORTED_XML", phase, "document type declarations are not accepted");
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new TafError(
      "MALFORMED_XML",
      phase,
      `not well-formed XML at line ${line}, column ${col}: ${msg}`,
    );
  }
  const parser = new XMLParser({
    preserveOrder: true,
    removeNSPrefix: true,
    ignoreAttributes: true,
    parseTagValue: false,
    trimValues: true,
    htmlEntities: false,
  });
  let nodes: unknown;
  try {
    nodes = parser.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new TafError("MALFORMED_XML", phase, `XML could not be parsed: ${detail}`);
  }
  const roots = toElements(nodes, "");
  const root = roots[0];
  if (roots.length !== 1 || root === undefined) {
    throw new TafError("MALFORMED_XML", phase, `document must have exactly one root element`);
  }
  return root;
}

function toElements(nodes: unknown, parentPath: string): XmlElement[] {
  if (!Array.isArray(nodes)) return [];
  const result: XmlElement[] = [];
  const seen = new Map<string, number>();
  for (const node of nodes as OrderedNode[]) {
    for (const key of Object.keys(node)) {
      if (key === "#text" || key === ":@" || key.startsWith("?")) continue;
      const count = (seen.get(key) ?? 0) + 1;
      seen.set(key, count);
      const path = parentPath === "" ? key : `${parentPath}/${key}`;
      const indexedPath = count > 1 ? `${path}[${count}]` : path;
      const content = node[key];
      const children = toElements(content, indexedPath);
      result.push({ name: key, path: indexedPath, text: directText(content), children });
    }
  }
  return result;
}

function directText(content: unknown): string {
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content as OrderedNode[]) {
    const value = part["#text"];
    if (typeof value === "string" || typeof value === "number") text += String(value);
  }
  return text.trim();
}

/** Reads typed values out of elements and reports problems with the element's path. */
export class ElementReader {
  constructor(readonly phase: TafErrorPhase) {}

  all(parent: XmlElement, name: string): XmlElement[] {
    return parent.children.filter((c) => c.name === name);
  }

  optional(parent: XmlElement, name: string): XmlElement | undefined {
    const found = this.all(parent, name);
    if (found.length > 1) {
      throw new TafError(
        "DUPLICATE_ELEMENT",
        this.phase,
        `${parent.path}: element "${name}" occurs ${found.length} times, at most once allowed`,
        `${parent.path}/${name}`,
      );
    }
    return found[0];
  }

  required(parent: XmlElement, name: string): XmlElement {
    const found = this.optional(parent, name);
    if (found === undefined) {
      throw new TafError(
        "MISSING_ELEMENT",
        this.phase,
        `${parent.path}: required element "${name}" is missing`,
        `${parent.path}/${name}`,
      );
    }
    return found;
  }

  invalid(element: XmlElement, what: string): TafError {
    const shown = element.text.length > 40 ? `${element.text.slice(0, 40)}…` : element.text;
    return new TafError(
      "INVALID_ELEMENT",
      this.phase,
      `${element.path}: "${shown}" is not ${what}`,
      element.path,
    );
  }

  text(parent: XmlElement, name: string): string {
    const element = this.required(parent, name);
    if (element.text === "") throw this.invalid(element, "a non-empty value");
    return element.text;
  }

  optionalText(parent: XmlElement, name: string): string | undefined {
    const element = this.optional(parent, name);
    return element === undefined || element.text === "" ? undefined : element.text;
  }

  integerOf(element: XmlElement, min: number, max: number): number {
    const text = element.text;
    if (!/^[+-]?\d{1,20}$/.test(text)) throw this.invalid(element, `an integer`);
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw this.invalid(element, `an integer from ${min} to ${max}`);
    }
    return value;
  }

  integer(parent: XmlElement, name: string, min: number, max: number): number {
    return this.integerOf(this.required(parent, name), min, max);
  }

  optionalInteger(parent: XmlElement, name: string, min: number, max: number): number | undefined {
    const element = this.optional(parent, name);
    return element === undefined ? undefined : this.integerOf(element, min, max);
  }

  dateTimeOf(element: XmlElement): Timestamp {
    const value = parseDateTime(element.text);
    if (value === undefined) throw this.invalid(element, "a valid xs:dateTime");
    return value;
  }

  dateTime(parent: XmlElement, name: string): Timestamp {
    return this.dateTimeOf(this.required(parent, name));
  }

  optionalDateTime(parent: XmlElement, name: string): Timestamp | undefined {
    const element = this.optional(parent, name);
    return element === undefined ? undefined : this.dateTimeOf(element);
  }
}

export const UINT8_MAX = 0xff;
export const UINT16_MAX = 0xffff;
export const UINT32_MAX = 0xffffffff;
/** espi:Int48, the type of a reading's value. */
export const INT48_MIN = -(2 ** 47);
export const INT48_MAX = 2 ** 47 - 1;
