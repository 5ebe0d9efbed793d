import { FormatCache } from "./compact.ts";
import { decodeFrame, decodeReassembled } from "./decode.ts";
import { WmbusError } from "./errors.ts";
import { hexToBytes, parseHex } from "./hex.ts";
import { AflReassembler } from "./reassembly.ts";
import type { Telegram, TelegramHeaders } from "./types.ts";

export const USAGE = `Usage: smgw lmn decode [--key HEX] HEX...

Decodes wireless M-Bus / OMS telegrams (format A or B, with or without the data link
CRCs) and wired M-Bus long frames (68 L L 68 ... 16). Each HEX argument is one telegram.
They are decoded in order, so a compact frame can follow the full frame it refers to, and
the fragments of a fragmented message (AFL) are reassembled: each fragment but the last
prints {"fragment":{...}}, the last one the whole message.

Options:
  --key HEX    AES-128 key of the meter, 32 hex digits (security modes 5, 7, ELL)
  -h, --help   show this help

Output: one JSON object per telegram, one line each. A telegram that cannot be decoded
gives {"error":{"kind":...,"message":...}} (with "header" when the headers were read,
e.g. for "encrypted, no key"). Exit code: 0 all decoded, 1 some failed, 2 usage error.
`;

export interface CliResult {
  exitCode: number;
  output: string;
}

/** `smgw lmn decode [--key HEX] HEX…`; argv are the words after "decode" (a leading "lmn decode" is skipped). */
export function runDecode(argv: string[]): CliResult {
  let args = [...argv];
  if (args[0] === "lmn") args = args.slice(1);
  if (args[0] === "decode") args = args.slice(1);
  if (args.includes("--help") || args.includes("-h")) return { exitCode: 0, output: USAGE };

  let key: Uint8Array | undefined;
  const telegrams: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--key" || arg.startsWith("--key=")) {
      const value = arg === "--key" ? args[++i] : arg.slice("--key=".length);
      if (value === undefined || !/^[0-9a-fA-F]{32}$/.test(value)) {
        return usageError("--key needs an AES-128 key of 32 hex digits");
      }
      key = hexToBytes(value);
    } else if (arg.startsWith("-")) {
      return usageError(`unknown option ${arg}`);
    } else {
      telegrams.push(arg);
    }
  }
  if (telegrams.length === 0) return usageError("no telegram given");

  const cache = new FormatCache();
  const reassembler = new AflReassembler();
  const options = { ...(key ? { key } : {}), formatCache: cache };
  const lines: string[] = [];
  let failed = false;
  for (const [i, text] of telegrams.entries()) {
    try {
      const { bytes, droppedTrailingNibble } = parseHex(text, { allowTrailingNibble: true });
      const frame = decodeFrame(bytes, options);
      let telegram: Telegram;
      if (frame.kind === "telegram") {
        telegram = frame.telegram;
      } else {
        // The arguments' order stands in for the time they were received.
        const r = reassembler.push(frame.fragment, i);
        if (r.status === "held") {
          lines.push(
            JSON.stringify({
              fragment: {
                ...headerFields({ link: frame.fragment.link }),
                fragmentId: r.fragmentId,
                held: r.fragments,
                bytes: r.bytes,
                messageLength: r.messageLength,
              },
            }),
          );
          continue;
        }
        telegram = decodeReassembled(r.message, options);
      }
      if (droppedTrailingNibble)
        telegram.warnings.push("odd number of hex digits: last half byte ignored");
      lines.push(JSON.stringify(summarize(telegram)));
    } catch (error) {
      failed = true;
      lines.push(JSON.stringify(errorObject(error)));
    }
  }
  return { exitCode: failed ? 1 : 0, output: `${lines.join("\n")}\n` };
}

function summarize(telegram: Telegram): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...headerFields(telegram),
    records: telegram.records.map((r) => ({
      storage: r.storage,
      tariff: r.tariff,
      subunit: r.subunit,
      function: r.function,
      quantity: r.quantity,
      unit: r.unit,
      value: r.value,
    })),
  };
  if (telegram.manufacturerData !== undefined) out.manufacturerData = telegram.manufacturerData;
  if (telegram.warnings.length > 0) out.warnings = telegram.warnings;
  return out;
}

/** The meter identity: the TPL long header when present (the link address may be a radio converter). */
function headerFields(headers: TelegramHeaders): Record<string, unknown> {
  const { link, transport } = headers;
  const identity = transport?.manufacturer !== undefined ? transport : link;
  return {
    manufacturer: identity?.manufacturer ?? null,
    id: identity?.id ?? null,
    version: identity?.version ?? null,
    deviceType: identity?.deviceType ?? null,
    deviceTypeName: identity?.deviceTypeName ?? null,
    accessNumber: transport?.accessNumber ?? headers.ell?.accessNumber ?? null,
    status: transport?.status ?? null,
    securityMode: transport?.securityMode ?? null,
  };
}

function errorObject(error: unknown): Record<string, unknown> {
  if (error instanceof WmbusError) {
    const out: Record<string, unknown> = { error: { kind: error.kind, message: error.message } };
    if (error.headers?.link) out.header = headerFields(error.headers);
    return out;
  }
  // Not expected: the decoder throws WmbusError only. Report instead of crashing the CLI.
  return { error: { kind: "internal", message: String(error) } };
}

function usageError(message: string): CliResult {
  return {
    exitCode: 2,
    output: `${JSON.stringify({ error: { kind: "usage", message } })}\n${USAGE}`,
  };
}
