// The little HTTP/1.1 the meter domain speaks to an EMT inside a TLS channel of the TCM: one
// POST per delivery, the body the signed CMS message, the answer a status line, headers and a
// body of known length. Both directions are parsed incrementally with hard size limits, so a
// peer that sends too much, too little or garbage gets a clear HttpError, never a hang.

export class HttpError extends Error {
  override readonly name = "HttpError";
}

const MAX_HEAD = 8192;
export const MAX_BODY = 1 << 20;
const CRLFCRLF = Buffer.from("\r\n\r\n");

export interface HttpMessage {
  /** Request: "POST /path"; response: "201 Created". */
  startLine: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface HttpRequest extends HttpMessage {
  method: string;
  path: string;
}

export interface HttpResponse extends HttpMessage {
  status: number;
}

export function encodeRequest(o: {
  method: "POST";
  path: string;
  host: string;
  headers?: Record<string, string>;
  body: Uint8Array;
}): Buffer {
  const lines = [
    `${o.method} ${o.path} HTTP/1.1`,
    `Host: ${o.host}`,
    `Content-Length: ${o.body.length}`,
    ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ];
  for (const l of lines) {
    if (/[\r\n]/.test(l)) throw new HttpError("header values may not contain line breaks");
  }
  return Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), o.body]);
}

export function encodeResponse(
  status: number,
  reason: string,
  body: Uint8Array | string,
  type = "application/json",
): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  return Buffer.concat([
    Buffer.from(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${type}\r\nContent-Length: ${b.length}\r\n\r\n`,
      "latin1",
    ),
    b,
  ]);
}

/** Collects bytes until one whole message is there; `push` returns it, or undefined for more. */
export class HttpParser<M extends HttpRequest | HttpResponse> {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(
    private readonly kind: M extends HttpRequest ? "request" : "response",
    private readonly maxBody = MAX_BODY,
  ) {}

  push(chunk: Uint8Array): M | undefined {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(CRLFCRLF);
    if (end < 0) {
      // Up to 3 bytes of a blank line that is not complete yet may follow a head of MAX_HEAD.
      if (this.buffered.length > MAX_HEAD + 3)
        throw new HttpError(`header longer than ${MAX_HEAD} bytes`);
      return undefined;
    }
    if (end > MAX_HEAD) throw new HttpError(`header longer than ${MAX_HEAD} bytes`);
    const head = this.buffered.subarray(0, end).toString("latin1");
    const [startLine = "", ...lines] = head.split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const m = /^([A-Za-z0-9-]{1,64}):[ \t]*(.{0,1024})$/.exec(line);
      if (!m?.[1]) throw new HttpError(`malformed header line "${line.slice(0, 60)}"`);
      const key = m[1].toLowerCase();
      if (Object.hasOwn(headers, key)) throw new HttpError(`header ${key} given twice`);
      headers[key] = (m[2] ?? "").trim();
    }
    if (headers["transfer-encoding"] !== undefined) {
      throw new HttpError("chunked transfer encoding is not accepted; send Content-Length");
    }
    const lengthText = headers["content-length"] ?? "0";
    if (!/^\d{1,9}$/.test(lengthText)) throw new HttpError(`bad Content-Length "${lengthText}"`);
    const length = Number(lengthText);
    if (length > this.maxBody)
      throw new HttpError(`body of ${length} bytes is over ${this.maxBody}`);
    const total = end + 4 + length;
    if (this.buffered.length < total) return undefined;
    if (this.buffered.length > total)
      throw new HttpError("bytes after the message (no pipelining)");
    const body = Buffer.from(this.buffered.subarray(end + 4, total));
    this.buffered = Buffer.alloc(0);
    if (this.kind === "request") {
      const m = /^(GET|POST|PUT|DELETE|HEAD) (\/[\x21-\x7e]{0,512}) HTTP\/1\.1$/.exec(startLine);
      if (!m?.[1] || !m[2])
        throw new HttpError(`malformed request line "${startLine.slice(0, 60)}"`);
      return { startLine, headers, body, method: m[1], path: m[2] } as M;
    }
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.{0,128}))?$/.exec(startLine);
    if (!m?.[1]) throw new HttpError(`malformed status line "${startLine.slice(0, 60)}"`);
    return { startLine, headers, body, status: Number(m[1]) } as M;
  }
}
