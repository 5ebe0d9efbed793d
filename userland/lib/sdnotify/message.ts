// Parsing of one received notification datagram: newline-separated KEY=VALUE lines.

export type NotifyProblemKind =
  | "empty"
  | "truncated"
  | "binary"
  | "invalid-utf8"
  | "malformed-line"
  | "receive-failed"
  | "callback-failed";

/** Something wrong with a received datagram or with receiving; reported, never thrown. */
export interface NotifyProblem {
  readonly kind: NotifyProblemKind;
  readonly message: string;
  /** 1-based line number within the datagram, for "malformed-line". */
  readonly line?: number;
  /** The error thrown, for "receive-failed" and "callback-failed". */
  readonly error?: Error;
}

export interface ParsedNotification {
  /** KEY=VALUE fields in order of appearance; a repeated key keeps its last value. */
  readonly fields: Record<string, string>;
  /** The datagram as text; empty when the datagram was dropped. */
  readonly raw: string;
  readonly problems: NotifyProblem[];
}

const KEY_PATTERN = /^[A-Za-z0-9_]+$/;
const EXCERPT_LENGTH = 60;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function excerpt(text: string): string {
  const short = text.length > EXCERPT_LENGTH ? `${text.slice(0, EXCERPT_LENGTH)}…` : text;
  return JSON.stringify(short);
}

/**
 * Parses one datagram. `receivedLength` is the datagram's real size when the kernel reported it
 * larger than the buffer: such a datagram is dropped, as systemd does, and so are empty, binary
 * (NUL-containing) and non-UTF-8 ones. Malformed lines are skipped and reported.
 */
export function parseNotifyDatagram(
  data: Uint8Array,
  receivedLength: number = data.length,
): ParsedNotification {
  const fields: Record<string, string> = Object.create(null);
  const dropped = (kind: NotifyProblemKind, message: string): ParsedNotification => ({
    fields,
    raw: "",
    problems: [{ kind, message }],
  });
  if (receivedLength > data.length) {
    return dropped(
      "truncated",
      `datagram of ${receivedLength} bytes exceeds the ${data.length}-byte buffer; dropped`,
    );
  }
  if (data.length === 0) return dropped("empty", "empty datagram; dropped");
  const nul = data.indexOf(0);
  if (nul >= 0) return dropped("binary", `datagram has a NUL byte at offset ${nul}; dropped`);
  let raw: string;
  try {
    raw = utf8.decode(data);
  } catch {
    return dropped("invalid-utf8", `datagram of ${data.length} bytes is not UTF-8; dropped`);
  }
  const problems: NotifyProblem[] = [];
  const lines = raw.split("\n");
  for (const [index, line] of lines.entries()) {
    if (line === "") continue;
    const equals = line.indexOf("=");
    const key = equals > 0 ? line.slice(0, equals) : "";
    if (!KEY_PATTERN.test(key)) {
      problems.push({
        kind: "malformed-line",
        line: index + 1,
        message: `line ${index + 1} ${excerpt(line)} is not KEY=VALUE; skipped`,
      });
      continue;
    }
    fields[key] = line.slice(equals + 1);
  }
  return { fields, raw, problems };
}
