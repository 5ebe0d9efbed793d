// CRLs whose signatures are verified once per issuer key: the same refusals as OpenSSL's own
// CRL handling, the arithmetic done once, every native object freed with its context.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTlsContext, type TlsContext } from "./context.ts";
import { crlSignatureCounts } from "./crl.ts";
import type { TlsError } from "./errors.ts";
import { nativeCounts } from "./ffi.ts";
import { TlsSession } from "./session.ts";
import { endpoint, testPki } from "./test-support.ts";

const dir = mkdtempSync(path.join(tmpdir(), "smgw-tls-crl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs one handshake in memory; the error of the side that failed, if one did. */
function handshake(client: TlsContext, server: TlsContext): TlsError | undefined {
  const c = new TlsSession(client, { verifyHost: "127.0.0.1" });
  const s = new TlsSession(server);
  try {
    c.start();
    for (let i = 0; i < 20; i++) {
      const a = c.takeOutput();
      const fromServer = a ? s.receive(a) : undefined;
      if (fromServer?.error) return fromServer.error;
      const b = s.takeOutput();
      const fromClient = b ? c.receive(b) : undefined;
      if (fromClient?.error) return fromClient.error;
      if (!a && !b) break;
    }
    if (c.state !== "open" || s.state !== "open") throw new Error(`${c.state}/${s.state}`);
    return undefined;
  } finally {
    c.free();
    s.free();
  }
}

function contextWith(role: "client" | "server", name: string, crl?: string): TlsContext {
  const fields = endpoint(name);
  return createTlsContext({ role, ...fields, ...(crl ? { crl } : {}) });
}

/** The CRL bundle with one byte of `caName`'s CRL signature changed. */
function bundleWithForgedSignature(caName: string): string {
  const pki = testPki();
  const blocks: string[] = [];
  for (const name of pki.smPkiCas) {
    const ca = pki.cas[name];
    if (!ca) throw new Error(`no CA ${name}`);
    const pem = readFileSync(ca.crl, "utf8");
    if (name !== caName) {
      blocks.push(pem);
      continue;
    }
    const body = /-----BEGIN X509 CRL-----([^-]+)-----END X509 CRL-----/.exec(pem)?.[1] ?? "";
    const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
    // The last byte belongs to the signature's s value: still DER, no longer a valid signature.
    der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    blocks.push(`-----BEGIN X509 CRL-----\n${lines.join("\n")}\n-----END X509 CRL-----\n`);
  }
  const file = path.join(dir, `crls-forged-${caName}.pem`);
  writeFileSync(file, blocks.join(""));
  return file;
}

function openssl(args: string[]): string {
  const run = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr.toString()}`);
  return run.stdout.toString();
}

function subjectKeyId(cert: string): string {
  const out = openssl(["x509", "-in", cert, "-noout", "-ext", "subjectKeyIdentifier"]);
  return (out.trim().split("\n").at(-1) ?? "").trim();
}

/**
 * A server chain that copies the gateway's names and key identifiers but not its keys: a leaf
 * "smgw-1" under a sub-CA with the SMGW sub-CA's name and key identifier, issued by a fake root
 * with the root's name and key identifier. OpenSSL takes the real root as its issuer (names and
 * identifiers match) and, as revocation comes before the signatures, checks the SMGW sub-CA's
 * CRL against the impostor's key first.
 */
function impostorServer(): { chain: string; key: string } {
  const pki = testPki();
  const out = (name: string) => path.join(dir, `impostor-${name}`);
  const config = out("openssl.cnf");
  writeFileSync(
    config,
    [
      "[ req ]",
      "distinguished_name = dn",
      "prompt = no",
      "[ dn ]",
      "CN = unused",
      "[ root ]",
      "basicConstraints = critical,CA:TRUE",
      "keyUsage = critical,keyCertSign,cRLSign",
      `subjectKeyIdentifier = ${subjectKeyId(pki.root.cert)}`,
      "[ sub ]",
      "basicConstraints = critical,CA:TRUE",
      "keyUsage = critical,keyCertSign,cRLSign",
      `subjectKeyIdentifier = ${subjectKeyId(pki.cas["smgw-sub-ca"]?.cert ?? "")}`,
      "authorityKeyIdentifier = keyid:always",
      "[ leaf ]",
      "basicConstraints = CA:FALSE",
      "keyUsage = critical,digitalSignature",
      "extendedKeyUsage = serverAuth,clientAuth",
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid:always",
      "subjectAltName = IP:127.0.0.1",
      "",
    ].join("\n"),
  );
  for (const name of ["root", "sub", "leaf"]) {
    openssl([
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:brainpoolP256r1",
      "-out",
      out(`${name}.key`),
    ]);
  }
  const subjects = {
    root: "/C=DE/O=SM-Test-PKI/CN=SM-Test-Root-CA",
    sub: "/C=DE/O=SM-Test-PKI/CN=SM-Test-SMGW-CA",
    leaf: "/C=DE/O=SMGW-Test-Operator/CN=smgw-1",
  };
  openssl([
    "req",
    "-x509",
    "-new",
    "-config",
    config,
    "-extensions",
    "root",
    "-key",
    out("root.key"),
    "-subj",
    subjects.root,
    "-days",
    "30",
    "-out",
    out("root.pem"),
  ]);
  const issue = (name: "sub" | "leaf", issuer: "root" | "sub", serial: string) => {
    const csr = out(`${name}.csr`);
    const key = out(`${name}.key`);
    openssl(["req", "-new", "-config", config, "-key", key, "-subj", subjects[name], "-out", csr]);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      out(`${issuer}.pem`),
      "-CAkey",
      out(`${issuer}.key`),
      "-set_serial",
      serial,
      "-days",
      "30",
      "-extfile",
      config,
      "-extensions",
      name,
      "-out",
      out(`${name}.pem`),
    ]);
  };
  issue("sub", "root", "7001");
  issue("leaf", "sub", "7002");
  const chain = out("chain.pem");
  writeFileSync(
    chain,
    readFileSync(out("leaf.pem"), "utf8") + readFileSync(out("sub.pem"), "utf8"),
  );
  return { chain, key: out("leaf.key") };
}

describe("CRL signatures checked once per issuer key", () => {
  test("each CRL signature is verified once; later handshakes take it from the cache", () => {
    const pki = testPki();
    const client = contextWith("client", "gwa", pki.crlBundle);
    const server = contextWith("server", "smgw", pki.crlBundle);
    try {
      const before = crlSignatureCounts();
      expect(handshake(client, server)).toBeUndefined();
      const first = crlSignatureCounts();
      // Per side: the peer's sub-CA CRL (by the sub-CA), the root's CRL for the sub-CA and for
      // the root itself (by the root). The root's CRL is verified once per context.
      expect(first.verified - before.verified).toBe(4);
      expect(first.skipped - before.skipped).toBe(2);
      for (let i = 0; i < 5; i++) expect(handshake(client, server)).toBeUndefined();
      const later = crlSignatureCounts();
      expect(later.verified).toBe(first.verified);
      expect(later.skipped - first.skipped).toBe(5 * 6);
    } finally {
      client.free();
      server.free();
    }
  });

  test("a CRL with a broken signature is refused at every handshake", () => {
    const forged = bundleWithForgedSignature("smgw-sub-ca");
    const client = contextWith("client", "gwa", forged);
    const server = contextWith("server", "smgw", testPki().crlBundle);
    try {
      for (let i = 0; i < 3; i++) {
        const error = handshake(client, server);
        expect(error?.kind).toBe("verify");
        expect(error?.reason).toBe("CRL signature failure");
      }
    } finally {
      client.free();
      server.free();
    }
  });

  test("a CRL verified under its issuer's key is checked afresh under another key", () => {
    const pki = testPki();
    const client = contextWith("client", "gwa", pki.crlBundle);
    const server = contextWith("server", "smgw", pki.crlBundle);
    const forged = impostorServer();
    const impostor = createTlsContext({
      role: "server",
      ...endpoint("smgw"),
      cert: forged.chain,
      key: { kind: "file", path: forged.key },
    });
    try {
      expect(handshake(client, server)).toBeUndefined();
      const before = crlSignatureCounts();
      for (let i = 0; i < 2; i++) {
        const error = handshake(client, impostor);
        expect(error?.kind).toBe("verify");
        expect(error?.reason).toBe("CRL signature failure");
      }
      // Each attempt verified the sub-CA's CRL under the impostor's key, and failed.
      expect(crlSignatureCounts().verified - before.verified).toBe(2);
      expect(handshake(client, server)).toBeUndefined();
    } finally {
      client.free();
      server.free();
      impostor.free();
    }
  });

  test("a revoked certificate is refused, also once the CRL's signature is cached", () => {
    const pki = testPki();
    const server = contextWith("server", "smgw", pki.crlBundle);
    const good = contextWith("client", "emt-1", pki.crlBundle);
    const revoked = contextWith("client", "emt-revoked", pki.crlBundle);
    try {
      expect(handshake(good, server)).toBeUndefined();
      for (let i = 0; i < 2; i++) {
        const error = handshake(revoked, server);
        expect(error?.kind).toBe("verify");
        expect(error?.reason).toBe("certificate revoked");
      }
      expect(handshake(good, server)).toBeUndefined();
    } finally {
      server.free();
      good.free();
      revoked.free();
    }
  });

  test("the cached CRLs and their reference copies leave with the last context", () => {
    const start = nativeCounts();
    const live = crlSignatureCounts().live;
    const client = contextWith("client", "gwa", testPki().crlBundle);
    const server = contextWith("server", "smgw", testPki().crlBundle);
    const crls = testPki().smPkiCas.length;
    expect(crlSignatureCounts().live - live).toBe(2 * crls);
    // A session keeps its SSL_CTX (and the CRLs) after the context object is freed.
    const session = new TlsSession(client, { verifyHost: "127.0.0.1" });
    client.free();
    server.free();
    expect(crlSignatureCounts().live - live).toBe(crls);
    session.free();
    expect(crlSignatureCounts().live).toBe(live);
    const end = nativeCounts();
    expect(end.allocated.X509_CRL - start.allocated.X509_CRL).toBe(2 * crls);
    expect(end.freed.X509_CRL - start.freed.X509_CRL).toBe(2 * crls);
    expect(end.live).toBe(start.live);
  });

  test("a CRL file without CRLs or certificates is refused", () => {
    const empty = path.join(dir, "empty.pem");
    writeFileSync(empty, "nothing in here\n");
    expect(() => contextWith("client", "gwa", empty)).toThrow(
      `CRL file ${empty} not usable: no certificate or crl found`,
    );
  });
});
