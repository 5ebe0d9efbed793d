// The test PKI generator: structure, key usages, idempotence, revocation.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectTls, listenTls } from "./channel.ts";
import { type CaSpec, createTestPki, type EntitySpec, PkiError, revokeCertificate } from "./pki.ts";
import { openssl, PROFILE, testPki } from "./test-support.ts";

async function text(cert: string): Promise<string> {
  return (await openssl(["x509", "-in", cert, "-noout", "-text"])).stdout;
}

describe("the default test PKI", () => {
  test("root on brainpoolP384r1, sub-CAs and end entities on brainpoolP256r1", async () => {
    const pki = testPki();
    expect(await text(pki.trustAnchor)).toContain("ASN1 OID: brainpoolP384r1");
    for (const name of ["gwa-sub-ca", "emt-sub-ca", "smgw-sub-ca"]) {
      const t = await text(pki.cas[name]?.cert as string);
      expect(t).toContain("ASN1 OID: brainpoolP256r1");
      expect(t).toContain("CA:TRUE, pathlen:0");
      expect(t).toContain("Certificate Sign, CRL Sign");
      expect(t).toContain("Issuer: C = DE, O = SM-Test-PKI, CN = SM-Test-Root-CA");
    }
  });

  test("TLS, signature and encryption certificates carry their key usages", async () => {
    const pki = testPki();
    const tls = await text(pki.entity("smgw", "tls").cert);
    expect(tls).toContain("Digital Signature");
    expect(tls).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(tls).toContain("DNS:localhost, IP Address:127.0.0.1");
    const signature = await text(pki.entity("smgw", "signature").cert);
    expect(signature).toContain("Digital Signature, Non Repudiation");
    expect(signature).not.toContain("TLS Web");
    const encryption = await text(pki.entity("smgw", "encryption").cert);
    expect(encryption).toContain("Key Agreement");
    expect(encryption).not.toContain("Digital Signature");
    expect(await text(pki.entity("gwa", "tls-brainpoolP512r1").cert)).toContain(
      "ASN1 OID: brainpoolP512r1",
    );
  });

  test("every entity of the SM-PKI verifies against the root with all CRLs", async () => {
    const pki = testPki();
    for (const name of ["smgw", "gwa", "emt-1", "emt-2", "cls-1", "meter-1", "consumer-1"]) {
      const e = pki.entity(name);
      const run = await openssl([
        "verify",
        ...[
          "-CAfile",
          pki.trustAnchor,
          "-untrusted",
          e.issuer,
          "-crl_check_all",
          "-CRLfile",
          pki.crlBundle,
        ],
        e.cert,
      ]);
      expect(run.stdout.trim()).toBe(`${e.cert}: OK`);
    }
  });

  test("the negative certificates fail as intended", async () => {
    const pki = testPki();
    const verify = (name: string) => {
      const e = pki.entity(name);
      return openssl([
        "verify",
        ...[
          "-CAfile",
          pki.trustAnchor,
          "-untrusted",
          e.issuer,
          "-crl_check_all",
          "-CRLfile",
          pki.crlBundle,
        ],
        ...["-purpose", "sslclient", e.cert],
      ]);
    };
    expect((await verify("emt-revoked")).stdout + (await verify("emt-revoked")).stderr).toContain(
      "certificate revoked",
    );
    expect((await verify("emt-expired")).stderr).toContain("certificate has expired");
    expect((await verify("emt-wrong-usage")).stderr).toContain("unsuitable certificate purpose");
  });

  test("unknown entities and usages are named in the error", () => {
    expect(() => testPki().entity("nobody")).toThrow(PkiError);
    expect(() => testPki().entity("cls-1", "signature")).toThrow(
      "no signature certificate for entity cls-1",
    );
  });
});

describe("a small PKI of its own", () => {
  const cas: CaSpec[] = [
    {
      name: "root",
      subject: { C: "DE", O: "T", CN: "Root" },
      curve: "brainpoolP384r1",
      digest: "sha384",
    },
    {
      name: "sub",
      issuer: "root",
      subject: { C: "DE", O: "T", CN: "Sub" },
      curve: "brainpoolP256r1",
      digest: "sha256",
    },
  ];
  const hosts = { dns: ["localhost"], ip: ["127.0.0.1"] };
  const entities: EntitySpec[] = [
    {
      name: "server",
      issuer: "sub",
      subject: { C: "DE", O: "T", CN: "server" },
      usages: ["tls"],
      ...hosts,
    },
    {
      name: "client",
      issuer: "sub",
      subject: { C: "DE", O: "T", CN: "client" },
      usages: ["tls"],
      ...hosts,
    },
  ];
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-tls-pki-small-"));
  const badDir = mkdtempSync(path.join(tmpdir(), "smgw-tls-pki-bad-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(badDir, { recursive: true, force: true });
  });

  test("a second run keeps every file", () => {
    const first = createTestPki(dir, { cas, entities });
    const cert = first.entity("server").cert;
    const before = { mtime: statSync(cert).mtimeMs, pem: readFileSync(cert, "utf8") };
    const second = createTestPki(dir, { cas, entities });
    expect(statSync(cert).mtimeMs).toBe(before.mtime);
    expect(readFileSync(second.entity("server").cert, "utf8")).toBe(before.pem);
    expect(second.smPkiCas).toEqual(["root", "sub"]);
  });

  test("a revoked client is refused by a new listener", async () => {
    const pki = createTestPki(dir, { cas, entities });
    const identity = (name: string) => {
      const e = pki.entity(name);
      return {
        profile: PROFILE,
        ca: pki.trustAnchor,
        cert: e.chain,
        key: { kind: "file" as const, path: e.key },
        crl: pki.crlBundle,
      };
    };
    const serve = () =>
      listenTls({ port: 0, ...identity("server"), onConnection: (c) => c.close() });
    const first = serve();
    const ok = await connectTls({ host: "127.0.0.1", port: first.port, ...identity("client") });
    ok.close();
    first.stop(true);

    revokeCertificate(pki, pki.entity("client").cert, "sub");
    revokeCertificate(pki, pki.entity("client").cert, "sub"); // idempotent
    const second = serve();
    const error = await connectTls({
      host: "127.0.0.1",
      port: second.port,
      ...identity("client"),
    }).catch((e) => e);
    second.stop(true);
    expect(error.reason).toMatch(/certificate revoked/);
  });

  test("a CA with an undefined issuer is refused", () => {
    const bad: CaSpec[] = [
      cas[0] as CaSpec,
      { ...(cas[1] as CaSpec), name: "orphan", issuer: "missing" },
    ];
    expect(() =>
      createTestPki(badDir, {
        cas: bad,
        entities: [],
      }),
    ).toThrow("CA orphan: issuer missing is not defined before it");
  });
});
