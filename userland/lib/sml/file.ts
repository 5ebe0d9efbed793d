/** Whole SML files: transport frame plus messages. */

import { SmlError } from "./errors.ts";
import { decodeSmlMessages, encodeSmlMessages, type MessageDecodeOptions } from "./message.ts";
import { decodeTransportFrame, encodeTransportFrame, frameOffsetOf } from "./transport.ts";
import type { SmlFile, SmlMessage } from "./types.ts";

export interface FileDecodeOptions extends MessageDecodeOptions {
  /** Check the transport CRC (default true). */
  checkFrameCrc?: boolean;
}

/**
 * Decodes one transport frame (start sequence to end sequence, nothing before or after) into
 * its messages. Throws SmlError with an offset into `bytes`; for message errors the detail also
 * names the offset in the unescaped payload.
 */
export function decodeSmlFile(bytes: Uint8Array, options?: FileDecodeOptions): SmlFile {
  const frame = decodeTransportFrame(bytes, { checkCrc: options?.checkFrameCrc });
  try {
    return { messages: decodeSmlMessages(frame.payload, options) };
  } catch (e) {
    if (!(e instanceof SmlError)) throw e;
    throw new SmlError(
      e.kind,
      frameOffsetOf(bytes, e.offset),
      `${e.detail} (payload offset ${e.offset})`,
    );
  }
}

/** Encodes messages into one transport frame. Message CRCs are computed. */
export function encodeSmlFile(messages: SmlMessage[] | SmlFile): Uint8Array {
  const list = Array.isArray(messages) ? messages : messages.messages;
  return encodeTransportFrame(encodeSmlMessages(list));
}
