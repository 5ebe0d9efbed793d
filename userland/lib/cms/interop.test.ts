/**
 * Interoperability with OpenSSL 3: what signCms builds, `openssl cms -verify` accepts, and what
 * `openssl cms -sign` builds, verifyCms accepts; brainpool and NIST curves, SHA-256 and SHA-384.
 * Keys live in openssl's files; the sign callback runs `openssl pkeyutl`, like a security module
 * that only ever sees the digest.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { decodeEcdsaDer } from "./ecdsa.ts";
import { OID, parseCms, signCms, verifyCms } from "./index.ts";
import {
  derToRaw,
  makeIssued,
  makeSigner,
  openssl,
  opensslStatus,
  readBytes,
  scratch,
  type TestSigner,
  writeFile,
} from "./test-support.ts";

const { dir, cleanup } = scratch();
afterAll(cleanup);

const CASES = [
  { curve: "brainpoolP256r1", digest: "sha256", fieldBytes: 32 },
  { curve: "brainpoolP384r1", digest: "sha384", fieldBytes: 48 },
  { curve: "secp384r1", digest: "sha384", fieldBytes: 48 },
] as const;

const SIGNING_TIME = new Date("2030-01-02T03:04:05Z");
const signers = new Map<string, TestSigner>();

beforeAll(() => {
  for (const { curve } of CASES) signers.set(curve, makeSigner(dir, curve, curve));
});

function signerFor(curve: string): TestSigner {
  const signer = signers.get(curve);
  if (!signer) throw new Error(`no signer for ${curve}`);
  return signer;
}

/** `openssl cms -verify` of `der` with `caPem` as the only anchor; the content it recovered. */
function opensslVerify(der: Uint8Array, caPem: string, detachedContent?: Uint8Array): Uint8Array {
  const name = `v-${crypto.randomUUID()}`;
  const input = writeFile(dir, `${name}.cms`, der);
  const out = `${input}.out`;
  const args = ["cms", "-verify", "-inform", "DER", "-in", input, "-binary"];
  args.push("-CAfile", caPem, "-purpose", "any", "-out", out);
  if (detachedContent) args.push("-content", writeFile(dir, `${name}.data`, detachedContent));
  const { code, stderr } = opensslStatus(args);
  expect({ code, stderr: stderr.trim() }).toEqual({
    code: 0,
    stderr: "CMS Verification successful",
  });
  return readBytes(out);
}

test("the openssl CLI is OpenSSL 3", () => {
  expect(new TextDecoder().decode(openssl(["version"]))).toMatch(/^OpenSSL 3\./);
});

describe.each(CASES)("$curve with $digest", ({ curve, digest, fieldBytes }) => {
  const content = new TextEncoder().encode(`meter data for ${curve}\n\u0000\u00ff binary`);

  test("signCms output verifies with openssl cms -verify", async () => {
    const signer = signerFor(curve);
    const der = await signCms({
      content,
      certificate: signer.certDer,
      digest,
      signingTime: SIGNING_TIME,
      sign: signer.sign,
    });
    expect(opensslVerify(der, signer.certPem)).toEqual(content);
    const cms = parseCms(der);
    expect(cms.version).toBe(1);
    expect(cms.contentType).toBe(OID.data);
    expect(cms.content).toEqual(content);
    expect(cms.certificates).toEqual([signer.certDer]);
    expect(cms.digestAlgorithms).toEqual([digest]);
    const info = cms.signerInfo;
    expect(info.version).toBe(1);
    expect(info.issuer.text).toBe(`CN=${curve},O=SMGW Test,C=DE`);
    expect(Buffer.from(info.serialNumber).toString("hex")).toBe("01234567");
    expect(info.digestAlgorithm).toBe(digest);
    expect(info.signatureAlgorithm).toBe(`ecdsa-with-${digest.toUpperCase()}`);
    expect(info.signedAttributes.contentType).toBe(OID.data);
    expect(info.signedAttributes.messageDigest).toEqual(
      new Uint8Array(createHash(digest).update(content).digest()),
    );
    expect(info.signedAttributes.signingTime).toEqual(SIGNING_TIME);
    expect(info.signedAttributes.all.map((a) => a.type)).toEqual([
      OID.contentType,
      OID.signingTime,
      OID.messageDigest,
    ]); // DER order of the encodings
    expect(info.signedAttributesDer[0]).toBe(0x31);
    expect(decodeEcdsaDer(info.signature)).toBeDefined();
    const result = verifyCms(der, { trustedCertificates: [signer.certDer] });
    expect(result.ok && result.chainVerified).toBe(true);
  });

  test("a detached signature verifies with openssl cms -verify -content", async () => {
    const signer = signerFor(curve);
    const der = await signCms({
      content,
      certificate: signer.certDer,
      digest,
      sign: signer.sign,
      detached: true,
    });
    expect(parseCms(der).content).toBeUndefined();
    expect(opensslVerify(der, signer.certPem, content)).toEqual(content);
    expect(verifyCms(der, { content }).ok).toBe(true);
  });

  test("a raw r || s from the callback is encoded as DER", async () => {
    const signer = signerFor(curve);
    let raw: Uint8Array = new Uint8Array(0);
    const der = await signCms({
      content,
      certificate: signer.certDer,
      digest,
      sign: async (d) => {
        raw = derToRaw(await signer.sign(d), fieldBytes);
        return raw;
      },
    });
    expect(raw.length).toBe(2 * fieldBytes);
    const signature = decodeEcdsaDer(parseCms(der).signerInfo.signature);
    expect(signature).toBeDefined();
    expect(derToRaw(parseCms(der).signerInfo.signature, fieldBytes)).toEqual(raw);
    expect(opensslVerify(der, signer.certPem)).toEqual(content);
    expect(verifyCms(der).ok).toBe(true);
  });

  test.each([false, true])("openssl cms -sign output verifies (detached: %p)", (detached) => {
    const signer = signerFor(curve);
    const data = writeFile(dir, `${curve}-${detached}.data`, content);
    const out = `${data}.cms`;
    const args = ["cms", "-sign", "-binary", "-md", digest, "-outform", "DER", "-in", data];
    args.push("-signer", signer.certPem, "-inkey", signer.keyPem, "-out", out);
    if (!detached) args.push("-nodetach");
    openssl(args);
    const der = readBytes(out);
    const result = verifyCms(
      der,
      detached
        ? { content, trustedCertificates: [signer.certDer] }
        : { trustedCertificates: [signer.certDer] },
    );
    if (!result.ok) throw new Error(result.message);
    expect(result.content).toEqual(content);
    expect(result.chainVerified).toBe(true);
    expect(result.signer.der).toEqual(signer.certDer);
    expect(result.signer.subject).toBe(`CN=${curve},O=SMGW Test,C=DE`);
    expect(result.signer.serialNumber).toBe("01:23:45:67");
    expect(result.signingTime).toBeInstanceOf(Date);
    // OpenSSL adds smimeCapabilities; it is kept among the attributes.
    expect(result.cms.signerInfo.signedAttributes.all.length).toBeGreaterThan(3);
    expect(result.cms.signerInfo.digestAlgorithm).toBe(digest);
  });
});

describe("certificate chains", () => {
  test("a signer issued by a CA: our CMS verifies in openssl and ours against the CA", async () => {
    const ca = makeSigner(dir, "Test CA", "brainpoolP256r1", { serial: 1 });
    const leaf = makeIssued(dir, "Gateway", "brainpoolP256r1", ca, 0x7777);
    const content = new TextEncoder().encode("chained");
    const der = await signCms({
      content,
      certificate: leaf.certDer,
      chain: [ca.certDer, leaf.certDer], // the duplicate of the signer is dropped
      digest: "sha256",
      sign: leaf.sign,
    });
    expect(parseCms(der).certificates).toHaveLength(2);
    expect(opensslVerify(der, ca.certPem)).toEqual(content);

    const trusted = verifyCms(der, { trustedCertificates: [ca.certDer] });
    expect(trusted.ok && trusted.chainVerified && trusted.signer.issuer).toBe(
      "CN=Test CA,O=SMGW Test,C=DE",
    );
    const other = makeSigner(dir, "Other CA", "brainpoolP256r1", { serial: 2 });
    const untrusted = verifyCms(der, { trustedCertificates: [other.certDer] });
    expect(untrusted.ok ? "ok" : untrusted.failure).toBe("untrusted");
    expect(untrusted.ok ? "" : untrusted.message).toMatch(
      /self-signed certificate in certificate chain/,
    );

    const expired = verifyCms(der, {
      trustedCertificates: [ca.certDer],
      time: new Date(Date.now() + 90 * 86_400_000),
    });
    expect(expired.ok ? "" : expired.message).toMatch(/certificate has expired/);
  });
});

test("signing times from 2050 on are GeneralizedTime and still verify in openssl", async () => {
  const signer = signerFor("brainpoolP256r1");
  const signingTime = new Date("2051-06-07T08:09:10Z");
  const der = await signCms({
    content: Uint8Array.of(1, 2, 3),
    certificate: signer.certDer,
    digest: "sha256",
    signingTime,
    sign: signer.sign,
  });
  expect(Buffer.from(der).includes(Buffer.from("\x18\x0f20510607080910Z", "latin1"))).toBe(true);
  expect(parseCms(der).signerInfo.signedAttributes.signingTime).toEqual(signingTime);
  expect(opensslVerify(der, signer.certPem)).toEqual(Uint8Array.of(1, 2, 3));
});

test("empty content signs and verifies", async () => {
  const signer = signerFor("secp384r1");
  const der = await signCms({
    content: new Uint8Array(0),
    certificate: signer.certDer,
    digest: "sha384",
    sign: signer.sign,
  });
  expect(opensslVerify(der, signer.certPem)).toEqual(new Uint8Array(0));
  expect(verifyCms(der).ok).toBe(true);
});
