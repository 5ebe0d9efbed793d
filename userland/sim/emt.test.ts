// The simulated EMT: a TLS server with mutual authentication against the test SM-PKI that takes
// CMS-signed meter data as HTTP POSTs, checks each signature with `openssl cms -verify`, keeps
// each document once and answers 201, 200 (duplicate), 400, 404 or 503. At the end the meter
// domain's own delivery loop delivers to it over a real TLS channel.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { signCms } from "@smgw/cms";
import { createLogger } from "@smgw/daemon";
import type { IpcClient, MessageType } from "@smgw/ipc";
import { connectTls, type TestPki, type TlsChannel, tr03116Profile } from "@smgw/tls";
import { DeliveryLoop } from "@smgw/unit-meter/delivery.ts";
import { encodeRequest, HttpParser, type HttpResponse } from "@smgw/unit-meter/http.ts";
import { makeSigner, openssl as opensslBytes } from "../lib/cms/test-support.ts";
import { delay, openssl, testPki } from "../lib/tls/test-support.ts";
import { type SimulatedEmt, startEmt } from "./emt.ts";

const EMT = "emt-1";
const PATH = "/smgw/v1/meter-data";
const GROUPS = "brainpoolP256r1:brainpoolP384r1:brainpoolP512r1";

let pki: TestPki;
let emt: SimulatedEmt;
let out: string;
const work = mkdtempSync(path.join(tmpdir(), "smgw-emt-test-"));

beforeAll(() => {
  pki = testPki();
  out = path.join(work, "out");
  emt = startEmt({ address: "127.0.0.1", port: 0, pki, entity: EMT, out });
});

afterAll(() => {
  emt?.stop();
  rmSync(work, { recursive: true, force: true });
});

const der = (pemFile: string) => opensslBytes(["x509", "-in", pemFile, "-outform", "DER"]);

/** CMS SignedData over `content` with the gateway's signature key (chain: cert and sub-CA). */
function signAs(content: string, entity = "smgw"): Promise<Uint8Array> {
  const s = pki.entity(entity, "signature");
  return signCms({
    content: Buffer.from(content),
    certificate: der(s.cert),
    chain: [der(s.issuer)],
    digest: "sha256",
    sign: async (digest) => opensslBytes(["pkeyutl", "-sign", "-inkey", s.key], digest),
  });
}

let serial = 0;
/** An AR 2418-6-like document, different every time. */
const doc = () =>
  `<?xml version="1.0"?><MeterData n="${++serial}" at="${new Date().toISOString()}"/>`;

/** A TLS client with the entity's TLS certificate, checking it talks to the EMT. */
function connect(port: number, entity = "smgw"): Promise<TlsChannel> {
  const e = pki.entity(entity);
  return connectTls({
    host: "127.0.0.1",
    port,
    profile: tr03116Profile(),
    ca: pki.trustAnchor,
    cert: e.chain,
    key: { kind: "file", path: e.key },
    crl: pki.crlBundle,
    expectedPeer: { subject: pki.entity(EMT).subject },
  });
}

interface Exchange {
  response: HttpResponse;
  json: Record<string, unknown>;
  /** The EMT closed the connection after its answer (looked for only when asked). */
  closedAfter: boolean;
}

/** Sends raw bytes on a new connection and reads one HTTP answer. */
async function exchange(
  bytes: Uint8Array,
  port = emt.listener.port,
  waitForClose = false,
): Promise<Exchange> {
  const channel = await connect(port);
  try {
    channel.send(bytes);
    const parser = new HttpParser<HttpResponse>("response");
    let response: HttpResponse | undefined;
    while (!response) {
      const chunk = await channel.receive();
      if (chunk === null) throw new Error("the EMT closed the connection without an answer");
      response = parser.push(chunk);
    }
    // Did the EMT end the session? Look briefly for its close_notify.
    const closedAfter =
      waitForClose &&
      (await Promise.race([channel.closed.then(() => true), delay(2000).then(() => false)]));
    return { response, json: JSON.parse(response.body.toString() || "{}"), closedAfter };
  } finally {
    channel.close();
  }
}

function post(body: Uint8Array, o: { path?: string; delivery?: string; port?: number } = {}) {
  return exchange(
    encodeRequest({
      method: "POST",
      path: o.path ?? PATH,
      host: EMT,
      headers: {
        "Content-Type": "application/pkcs7-mime",
        "X-SMGW-Delivery": o.delivery ?? "smgw-1/taf7-supplier/1",
      },
      body,
    }),
    o.port,
  );
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const indexLines = () =>
  existsSync(path.join(out, "index.jsonl"))
    ? readFileSync(path.join(out, "index.jsonl"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l))
    : [];
const storedFiles = () => readdirSync(out).filter((f) => f.endsWith(".xml"));

async function nextRefusal(before: number): Promise<string> {
  for (let i = 0; i < 300 && emt.refused.length <= before; i++) await delay(10);
  const r = emt.refused[before];
  if (r === undefined) throw new Error("no refusal was recorded");
  return r;
}

describe("deliveries", () => {
  test("a signed document: 201 with its digest, stored, indexed with the signer", async () => {
    const content = doc();
    const cms = await signAs(content);
    const r = await post(cms, { delivery: "smgw-1/taf7-supplier/41" });
    expect(r.response.status).toBe(201);
    expect(r.json).toEqual({ receipt: sha256(cms) });
    const file = path.join(out, `${sha256(cms)}.xml`);
    expect(readFileSync(file, "utf8")).toBe(content);
    const signer = pki.entity("smgw", "signature").subject;
    const client = pki.entity("smgw").subject;
    const record = {
      sha256: sha256(cms),
      signer,
      delivery: "smgw-1/taf7-supplier/41",
      client,
      bytes: Buffer.byteLength(content),
      file,
    };
    expect(signer).toBe("CN=smgw-1,O=SMGW-Test-Operator,C=DE");
    expect(emt.received.at(-1)).toMatchObject(record);
    expect(indexLines().at(-1)).toMatchObject(record);
    expect(Number.isNaN(Date.parse(indexLines().at(-1).at))).toBe(false);
  });

  test("the same delivery again: 200 duplicate, stored and indexed once", async () => {
    const cms = await signAs(doc());
    const first = await post(cms);
    expect(first.response.status).toBe(201);
    const received = emt.received.length;
    const lines = indexLines().length;
    const files = storedFiles().length;
    for (let i = 0; i < 2; i++) {
      const again = await post(cms);
      expect(again.response.status).toBe(200);
      expect(again.json).toEqual({ receipt: sha256(cms), duplicate: true });
    }
    expect(emt.received.length).toBe(received);
    expect(indexLines().length).toBe(lines);
    expect(storedFiles().length).toBe(files);
    expect(indexLines().filter((l) => l.sha256 === sha256(cms))).toHaveLength(1);
  });

  test("a signed message with a changed byte: 400, listed in refused, nothing stored", async () => {
    const content = doc();
    const cms = Buffer.from(await signAs(content));
    // Change a byte of the signed content inside the message.
    const at = cms.indexOf(Buffer.from(content)) + content.indexOf("MeterData");
    expect(at).toBeGreaterThan(0);
    cms.writeUInt8((cms[at] as number) ^ 0x20, at);
    const before = emt.refused.length;
    const received = emt.received.length;
    const r = await post(cms);
    expect(r.response.status).toBe(400);
    expect(String(r.json.error)).toStartWith("signature not verified");
    expect(emt.refused.slice(before)).toEqual([String(r.json.error)]);
    expect(emt.received.length).toBe(received);
    expect(existsSync(path.join(out, `${sha256(cms)}.xml`))).toBe(false);
  });

  test("a signature that is not from the SM-PKI, or not CMS at all: 400", async () => {
    const scratch = mkdtempSync(path.join(work, "foreign-"));
    const foreign = makeSigner(scratch, "foreign", "brainpoolP256r1");
    const content = Buffer.from(doc());
    const cms = await signCms({
      content,
      certificate: foreign.certDer,
      digest: "sha256",
      sign: foreign.sign,
    });
    for (const body of [cms, Buffer.from("not a CMS message"), content]) {
      const before = emt.refused.length;
      const r = await post(body);
      expect(r.response.status).toBe(400);
      expect(String(r.json.error)).toStartWith("signature not verified");
      expect(emt.refused.length).toBe(before + 1);
      expect(existsSync(path.join(out, `${sha256(body)}.xml`))).toBe(false);
    }
  });

  test("another resource or method: 404", async () => {
    const cms = await signAs(doc());
    const received = emt.received.length;
    const r = await post(cms, { path: "/smgw/v1/other" });
    expect(r.response.status).toBe(404);
    expect(r.json).toEqual({ error: "no such resource" });
    const get = await exchange(Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: ${EMT}\r\n\r\n`));
    expect(get.response.status).toBe(404);
    expect(emt.received.length).toBe(received);
  });

  const garbage: [string, string, RegExp][] = [
    ["a malformed request line", "HELLO EMT\r\n\r\n", /malformed request line "HELLO EMT"/],
    [
      "chunked encoding",
      `POST ${PATH} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      /chunked transfer encoding is not accepted/,
    ],
    [
      "a duplicate header",
      `POST ${PATH} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
      /header host given twice/,
    ],
    [
      "a body over the limit",
      `POST ${PATH} HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n`,
      /body of 99999999 bytes is over/,
    ],
  ];
  for (const [name, bytes, reason] of garbage) {
    test(`garbage HTTP (${name}): 400 and the connection closed`, async () => {
      const before = emt.refused.length;
      const r = await exchange(Buffer.from(bytes, "latin1"), emt.listener.port, true);
      expect(r.response.status).toBe(400);
      expect(String(r.json.error)).toMatch(reason);
      expect(r.closedAfter).toBe(true);
      expect(emt.refused.slice(before)).toEqual([String(r.json.error)]);
    });
  }

  test("a request that arrives in many small pieces is answered once it is whole", async () => {
    const cms = await signAs(doc());
    const request = encodeRequest({ method: "POST", path: PATH, host: EMT, body: cms });
    const channel = await connect(emt.listener.port);
    try {
      for (let i = 0; i < request.length; i += 97) {
        channel.send(request.subarray(i, i + 97));
        await delay(1);
      }
      const parser = new HttpParser<HttpResponse>("response");
      let response: HttpResponse | undefined;
      while (!response) {
        const chunk = await channel.receive();
        if (chunk === null) throw new Error("closed");
        response = parser.push(chunk);
      }
      expect(response.status).toBe(201);
    } finally {
      channel.close();
    }
  });
});

describe("failFirst", () => {
  test("failFirst: 1 answers 503 once, then accepts the same delivery with 201", async () => {
    const busyOut = path.join(work, "busy");
    const busy = startEmt({
      address: "127.0.0.1",
      port: 0,
      pki,
      entity: EMT,
      out: busyOut,
      failFirst: 1,
    });
    try {
      const cms = await signAs(doc());
      const first = await post(cms, { port: busy.listener.port });
      expect(first.response.status).toBe(503);
      expect(first.json).toEqual({ error: "try later" });
      expect(busy.received).toHaveLength(0);
      const second = await post(cms, { port: busy.listener.port });
      expect(second.response.status).toBe(201);
      expect(busy.received).toHaveLength(1);
      expect(readdirSync(busyOut).filter((f) => f.endsWith(".xml"))).toHaveLength(1);
    } finally {
      busy.stop();
    }
  });
});

describe("TLS clients the EMT refuses", () => {
  /** s_client as the client; `identity` its -cert/-key arguments (none: no certificate). */
  function sClient(identity: string[]) {
    return openssl(
      [
        "s_client",
        "-connect",
        `127.0.0.1:${emt.listener.port}`,
        "-tls1_2",
        "-groups",
        GROUPS,
        "-CAfile",
        pki.trustAnchor,
        "-ign_eof",
        ...identity,
      ],
      `POST ${PATH} HTTP/1.1\r\nContent-Length: 0\r\n\r\n`,
    );
  }

  test("a client without a certificate is refused at the handshake; the EMT keeps serving", async () => {
    const before = emt.refused.length;
    const received = emt.received.length;
    const run = await sClient([]);
    expect(run.stdout).not.toContain("HTTP/1.1");
    expect(await nextRefusal(before)).toBe("handshake: peer did not return a certificate");
    expect(emt.received.length).toBe(received);
    const r = await post(await signAs(doc()));
    expect(r.response.status).toBe(201);
  });

  test("a client with a certificate from another PKI is refused; the EMT keeps serving", async () => {
    const foreign = pki.entity("foreign-gwa");
    const before = emt.refused.length;
    const run = await sClient([
      "-cert",
      foreign.cert,
      "-cert_chain",
      foreign.issuer,
      "-key",
      foreign.key,
    ]);
    expect(run.stdout).not.toContain("HTTP/1.1");
    expect(await nextRefusal(before)).toMatch(/^verify: /);
    expect((await post(await signAs(doc()))).response.status).toBe(201);
  });

  test("a client with a revoked certificate is refused", async () => {
    const before = emt.refused.length;
    const attempt = await connect(emt.listener.port, "emt-revoked").catch((e: Error) => e);
    if (!(attempt instanceof Error)) attempt.close();
    expect(await nextRefusal(before)).toBe("verify: certificate revoked");
  });
});

describe("the meter domain's delivery loop against the simulated EMT", () => {
  test("a delivery goes over TLS, is verified and stored, and marked done", async () => {
    const content = doc();
    const cms = await signAs(content);
    const outbox = [
      {
        id: 7,
        createdAt: new Date().toISOString(),
        recipient: "emt-supplier",
        contentType: "application/pkcs7-mime",
        payload: Buffer.from(cms).toString("base64"),
        meters: ["meter-1"],
        summary: "TAF7 series",
      },
    ];
    const done: { id: number; receipt: string }[] = [];
    const channels = new Map<string, TlsChannel>();
    let n = 0;
    // The TCM's part, done here with a real TLS channel to the simulated EMT.
    const ifm = {
      request: (async (_to: string, type: MessageType, body: Record<string, unknown>) => {
        switch (type) {
          case "storage.delivery-next":
            return done.length === 0 ? { delivery: outbox[0] } : {};
          case "storage.delivery-done":
            done.push({ id: body.id as number, receipt: body.receipt as string });
            return { done: true };
          case "tcm.open-channel": {
            const id = `ch-${(++n).toString(16).padStart(32, "0")}`;
            channels.set(id, await connect(emt.listener.port));
            return { channel: id, peer: {} };
          }
          case "tcm.send": {
            const data = Buffer.from(body.data as string, "base64");
            channels.get(body.channel as string)?.send(data);
            return { sent: data.length, buffered: 0 };
          }
          case "tcm.receive": {
            const ch = channels.get(body.channel as string) as TlsChannel;
            const chunk = await ch.receive();
            return { data: (chunk ?? Buffer.alloc(0)).toString("base64"), closed: chunk === null };
          }
          case "tcm.close":
            channels.get(body.channel as string)?.close();
            return { closed: true };
          default:
            throw new Error(`unexpected ${type}`);
        }
      }) as unknown as IpcClient["request"],
    };
    const loop = new DeliveryLoop(
      "taf7-supplier",
      { request: ifm.request },
      createLogger("meter", { write: () => {} }),
      {
        sender: "psn-0a1b2c",
        minBackoffMs: 10,
        maxBackoffMs: 50,
      },
    );
    loop.start();
    try {
      for (let i = 0; i < 500 && done.length === 0; i++) await delay(10);
    } finally {
      await loop.stop();
    }
    expect(done).toEqual([{ id: 7, receipt: `201 ${JSON.stringify({ receipt: sha256(cms) })}` }]);
    const record = emt.received.find((r) => r.sha256 === sha256(cms));
    expect(record).toMatchObject({
      delivery: "psn-0a1b2c/taf7-supplier/7",
      client: pki.entity("smgw").subject,
      signer: pki.entity("smgw", "signature").subject,
    });
    expect(readFileSync(record?.file as string, "utf8")).toBe(content);
  });
});
