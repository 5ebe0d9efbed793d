// A simulated external market participant (EMT) on the WAN: a TLS server (TR-03116-3, mutual
// authentication against the test SM-PKI) that accepts the gateway's meter-data deliveries as
// HTTP POSTs of CMS-signed AR 2418-6 documents. Each delivery's signature is checked with the
// system's `openssl cms -verify` against the PKI's root (independently of the gateway's own
// code), the document kept in the output directory and a receipt answered. A delivery sent again
// (the gateway retries when an answer is lost) is recognised by its digest and confirmed again,
// not stored twice.
//
//   smgw sim emt --policy FILE --pki DIR --entity emt-supplier --address A --port P --out DIR
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestPki } from "@smgw/tls";
import { listenTls, type TlsListener, tr03116Profile } from "@smgw/tls";
import {
  encodeResponse,
  type HttpError,
  HttpParser,
  type HttpRequest,
} from "@smgw/unit-meter/http.ts";

export interface EmtRecord {
  at: string;
  sha256: string;
  /** Subject of the certificate that signed the CMS message. */
  signer: string;
  /** The gateway's X-SMGW-Delivery header: gateway/profile/id. */
  delivery: string;
  /** Subject of the TLS client certificate. */
  client: string;
  bytes: number;
  file: string;
}

export interface SimulatedEmt {
  readonly listener: TlsListener;
  readonly received: EmtRecord[];
  readonly refused: string[];
  stop(): void;
}

export interface EmtOptions {
  address: string;
  port: number;
  pki: TestPki;
  entity: string;
  out: string;
  /** Answer this many first requests with 503 (tests of the gateway's retries). */
  failFirst?: number;
}

/** Checks a CMS signature with the openssl CLI; returns the content and the signer's subject. */
export async function verifyWithOpenssl(
  cms: Uint8Array,
  caFile: string,
): Promise<{ content: Buffer; signer: string }> {
  const work = mkdtempSync(path.join(tmpdir(), "smgw-emt-"));
  try {
    const inFile = path.join(work, "in.der");
    const signerFile = path.join(work, "signer.pem");
    writeFileSync(inFile, cms);
    const p = Bun.spawn(
      [
        "openssl",
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        inFile,
        "-CAfile",
        caFile,
        "-purpose",
        "any",
        "-signer",
        signerFile,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [content, err, code] = await Promise.all([
      new Response(p.stdout).arrayBuffer(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    if (code !== 0) throw new Error(`signature not verified: ${err.trim().split("\n")[0] ?? ""}`);
    const s = Bun.spawnSync(
      ["openssl", "x509", "-in", signerFile, "-noout", "-subject", "-nameopt", "RFC2253"],
      { stdout: "pipe" },
    );
    const signer = s.stdout
      .toString()
      .trim()
      .replace(/^subject=\s*/, "");
    return { content: Buffer.from(content), signer };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function startEmt(o: EmtOptions): SimulatedEmt {
  const identity = o.pki.entity(o.entity);
  mkdirSync(o.out, { recursive: true });
  const received: EmtRecord[] = [];
  const refused: string[] = [];
  const bySha = new Map<string, EmtRecord>();
  let failures = o.failFirst ?? 0;

  const handle = async (req: HttpRequest, client: string): Promise<Buffer> => {
    if (req.method !== "POST" || req.path !== "/smgw/v1/meter-data") {
      return encodeResponse(404, "Not Found", JSON.stringify({ error: "no such resource" }));
    }
    if (failures > 0) {
      failures--;
      return encodeResponse(503, "Service Unavailable", JSON.stringify({ error: "try later" }));
    }
    const sha256 = createHash("sha256").update(req.body).digest("hex");
    const known = bySha.get(sha256);
    if (known) {
      return encodeResponse(200, "OK", JSON.stringify({ receipt: sha256, duplicate: true }));
    }
    let verified: { content: Buffer; signer: string };
    try {
      verified = await verifyWithOpenssl(req.body, o.pki.trustAnchor);
    } catch (e) {
      refused.push((e as Error).message);
      return encodeResponse(400, "Bad Request", JSON.stringify({ error: (e as Error).message }));
    }
    const file = path.join(o.out, `${sha256}.xml`);
    writeFileSync(file, verified.content);
    const rec: EmtRecord = {
      at: new Date().toISOString(),
      sha256,
      signer: verified.signer,
      delivery: req.headers["x-smgw-delivery"] ?? "",
      client,
      bytes: verified.content.length,
      file,
    };
    bySha.set(sha256, rec);
    received.push(rec);
    appendFileSync(path.join(o.out, "index.jsonl"), `${JSON.stringify(rec)}\n`);
    return encodeResponse(201, "Created", JSON.stringify({ receipt: sha256 }));
  };

  const listener = listenTls({
    hostname: o.address,
    port: o.port,
    profile: tr03116Profile(),
    ca: o.pki.trustAnchor,
    cert: identity.chain,
    key: { kind: "file", path: identity.key },
    crl: o.pki.crlBundle,
    onConnection(channel) {
      const parser = new HttpParser<HttpRequest>("request");
      // Requests on one connection are answered in order, one after the other.
      let chain: Promise<void> = Promise.resolve();
      channel.on("data", (data) => {
        let req: HttpRequest | undefined;
        try {
          req = parser.push(data);
        } catch (e) {
          refused.push((e as HttpError).message);
          channel.send(
            encodeResponse(400, "Bad Request", JSON.stringify({ error: (e as Error).message })),
          );
          channel.close();
          return;
        }
        if (!req) return;
        const request = req;
        chain = chain.then(async () => {
          let answer: Buffer;
          try {
            answer = await handle(request, channel.peer.subject);
          } catch (e) {
            answer = encodeResponse(
              500,
              "Internal Server Error",
              JSON.stringify({ error: (e as Error).message }),
            );
          }
          if (channel.isOpen) channel.send(answer);
        });
      });
    },
    onRefused(error) {
      refused.push(`${error.kind}: ${error.reason}`);
    },
  });
  return { listener, received, refused, stop: () => listener.stop(true) };
}

export async function runEmtCli(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (!v) throw new Error(`sim emt needs --${name}`);
    return v;
  };
  const { loadPolicyFile } = await import("@smgw/policy");
  const { createTestPki } = await import("@smgw/tls");
  const { policyEntities } = await import("@smgw/unit-tcm/provision.ts");
  const policy = await loadPolicyFile(arg("policy"));
  const pkiDir = arg("pki");
  if (!existsSync(pkiDir)) throw new Error(`no test PKI at ${pkiDir}`);
  const pki = createTestPki(pkiDir, { entities: policyEntities(policy) });
  const emt = startEmt({
    address: arg("address"),
    port: Number(arg("port")),
    pki,
    entity: arg("entity"),
    out: arg("out"),
  });
  console.log(`emt ${arg("entity")} listening on ${arg("address")}:${arg("port")}`);
  const stop = () => {
    emt.stop();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await new Promise(() => {});
}
