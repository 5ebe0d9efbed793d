import { checkAesKey } from "./aes.ts";
import { type AflResult, isFragment, parseAfl, requireSingleFragment } from "./afl.ts";
import { expandCompactFrame, type FormatCache } from "./compact.ts";
import { ELL_CIS, parseEll } from "./ell.ts";
import { WmbusError } from "./errors.ts";
import { type DataLinkFrame, unwrapFrame } from "./frame.ts";
import { parseHex, toHex } from "./hex.ts";
import { parseWiredLink, parseWirelessLink } from "./link.ts";
import { ByteReader } from "./reader.ts";
import { parseRecords } from "./records.ts";
import { removeTransportSecurity } from "./security.ts";
import { isManufacturerCi, parseTplHeader, type TplHeader } from "./tpl.ts";
import type {
  AuthenticationLayer,
  ExtendedLinkLayer,
  LinkLayer,
  Telegram,
  TelegramHeaders,
  TransportLayer,
} from "./types.ts";

export interface DecodeOptions {
  /** AES-128 key of the meter (16 bytes). */
  key?: Uint8Array;
  /** Shared between telegrams so that compact frames can use an earlier full frame's layout. */
  formatCache?: FormatCache;
}

const AFL_CI = 0x90;

/** Decodes one telegram (raw frame bytes). Throws WmbusError only. */
export function decodeTelegram(raw: Uint8Array, options: DecodeOptions = {}): Telegram {
  if (options.key) checkAesKey(options.key);
  const frame = unwrapFrame(raw);
  const headers: TelegramHeaders = {};
  try {
    return decodeLayers(frame, options, headers);
  } catch (error) {
    addHeaders(error, headers);
    throw error;
  }
}

/**
 * Decodes a telegram given as hex text. An odd digit count is accepted only if the frame is
 * complete without the last half byte (a warning says so).
 */
export function decodeTelegramHex(text: string, options: DecodeOptions = {}): Telegram {
  const { bytes, droppedTrailingNibble } = parseHex(text, { allowTrailingNibble: true });
  const telegram = decodeTelegram(bytes, options);
  if (droppedTrailingNibble)
    telegram.warnings.push("odd number of hex digits: last half byte ignored");
  return telegram;
}

/** A telegram that carries one fragment of a fragmented message (AFL, EN 13757-7). */
export interface AflFragment {
  link: LinkLayer;
  ell?: ExtendedLinkLayer;
  afl: AuthenticationLayer;
  /** AFL fields as transmitted: the MAC input header, counter and MAC (first fragment). */
  aflFields: AflResult;
  /** This fragment's part of the message: the bytes after the AFL (the TPL CI-field first, in the first fragment). */
  data: Uint8Array;
  /** Offset of `data` from the L-field of the CRC-free frame. */
  dataOffset: number;
  /** M- and A-field of the link layer as transmitted (8 bytes): mode 5 IV and mode 7 KDF. */
  linkAddress: Uint8Array;
  /** The CRC-free frame from the C-field on (as `unwrapFrame` gives it), e.g. for replay checks. */
  frame: Uint8Array;
  /** Remarks from the layers below the AFL (e.g. the ELL). */
  warnings: string[];
}

/** What one frame holds: a whole telegram, or one fragment of a longer message. */
export type DecodedFrame =
  | { kind: "telegram"; telegram: Telegram }
  | { kind: "fragment"; fragment: AflFragment };

/**
 * Decodes one frame like decodeTelegram, except that a fragment of a fragmented message (AFL
 * fragment id other than 0 or more fragments following) is returned as it is, for an
 * AflReassembler, instead of being refused. Throws WmbusError only.
 */
export function decodeFrame(raw: Uint8Array, options: DecodeOptions = {}): DecodedFrame {
  if (options.key) checkAesKey(options.key);
  const frame = unwrapFrame(raw);
  const headers: TelegramHeaders = {};
  try {
    const lower = decodeLowerLayers(frame, options, headers);
    const afl = lower.afl;
    if (afl && isFragment(afl.afl)) {
      const fragment: AflFragment = {
        link: lower.link,
        afl: afl.afl,
        aflFields: afl,
        data: lower.reader.bytes.subarray(lower.reader.pos),
        dataOffset: lower.reader.offset,
        linkAddress: lower.linkMA,
        frame: frame.body,
        warnings: lower.warnings,
      };
      if (headers.ell) fragment.ell = headers.ell;
      return { kind: "fragment", fragment };
    }
    return { kind: "telegram", telegram: decodeUpperLayers(lower, options, headers) };
  } catch (error) {
    addHeaders(error, headers);
    throw error;
  }
}

/** The layers of a message reassembled from fragments, for decodeReassembled. */
export interface MessageLayers {
  /** The first fragment: link layer, ELL and AFL of the message. */
  first: AflFragment;
  /** The whole message, from the TPL CI-field to its last byte. */
  data: Uint8Array;
  /** How many fragments it came in. */
  fragments: number;
}

/**
 * Decodes a message reassembled from AFL fragments: the TPL and APL of the whole message with
 * the first fragment's link layer and AFL (mode 7: the MAC over the whole message, the key
 * derivation with the first fragment's counter). Offsets count from the first fragment's
 * L-field as if the fragments' data followed each other there. Throws WmbusError only.
 */
export function decodeReassembled(message: MessageLayers, options: DecodeOptions = {}): Telegram {
  if (options.key) checkAesKey(options.key);
  const { first } = message;
  const afl: AflResult = { ...first.aflFields, afl: { ...first.afl } };
  const link = { ...first.link };
  const headers: TelegramHeaders = { link, afl: afl.afl };
  if (first.ell) headers.ell = { ...first.ell };
  try {
    const telegram = decodeUpperLayers(
      {
        link,
        linkMA: first.linkAddress,
        wired: false,
        warnings: [...first.warnings],
        afl,
        aflOffset: 0,
        reader: new ByteReader(message.data, 0, first.dataOffset),
        ciLabel: "CI-field after AFL",
      },
      options,
      headers,
    );
    telegram.fragments = message.fragments;
    return telegram;
  } catch (error) {
    addHeaders(error, headers);
    throw error;
  }
}

function addHeaders(error: unknown, headers: TelegramHeaders): void {
  // Refusals (e.g. "encrypted, no key") still report the headers read so far.
  if (error instanceof WmbusError && !error.headers && headers.link) {
    error.headers = { ...headers };
  }
}

interface LowerLayers {
  link: LinkLayer;
  linkMA: Uint8Array;
  wired: boolean;
  warnings: string[];
  afl?: AflResult;
  /** Offset of the AFL length field (after the AFL CI-field). */
  aflOffset: number;
  /** Stands at the CI-field of the transport layer (after ELL and AFL). */
  reader: ByteReader;
  /** Name of that CI-field in messages. */
  ciLabel: string;
}

/** Link layer, ELL and AFL. */
function decodeLowerLayers(
  frame: DataLinkFrame,
  options: DecodeOptions,
  headers: TelegramHeaders,
): LowerLayers {
  const wired = frame.format === "mbus-long";
  // Offsets in messages count from the L-field of the CRC-free frame.
  let reader = new ByteReader(frame.body, 0, 1);
  const link = wired
    ? parseWiredLink(reader, frame.lField)
    : parseWirelessLink(reader, frame.lField, frame.format);
  headers.link = link;
  const linkMA = frame.body.subarray(1, 9);
  const warnings: string[] = [];

  let ciLabel = "CI-field";
  let ci = reader.u8(ciLabel);
  if (!wired && ELL_CIS.has(ci)) {
    const ell = parseEll(ci, reader, linkMA, options.key, headers);
    warnings.push(...ell.warnings);
    reader = new ByteReader(ell.rest, 0, ell.restOffset);
    ciLabel = "CI-field after ELL";
    ci = reader.u8(ciLabel);
  }
  const lower: LowerLayers = { link, linkMA, wired, warnings, reader, ciLabel, aflOffset: 0 };
  if (!wired && ci === AFL_CI) {
    lower.aflOffset = reader.offset;
    lower.afl = parseAfl(reader);
    headers.afl = lower.afl.afl;
    lower.ciLabel = "CI-field after AFL";
  } else {
    reader.pos -= 1; // the CI-field is read again by the transport layer
  }
  return lower;
}

function decodeLayers(
  frame: DataLinkFrame,
  options: DecodeOptions,
  headers: TelegramHeaders,
): Telegram {
  const lower = decodeLowerLayers(frame, options, headers);
  if (lower.afl) requireSingleFragment(lower.afl.afl, lower.aflOffset);
  return decodeUpperLayers(lower, options, headers);
}

/** Transport layer, its security and the application layer. */
function decodeUpperLayers(
  lower: LowerLayers,
  options: DecodeOptions,
  headers: TelegramHeaders,
): Telegram {
  const { link, linkMA, wired, warnings, afl, reader } = lower;
  const ci = reader.u8(lower.ciLabel);
  const tplStart = reader.pos - 1;

  if (isManufacturerCi(ci)) {
    const transport = manufacturerTransport(ci);
    headers.transport = transport;
    warnings.push(`manufacturer specific CI-field 0x${hexByte(ci)}: payload kept opaque`);
    return {
      ...headers,
      link,
      transport,
      records: [],
      manufacturerData: toHex(reader.rest()),
      warnings,
    };
  }

  const tpl = parseTplHeader(ci, reader, wired);
  const transport = tpl.transport;
  headers.transport = transport;
  if (wired && transport.manufacturer !== undefined) {
    link.manufacturer = transport.manufacturer;
    link.id = transport.id ?? null;
    link.version = transport.version ?? null;
    link.deviceType = transport.deviceType ?? null;
    link.deviceTypeName = transport.deviceTypeName ?? null;
  }
  const payloadOffset = reader.offset;
  const security = removeTransportSecurity({
    transport,
    payload: reader.rest(),
    payloadOffset,
    ivAddress: tpl.longHeaderMA ?? linkMA,
    kdfId: (tpl.longHeaderMA ?? linkMA).subarray(2, 6),
    ...(afl ? { afl } : {}),
    tplBytes: reader.bytes.subarray(tplStart),
    ...(options.key ? { key: options.key } : {}),
  });
  transport.payload = security.payload;
  if (afl && security.macVerified !== undefined) afl.afl.macVerified = security.macVerified;
  warnings.push(...security.warnings);

  const telegram: Telegram = { ...headers, link, transport, records: [], warnings };
  fillApplicationLayer(telegram, tpl, security.clear, payloadOffset, options);
  return telegram;
}

function fillApplicationLayer(
  telegram: Telegram,
  tpl: TplHeader,
  clear: Uint8Array,
  offset: number,
  options: DecodeOptions,
): void {
  let apl = clear;
  switch (tpl.kind) {
    case "header-only":
      if (apl.length > 0) telegram.manufacturerData = toHex(apl);
      return;
    case "alarm":
      telegram.transport.alarm = toHex(apl);
      return;
    case "error":
      telegram.transport.applicationError = toHex(apl);
      return;
    case "format":
      throw new WmbusError(
        "unsupported",
        `format frame (CI 0x${hexByte(tpl.transport.ci)}) is not supported`,
      );
    case "compact":
      apl = expandCompact(telegram.transport, apl, offset, options.formatCache);
      break;
    default:
      break;
  }
  const application = parseRecords(apl, offset);
  telegram.records = application.records;
  if (application.manufacturerData) telegram.manufacturerData = toHex(application.manufacturerData);
  if (application.moreRecordsFollow) telegram.moreRecordsFollow = true;
  if (application.truncatedTail) telegram.truncatedTail = toHex(application.truncatedTail);
  telegram.warnings.push(...application.warnings);
  if (tpl.kind === "data" && options.formatCache && application.records.length > 0) {
    options.formatCache.remember(application.recordHeaders);
  }
}

function expandCompact(
  transport: TransportLayer,
  clear: Uint8Array,
  offset: number,
  cache: FormatCache | undefined,
): Uint8Array {
  // After decryption the compact frame follows the 2F2F decryption marker.
  const start = transport.payload === "plaintext" ? 0 : 2;
  const reader = new ByteReader(clear, start, offset);
  const signature = reader.u16le("compact frame format signature");
  const fullFrameCrc = reader.u16le("compact frame full frame CRC");
  transport.formatSignature = signature;
  const recordHeaders = cache?.lookup(signature);
  if (!recordHeaders) {
    throw new WmbusError(
      "compact-frame",
      `compact frame with format signature ${signature.toString(16).toUpperCase().padStart(4, "0")}: ` +
        "layout unknown (decode the matching full frame first)",
      { offset },
    );
  }
  return expandCompactFrame(recordHeaders, reader.rest(), fullFrameCrc, offset + 4 + start);
}

function manufacturerTransport(ci: number): TransportLayer {
  return {
    ci,
    ciName: "manufacturer specific",
    headerType: "none",
    accessNumber: null,
    status: null,
    statusFlags: [],
    configuration: null,
    securityMode: 0,
    payload: "plaintext",
  };
}

function hexByte(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, "0");
}
