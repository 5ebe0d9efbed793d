/**
 * The SML type-length field. One TL byte is `m ttt llll`: m = another TL byte follows,
 * ttt = type, llll = length nibble. Following TL bytes are `m 000 llll`; the nibbles form the
 * length, most significant first. For lists the length is the element count; for every other
 * type it is the byte count including the TL bytes themselves. 0x00 ends a message, and 0x01
 * (an empty octet string) marks an optional field that is not set.
 */

export const TL_OCTETS = 0b000;
export const TL_BOOLEAN = 0b100;
export const TL_INTEGER = 0b101;
export const TL_UNSIGNED = 0b110;
export const TL_LIST = 0b111;

export const END_OF_SML_MSG = 0x00;
/** An optional field without value. */
export const OPTIONAL_NONE = 0x01;

/** At most this many TL bytes: 8 nibbles give lengths up to 2^32 - 1. */
export const MAX_TL_BYTES = 8;

/** List nesting bound used when the caller gives none. */
export const DEFAULT_MAX_DEPTH = 32;

export type TlTypeName = "octets" | "bool" | "int" | "uint" | "list";

export function tlTypeName(t: number): TlTypeName | undefined {
  switch (t) {
    case TL_OCTETS:
      return "octets";
    case TL_BOOLEAN:
      return "bool";
    case TL_INTEGER:
      return "int";
    case TL_UNSIGNED:
      return "uint";
    case TL_LIST:
      return "list";
    default:
      return undefined;
  }
}

/** Any SML element, untyped: what a part without a known structure decodes to. */
export type SmlNode =
  | { type: "octets"; value: Uint8Array }
  | { type: "bool"; value: boolean }
  /** `size` is the number of value bytes on the wire (1..8). */
  | { type: "int"; value: bigint; size: number }
  | { type: "uint"; value: bigint; size: number }
  | { type: "list"; items: SmlNode[] };

/** Number of TL bytes needed for a list of `count` elements. */
export function listTlSize(count: number): number {
  let h = 1;
  while (count >= 16 ** h) h++;
  return h;
}

/** Number of TL bytes needed for an octet string (or number) with `dataLength` value bytes. */
export function scalarTlSize(dataLength: number): number {
  let h = 1;
  while (dataLength + h >= 16 ** h) h++;
  return h;
}
