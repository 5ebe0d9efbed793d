// The meter domain's small HTTP/1.1 codec: whole messages out of any split of the bytes, a clear
// HttpError for everything it does not accept, and nothing else ever thrown, whatever comes in.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  encodeRequest,
  encodeResponse,
  HttpError,
  HttpParser,
  type HttpRequest,
  type HttpResponse,
  MAX_BODY,
} from "./http.ts";

const MAX_HEAD = 8192;

const request = (body: Uint8Array = Buffer.from("<signed/>"), headers = {}) =>
  encodeRequest({ method: "POST", path: "/smgw/v1/meter-data", host: "emt-1", headers, body });

function parseRequest(...chunks: Uint8Array[]): HttpRequest | undefined {
  const p = new HttpParser<HttpRequest>("request");
  let out: HttpRequest | undefined;
  for (const c of chunks) out = p.push(c);
  return out;
}

function parseResponse(...chunks: Uint8Array[]): HttpResponse | undefined {
  const p = new HttpParser<HttpResponse>("response");
  let out: HttpResponse | undefined;
  for (const c of chunks) out = p.push(c);
  return out;
}

/** The HttpError `f` throws; fails the test when it throws nothing or something else. */
function httpError(f: () => unknown): HttpError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HttpError);
    return e as HttpError;
  }
  throw new Error("expected an HttpError");
}

/** Pushes the message in two parts split at `at`; the first part must not give a message. */
function splitAt<M extends HttpRequest | HttpResponse>(
  kind: "request" | "response",
  bytes: Buffer,
  at: number,
): M | undefined {
  const p = new HttpParser(kind as never) as HttpParser<M>;
  const first = p.push(bytes.subarray(0, at));
  if (first !== undefined) throw new Error(`a message after ${at} of ${bytes.length} bytes`);
  return p.push(bytes.subarray(at));
}

describe("encoding and parsing", () => {
  test("a request comes out as it went in", () => {
    const body = Buffer.from([0x30, 0x82, 0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0xff]);
    const r = parseRequest(
      request(body, { "Content-Type": "application/pkcs7-mime", "X-SMGW-Delivery": "gw/p/1" }),
    );
    expect(r).toMatchObject({
      method: "POST",
      path: "/smgw/v1/meter-data",
      startLine: "POST /smgw/v1/meter-data HTTP/1.1",
      headers: {
        host: "emt-1",
        "content-length": String(body.length),
        "content-type": "application/pkcs7-mime",
        "x-smgw-delivery": "gw/p/1",
      },
    });
    expect(Buffer.compare(r?.body ?? Buffer.alloc(0), body)).toBe(0);
  });

  test("a response comes out with its status and body", () => {
    const r = parseResponse(encodeResponse(201, "Created", '{"receipt":"abc"}'));
    expect(r).toMatchObject({
      status: 201,
      startLine: "HTTP/1.1 201 Created",
      headers: { "content-type": "application/json", "content-length": "17" },
    });
    expect(r?.body.toString()).toBe('{"receipt":"abc"}');
    // HTTP/1.0, no reason phrase, no body: still an answer.
    expect(parseResponse(Buffer.from("HTTP/1.0 204\r\n\r\n"))).toMatchObject({ status: 204 });
  });

  test("a request split at every byte position comes out whole", () => {
    const body = Buffer.from("a body with \r\n\r\n inside and some more bytes");
    const bytes = request(body, { "X-SMGW-Delivery": "gw/p/7" });
    const whole = parseRequest(bytes);
    expect(whole).toBeDefined();
    for (let at = 0; at < bytes.length; at++) {
      expect(splitAt<HttpRequest>("request", bytes, at)).toEqual(whole as HttpRequest);
    }
    // One byte at a time as well.
    const p = new HttpParser<HttpRequest>("request");
    const results = [...bytes].map((b) => p.push(Uint8Array.of(b)));
    expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect(results.at(-1)).toEqual(whole as HttpRequest);
  });

  test("a response split at every byte position comes out whole", () => {
    const bytes = encodeResponse(503, "Service Unavailable", '{"error":"try later"}');
    const whole = parseResponse(bytes);
    expect(whole?.status).toBe(503);
    for (let at = 0; at < bytes.length; at++) {
      expect(splitAt<HttpResponse>("response", bytes, at)).toEqual(whole as HttpResponse);
    }
  });

  /** A request head (without the blank line) of exactly `n` bytes, body "x". */
  function headOfLength(n: number): string {
    let head = "POST /x HTTP/1.1\r\nContent-Length: 1";
    // Each padding header costs "\r\nX-i: " (7 bytes) plus its value (at most 1024 bytes).
    let i = 0;
    while (n - head.length > 1031) head += `\r\nX-${i++}: ${"p".repeat(1000)}`;
    head += `\r\nX-${i}: ${"q".repeat(n - head.length - 7)}`;
    return head;
  }

  test("a head of exactly the limit is accepted in one piece and split anywhere", () => {
    const head = headOfLength(MAX_HEAD);
    expect(head.length).toBe(MAX_HEAD);
    const bytes = Buffer.from(`${head}\r\n\r\nx`, "latin1");
    const whole = parseRequest(bytes);
    expect(whole?.body.toString()).toBe("x");
    for (let at = MAX_HEAD - 8; at < bytes.length; at++) {
      expect(splitAt<HttpRequest>("request", bytes, at)).toEqual(whole as HttpRequest);
    }
    // One byte more is over the limit, whole or in pieces.
    const over = Buffer.from(`${headOfLength(MAX_HEAD + 1)}\r\n\r\nx`, "latin1");
    expect(httpError(() => parseRequest(over)).message).toBe("header longer than 8192 bytes");
    for (let at = MAX_HEAD - 8; at < over.length; at++) {
      expect(httpError(() => splitAt<HttpRequest>("request", over, at)).message).toBe(
        "header longer than 8192 bytes",
      );
    }
  });

  test("the parser is ready for the next message after one", () => {
    const p = new HttpParser<HttpResponse>("response");
    expect(p.push(encodeResponse(503, "Service Unavailable", "a"))?.status).toBe(503);
    expect(p.push(encodeResponse(201, "Created", "b"))?.status).toBe(201);
  });

  test("a header named like an object property is an ordinary header", () => {
    const r = parseRequest(
      Buffer.from("POST /x HTTP/1.1\r\nConstructor: a\r\nContent-Length: 0\r\n\r\n"),
    );
    expect(r?.headers).toEqual({ constructor: "a", "content-length": "0" });
  });

  test("header values with line breaks are not encoded", () => {
    expect(
      httpError(() => request(Buffer.from("x"), { "X-SMGW-Delivery": "gw\r\nEvil: 1" })).message,
    ).toBe("header values may not contain line breaks");
    expect(
      httpError(() =>
        encodeRequest({ method: "POST", path: "/p", host: "a\nb", body: new Uint8Array() }),
      ).message,
    ).toBe("header values may not contain line breaks");
  });
});

describe("refusals", () => {
  const req = (head: string, body = "") => Buffer.from(`${head}\r\n\r\n${body}`, "latin1");
  const requestCases: [string, Buffer, string][] = [
    ["no method", req("/x HTTP/1.1"), 'malformed request line "/x HTTP/1.1"'],
    ["an unknown method", req("PATCH /x HTTP/1.1"), 'malformed request line "PATCH /x HTTP/1.1"'],
    ["HTTP/1.0", req("POST /x HTTP/1.0"), 'malformed request line "POST /x HTTP/1.0"'],
    ["a relative path", req("POST x HTTP/1.1"), 'malformed request line "POST x HTTP/1.1"'],
    [
      "a space in the path",
      req("POST /a b HTTP/1.1"),
      'malformed request line "POST /a b HTTP/1.1"',
    ],
    ["an empty head", req(""), 'malformed request line ""'],
    [
      "a header line without a colon",
      req("POST /x HTTP/1.1\r\nHost emt"),
      'malformed header line "Host emt"',
    ],
    [
      "a folded header line",
      req("POST /x HTTP/1.1\r\nHost: emt\r\n  continued"),
      'malformed header line "  continued"',
    ],
    [
      "a header name with a space",
      req("POST /x HTTP/1.1\r\nHo st: emt"),
      'malformed header line "Ho st: emt"',
    ],
    [
      "a bare line feed in a header",
      req("POST /x HTTP/1.1\r\nHost: emt\nX: y"),
      'malformed header line "Host: emt\nX: y"',
    ],
    [
      "a header value over 1024 bytes",
      req(`POST /x HTTP/1.1\r\nX: ${"v".repeat(1025)}`),
      `malformed header line "X: ${"v".repeat(57)}"`,
    ],
    [
      "a duplicate header (other case)",
      req("POST /x HTTP/1.1\r\nHost: a\r\nhost: b"),
      "header host given twice",
    ],
    [
      "two Content-Lengths",
      req("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1", "x"),
      "header content-length given twice",
    ],
    [
      "chunked transfer encoding",
      req("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked", "1\r\nx\r\n0\r\n\r\n"),
      "chunked transfer encoding is not accepted; send Content-Length",
    ],
    [
      "a negative Content-Length",
      req("POST /x HTTP/1.1\r\nContent-Length: -1"),
      'bad Content-Length "-1"',
    ],
    [
      "a Content-Length that is not a number",
      req("POST /x HTTP/1.1\r\nContent-Length: 0x10"),
      'bad Content-Length "0x10"',
    ],
    [
      "two Content-Lengths in one",
      req("POST /x HTTP/1.1\r\nContent-Length: 1, 1"),
      'bad Content-Length "1, 1"',
    ],
    [
      "an empty Content-Length",
      req("POST /x HTTP/1.1\r\nContent-Length:"),
      'bad Content-Length ""',
    ],
    [
      "a ten-digit Content-Length",
      req("POST /x HTTP/1.1\r\nContent-Length: 1000000000"),
      'bad Content-Length "1000000000"',
    ],
    [
      "a body over the limit",
      req(`POST /x HTTP/1.1\r\nContent-Length: ${MAX_BODY + 1}`),
      `body of ${MAX_BODY + 1} bytes is over ${MAX_BODY}`,
    ],
    [
      "bytes after the message",
      req("POST /x HTTP/1.1\r\nContent-Length: 1", "xPOST /y HTTP/1.1\r\n\r\n"),
      "bytes after the message (no pipelining)",
    ],
    [
      "bytes after a message without a body",
      req("POST /x HTTP/1.1", "\r\n"),
      "bytes after the message (no pipelining)",
    ],
  ];
  for (const [name, bytes, message] of requestCases) {
    test(`request with ${name}`, () => {
      expect(httpError(() => parseRequest(bytes)).message).toBe(message);
    });
  }

  test("errors about the head come before the body is there", () => {
    // Nothing of the 100 announced bytes has arrived: the refusal does not wait for them.
    expect(
      httpError(() => parseRequest(req("POST /x HTTP/1.1\r\nX: 1\r\nx: 2\r\nContent-Length: 100")))
        .message,
    ).toBe("header x given twice");
    expect(
      httpError(() => parseRequest(req(`POST /x HTTP/1.1\r\nContent-Length: ${MAX_BODY + 1}`)))
        .message,
    ).toContain("is over");
  });

  test("a smaller body limit is kept", () => {
    const p = new HttpParser<HttpResponse>("response", 10);
    expect(httpError(() => p.push(encodeResponse(200, "OK", "x".repeat(11)))).message).toBe(
      "body of 11 bytes is over 10",
    );
    expect(
      new HttpParser<HttpResponse>("response", 10).push(encodeResponse(200, "OK", "x".repeat(10)))
        ?.status,
    ).toBe(200);
  });

  const statusCases: [string, string][] = [
    ["HTTP/2 200 OK", 'malformed status line "HTTP/2 200 OK"'],
    ["HTTP/1.1 20 OK", 'malformed status line "HTTP/1.1 20 OK"'],
    ["HTTP/1.1 2000 OK", 'malformed status line "HTTP/1.1 2000 OK"'],
    ["HTTP/1.1 201Created", 'malformed status line "HTTP/1.1 201Created"'],
    ["HTTP/1.1 abc OK", 'malformed status line "HTTP/1.1 abc OK"'],
    ["http/1.1 200 OK", 'malformed status line "http/1.1 200 OK"'],
    [`HTTP/1.1 200 ${"r".repeat(129)}`, `malformed status line "HTTP/1.1 200 ${"r".repeat(47)}"`],
    ["POST /x HTTP/1.1", 'malformed status line "POST /x HTTP/1.1"'],
  ];
  for (const [line, message] of statusCases) {
    test(`status line ${JSON.stringify(line.slice(0, 30))}: ${message.slice(0, 40)}`, () => {
      expect(httpError(() => parseResponse(req(line))).message).toBe(message);
    });
  }

  test("a head over 8 KiB without an end is refused before the end comes", () => {
    const p = new HttpParser<HttpRequest>("request");
    expect(p.push(Buffer.from(`POST /x HTTP/1.1\r\nX: ${"v".repeat(1000)}\r\n`))).toBeUndefined();
    let error: HttpError | undefined;
    for (let i = 0; i < 20 && !error; i++) {
      try {
        p.push(Buffer.from(`Y-${i}: ${"v".repeat(1000)}\r\n`));
      } catch (e) {
        expect(e).toBeInstanceOf(HttpError);
        error = e as HttpError;
      }
    }
    expect(error?.message).toBe("header longer than 8192 bytes");
    // A single huge line that never ends, too.
    const q = new HttpParser<HttpResponse>("response");
    expect(httpError(() => q.push(Buffer.alloc(MAX_HEAD + 4, 0x41))).message).toBe(
      "header longer than 8192 bytes",
    );
  });

  test("a head over 8 KiB with its end in the same chunk is refused", () => {
    const head = `HTTP/1.1 200 OK\r\n${Array.from({ length: 9 }, (_, i) => `X-${i}: ${"v".repeat(1000)}`).join("\r\n")}`;
    expect(httpError(() => parseResponse(req(head))).message).toBe("header longer than 8192 bytes");
  });
});

describe("property: whatever comes in, a message, more wanted, or an HttpError", () => {
  const seeds = [
    request(),
    request(Buffer.alloc(300, 7), { "X-SMGW-Delivery": "gw/p/1", "Content-Type": "a/b" }),
    encodeResponse(201, "Created", '{"receipt":"x"}'),
    encodeResponse(404, "Not Found", ""),
    Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
  ];

  /** Feeds the chunks; anything but a message, undefined or an HttpError fails. */
  function feed(kind: "request" | "response", chunks: Uint8Array[]): void {
    const p = new HttpParser(kind as never) as HttpParser<HttpRequest | HttpResponse>;
    for (const c of chunks) {
      let r: HttpRequest | HttpResponse | undefined;
      try {
        r = p.push(c);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        expect(e.message.length).toBeGreaterThan(0);
        return;
      }
      if (r !== undefined) {
        expect(typeof r.startLine).toBe("string");
        expect(Buffer.isBuffer(r.body)).toBe(true);
        expect(r.body.length).toBe(Number(r.headers["content-length"] ?? "0"));
        if (kind === "response") {
          const s = (r as HttpResponse).status;
          expect(Number.isInteger(s) && s >= 0 && s <= 999).toBe(true);
        } else {
          expect((r as HttpRequest).path.startsWith("/")).toBe(true);
        }
      }
    }
  }

  const kind = fc.constantFrom("request" as const, "response" as const);
  const splits = (bytes: Uint8Array) =>
    fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 6 }).map((cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
      return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
    });

  test("random bytes, in random chunks", () => {
    fc.assert(
      fc.property(
        kind,
        fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 8 }),
        (k, chunks) => feed(k, chunks),
      ),
      { numRuns: 2000 },
    );
  });

  test("random text that looks like HTTP", () => {
    const token = fc.constantFrom(
      "POST ",
      "GET ",
      "HTTP/1.1 ",
      "HTTP/1.0 ",
      "200 ",
      "/x ",
      "\r\n",
      "\r\n\r\n",
      "\n",
      ":",
      " ",
      "Content-Length: ",
      "Transfer-Encoding: ",
      "Host: ",
      "constructor: ",
      "__proto__: ",
      "0",
      "5",
      "999999999",
      "-1",
      "abc",
    );
    fc.assert(
      fc.property(kind, fc.array(token, { maxLength: 40 }), (k, tokens) =>
        feed(k, [Buffer.from(tokens.join(""), "latin1")]),
      ),
      { numRuns: 3000 },
    );
  });

  test("valid messages with bytes changed, inserted or cut, in random chunks", () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(
          fc.tuple(
            fc.constantFrom("set", "insert", "delete"),
            fc.nat(),
            fc.integer({ min: 0, max: 255 }),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        fc.nat({ max: 40 }),
      )
      .map(([seed, edits, truncate]) => {
        const b = [...seed];
        for (const [op, at, value] of edits) {
          const i = at % (b.length + 1);
          if (op === "set" && i < b.length) b[i] = value;
          else if (op === "insert") b.splice(i, 0, value);
          else if (op === "delete") b.splice(i, 1);
        }
        return Uint8Array.from(b.slice(0, Math.max(0, b.length - truncate)));
      });
    fc.assert(
      fc.property(
        kind,
        mutated.chain((bytes) => splits(bytes)),
        (k, chunks) => feed(k, chunks),
      ),
      { numRuns: 3000 },
    );
  });

  test("valid messages in random chunks come out whole", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds).chain((seed) => splits(seed).map((chunks) => ({ seed, chunks }))),
        ({ seed, chunks }) => {
          const k = seed.subarray(0, 5).toString() === "HTTP/" ? "response" : "request";
          const whole = new HttpParser(k as never).push(seed);
          const p = new HttpParser(k as never);
          let last: unknown;
          for (const [i, c] of chunks.entries()) {
            last = p.push(c);
            if (i < chunks.length - 1 && last !== undefined) {
              // Only an empty final piece may follow the message.
              expect(chunks.slice(i + 1).every((r) => r.length === 0)).toBe(true);
              break;
            }
          }
          expect(last).toEqual(whole);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
