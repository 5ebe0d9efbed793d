/** What went wrong while reading or writing SML. */
export type SmlErrorKind =
  /** A transport or message CRC-16 does not match. */
  | "crc"
  /** An escape sequence 1B1B1B1B is followed by something transport version 1 does not define. */
  | "escape"
  /** The input ends before the frame, message or field does. */
  | "truncated"
  /** A TL field has a type that is not allowed at this place. */
  | "type"
  /** A TL length is impossible (too short for its own header, too long, wrong for the type). */
  | "length"
  /** A frame exceeds the configured size bound. */
  | "oversized"
  /** Lists are nested deeper than the configured bound. */
  | "depth"
  /** The fill byte count at the end of a frame is wrong or the fill bytes are not 00. */
  | "padding"
  /** A list has the wrong number of elements for the SML structure expected here. */
  | "structure"
  /** A field value is outside what SML allows (unknown choice tag, number out of range). */
  | "value"
  /** Bytes follow where the frame or file should end. */
  | "trailing";

/**
 * The only error class this package throws for bad input. `offset` is the byte offset where the
 * problem was found, in the input given to the function that threw (decodeSmlFile maps message
 * errors back to frame offsets; decodeSmlMessages reports payload offsets; the extractor reports
 * stream offsets); in the text for OBIS parse errors; -1 when no position applies.
 */
export class SmlError extends Error {
  override readonly name = "SmlError";
  readonly kind: SmlErrorKind;
  readonly offset: number;
  /** The message without the kind and offset prefix. */
  readonly detail: string;

  constructor(kind: SmlErrorKind, offset: number, detail: string) {
    super(`${kind} at offset ${offset}: ${detail}`);
    this.kind = kind;
    this.offset = offset;
    this.detail = detail;
  }
}

export function isSmlError(e: unknown): e is SmlError {
  return e instanceof SmlError;
}
