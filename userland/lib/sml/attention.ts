/** Attention numbers of SML_Attention.Res (6 bytes, 81 81 C7 C7 Fx xx). */

import { toHex } from "./obis.ts";

const ATTENTION_TEXT: Record<string, string> = {
  "8181c7c7fd00": "ok, positive acknowledgement",
  "8181c7c7fd01": "order will be answered later",
  "8181c7c7fe00": "error, not specified",
  "8181c7c7fe01": "unknown SML designator",
  "8181c7c7fe02": "insufficient authentication",
  "8181c7c7fe03": "destination address (serverId) not available",
  "8181c7c7fe04": "request (reqFileId) not available",
  "8181c7c7fe05": "one or more target attributes cannot be written",
  "8181c7c7fe06": "one or more target attributes cannot be read",
  "8181c7c7fe07": "communication with the measuring point disrupted",
  "8181c7c7fe08": "raw data cannot be interpreted",
  "8181c7c7fe09": "value out of range",
  "8181c7c7fe0a": "order not executed",
  "8181c7c7fe0b": "checksum faulty",
  "8181c7c7fe0c": "broadcast not supported",
  "8181c7c7fe0d": "unexpected SML message",
  "8181c7c7fe0e": "unknown object in the load profile",
  "8181c7c7fe0f": "data type not supported",
  "8181c7c7fe10": "optional element not supported",
  "8181c7c7fe11": "requested profile has no entry",
  "8181c7c7fe12": "end limit before start limit",
  "8181c7c7fe13": "no entries in the requested range",
  "8181c7c7fe14": "SML file ended without close",
  "8181c7c7fe15": "profile cannot be shown at the moment",
};

export const ATTENTION_OK = Uint8Array.of(0x81, 0x81, 0xc7, 0xc7, 0xfd, 0x00);

export function attentionText(attentionNo: Uint8Array): string | undefined {
  return ATTENTION_TEXT[toHex(attentionNo)];
}
