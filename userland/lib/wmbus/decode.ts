import { checkAesKey } from "./aes.ts";
import { type AflResult, parseAfl, requireSingleFragment } from "./afl.ts";
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
import type { Telegram, TelegramHeaders, TransportLayer } from "./types.ts";

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
    // Refusals (e.g. "encrypted, no key") still report the headers read so far.
    if (error instanceof WmbusError && !error.headers && headers.link) {
      error.headers = { ...headers };
    }
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

function decodeLayers(
  frame: DataLinkFrame,
  options: DecodeOptions,
  headers: TelegramHeaders,
): Telegram {
  const wired = frame.format === "mbus-long";
  // Offsets in messages count from the L-field of the CRC-free frame.
  let reader = new ByteReader(frame.body, 0, 1);
  const link = wired
    ? parseWiredLink(reader, frame.lField)
    : parseWirelessLink(reader, frame.lField, frame.format);
  headers.link = link;
  const linkMA = frame.body.subarray(1, 9);
  const warnings: string[] = [];

  let ci = reader.u8("CI-field");
  if (!wired && ELL_CIS.has(ci)) {
    const ell = parseEll(ci, reader, linkMA, options.key, headers);
    warnings.push(...ell.warnings);
    reader = new ByteReader(ell.rest, 0, ell.restOffset);
    ci = reader.u8("CI-field after ELL");
  }
  let afl: AflResult | undefined;
  if (!wired && ci === AFL_CI) {
    const aflOffset = reader.offset;
    afl = parseAfl(reader);
    headers.afl = afl.afl;
    requireSingleFragment(afl.afl, aflOffset);
    ci = reader.u8("CI-field after AFL");
  }
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
