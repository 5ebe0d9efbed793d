/** SML_Message: decoding with the per-message CRC check, and encoding with the CRC filled in. */

import { crc16X25, messageCrcField } from "./crc16.ts";
import { readMessageBody } from "./decode-body.ts";
import { writeMessageBody } from "./encode-body.ts";
import { SmlError } from "./errors.ts";
import { SmlReader } from "./reader.ts";
import { DEFAULT_MAX_DEPTH } from "./tl.ts";
import type { SmlMessage } from "./types.ts";
import { SmlWriter } from "./writer.ts";

export interface MessageDecodeOptions {
  /** Check each message's crc16 (default true). */
  checkMessageCrc?: boolean;
  /** Deepest list nesting accepted (default 32). */
  maxDepth?: number;
}

/** Reads one SML_Message at r.pos. */
export function readMessage(r: SmlReader, checkCrc = true): SmlMessage {
  const start = r.pos;
  r.enterList("SML_Message", 6);
  const transactionId = r.readOctets("transactionId");
  const groupNo = r.readUnsigned("groupNo", 8);
  const abortOnError = r.readUnsigned("abortOnError", 8);
  const body = readMessageBody(r);
  const crcAt = r.pos;
  const crc16 = r.readUnsigned("crc16", 16);
  r.readEndOfMessage();
  r.leaveList();
  if (checkCrc) {
    const expected = messageCrcField(crc16X25(r.bytes, start, crcAt));
    if (expected !== crc16) {
      throw new SmlError(
        "crc",
        crcAt,
        `message crc16 is ${crc16.toString(16)}, computed ${expected.toString(16)}`,
      );
    }
  }
  return { transactionId, groupNo, abortOnError, body, crc16 };
}

/**
 * Decodes the SML messages of an unescaped payload (the content of one transport frame).
 * Trailing 00 bytes after the last message are accepted: some senders miscount fill bytes.
 */
export function decodeSmlMessages(
  payload: Uint8Array,
  options?: MessageDecodeOptions,
): SmlMessage[] {
  const r = new SmlReader(payload, 0, payload.length, options?.maxDepth ?? DEFAULT_MAX_DEPTH);
  const check = options?.checkMessageCrc !== false;
  const messages: SmlMessage[] = [];
  while (r.pos < r.end) {
    if (payload[r.pos] === 0x00) {
      for (let i = r.pos; i < r.end; i++) {
        if (payload[i] !== 0x00) throw new SmlError("trailing", i, "data after 00 bytes");
      }
      break;
    }
    messages.push(readMessage(r, check));
  }
  return messages;
}

/** Writes one SML_Message; its crc16 field is computed, the given one ignored. */
export function writeMessage(w: SmlWriter, m: SmlMessage): number {
  const start = w.pos;
  w.list(6);
  w.octets(m.transactionId);
  w.unsigned(m.groupNo, 1, "groupNo");
  w.unsigned(m.abortOnError, 1, "abortOnError");
  writeMessageBody(w, m.body);
  const crc = messageCrcField(crc16X25(w.buffer, start, w.pos));
  w.unsigned(crc, 2, "crc16");
  w.endOfMessage();
  return crc;
}

/** Encodes messages into a payload (no transport framing). */
export function encodeSmlMessages(messages: SmlMessage[]): Uint8Array {
  const w = new SmlWriter(512);
  for (const m of messages) writeMessage(w, m);
  return w.bytes.slice();
}
