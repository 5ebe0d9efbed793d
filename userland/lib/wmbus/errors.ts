import type { TelegramHeaders } from "./types.ts";

/** Why a telegram could not be decoded. Stable names, used by the CLI output. */
export type WmbusErrorKind =
  | "hex" // input text is not a hex string
  | "frame" // L-field, start/stop byte or wired checksum do not fit
  | "crc" // a data link block CRC or the ELL payload CRC does not match
  | "truncated" // the data ended inside a field
  | "key" // the key given is not an AES-128 key
  | "no-key" // encrypted, no key
  | "decryption" // decrypted data fails its check (wrong key?)
  | "authentication" // AFL MAC mismatch
  | "fragment" // AFL fragment refused by the reassembler (AflFragmentError names the reason)
  | "unsupported" // a documented feature this decoder does not implement
  | "compact-frame" // compact frame whose format signature is unknown
  | "record"; // malformed data record

export interface WmbusErrorOptions {
  /** Byte offset in the (CRC-free) frame where the problem was found. */
  offset?: number;
  /** Headers decoded before the failure, e.g. for "encrypted, no key". */
  headers?: TelegramHeaders;
}

/** The only error class the decoder throws. */
export class WmbusError extends Error {
  readonly kind: WmbusErrorKind;
  readonly offset: number | undefined;
  headers: TelegramHeaders | undefined;

  constructor(kind: WmbusErrorKind, message: string, options: WmbusErrorOptions = {}) {
    super(options.offset === undefined ? message : `${message} (at byte ${options.offset})`);
    this.name = "WmbusError";
    this.kind = kind;
    this.offset = options.offset;
    this.headers = options.headers;
  }
}
