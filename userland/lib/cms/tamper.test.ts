/**
 * Tampering and misuse. A well-formed CMS that does not verify gives `{ ok: false, failure }`;
 * one whose structure is broken, and unusable options, throw CmsError. signCms refuses a
 * signature that does not verify with the certificate before anything leaves it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { DerReader, explicit, oid, sequence, setOf, TAG } from "./der.ts";
import { CmsError, type CmsVerifyResult, OID, parseCms, signCms, verifyCms } from "./index.ts";
import { indexOf, makeSigner, scratch, type TestSigner } from "./test-support.ts";

const { dir, cleanup } = scratch();
afterAll(cleanup);

const CONTENT = new TextEncoder().encode("<delivery>1234.5 kWh</delivery>");
const SIGNING_TIME = new Date("2030-01-02T03:04:05Z");
let signer: TestSigner;
let original: Uint8Array;

beforeAll(async () => {
  signer = makeSigner(dir, "signer", "brainpoolP256r1");
  original = await signCms({
    content: CONTENT,
    certificate: signer.certDer,
    digest: "sha256",
    signingTime: SIGNING_TIME,
    sign: signer.sign,
  });
});

/** The failure name, or "ok". */
function outcome(result: CmsVerifyResult): string {
  return result.ok ? "ok" : result.failure;
}

/** A copy of `der` with `from` (found exactly once) replaced by `to` of the same length. */
function replaceOnce(der: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const at = indexOf(der, from);
  expect(at).toBeGreaterThanOrEqual(0);
  expect(indexOf(der.subarray(at + 1), from)).toBe(-1);
  const copy = der.slice();
  copy.set(to, at);
  return copy;
}

/** `der` with its certificates [0] replaced by `certificates`, the rest unchanged. */
function withCertificates(der: Uint8Array, certificates: Uint8Array[]): Uint8Array {
  const top = new DerReader(der, "t");
  const contentInfo = top.enterNext(TAG.SEQUENCE, "ContentInfo");
  const type = contentInfo.next("contentType");
  const signedData = contentInfo.enterNext(0xa0, "content").enterNext(TAG.SEQUENCE, "SignedData");
  const parts: Uint8Array[] = [];
  while (!signedData.done) {
    const element = signedData.next("element");
    parts.push(element.tag === 0xa0 ? setOf(certificates, 0xa0) : element.der);
  }
  return sequence(type.der, explicit(0, sequence(...parts)));
}

test("the untouched CMS verifies, also from a Buffer, which is left as it was", () => {
  expect(outcome(verifyCms(original))).toBe("ok");
  const buffer = Buffer.from(original);
  const result = verifyCms(buffer);
  expect(outcome(result)).toBe("ok");
  expect(buffer.equals(original)).toBe(true); // the SET re-tagging works on a copy
  expect(result.ok && result.content.constructor).toBe(Uint8Array);
});

describe("tampering is reported as { ok: false, failure }", () => {
  test("changed content: message-digest", () => {
    const tampered = replaceOnce(
      original,
      CONTENT,
      new TextEncoder().encode("<delivery>9234.5 kWh</delivery>"),
    );
    const result = verifyCms(tampered);
    expect(outcome(result)).toBe("message-digest");
    expect(result.ok ? "" : result.message).toBe("the content's sha256 differs from messageDigest");
  });

  test("detached, other content given: message-digest", async () => {
    const detached = await signCms({
      content: CONTENT,
      certificate: signer.certDer,
      digest: "sha256",
      sign: signer.sign,
      detached: true,
    });
    expect(outcome(verifyCms(detached, { content: CONTENT }))).toBe("ok");
    expect(outcome(verifyCms(detached, { content: CONTENT.subarray(1) }))).toBe("message-digest");
  });

  test("changed signingTime attribute: signature", () => {
    const time = (text: string) => Buffer.from(`\x17\x0d${text}`, "latin1");
    const tampered = replaceOnce(original, time("300102030405Z"), time("300102030406Z"));
    expect(parseCms(tampered).signerInfo.signedAttributes.signingTime?.toISOString()).toBe(
      "2030-01-02T03:04:06.000Z",
    );
    expect(outcome(verifyCms(tampered))).toBe("signature");
  });

  test("changed messageDigest attribute: signature", () => {
    const digest = new Uint8Array(createHash("sha256").update(CONTENT).digest());
    const changed = digest.slice();
    changed[0] = (changed[0] ?? 0) ^ 1;
    expect(outcome(verifyCms(replaceOnce(original, digest, changed)))).toBe("signature");
  });

  test("changed signature: signature", () => {
    const tampered = original.slice();
    const last = tampered.length - 1; // the last octet of s: the SignerInfo ends the CMS
    tampered[last] = (tampered[last] ?? 0) ^ 0x01;
    const result = verifyCms(tampered);
    expect(outcome(result)).toBe("signature");
    expect(result.ok ? "" : result.message).toBe(
      "the signature does not verify with the signer certificate's key",
    );
    expect(result.ok ? undefined : result.signer?.der).toEqual(signer.certDer);
  });

  test("eContentType changed (it is not signed): content-type", () => {
    // id-digestedData has the length of id-data; the contentType attribute still says id-data.
    const from = oid(OID.data);
    const to = oid("1.2.840.113549.1.7.5");
    const at = indexOf(original, from); // the first one is eContentType
    const tampered = original.slice();
    tampered.set(to, at);
    expect(parseCms(tampered).contentType).toBe("1.2.840.113549.1.7.5");
    expect(outcome(verifyCms(tampered))).toBe("content-type");
  });

  test("other certificate with the same issuer and serial: signature", () => {
    const impostor = makeSigner(dir, "signer-copy", "brainpoolP256r1", {
      subject: "/C=DE/O=SMGW Test/CN=signer",
    });
    const tampered = withCertificates(original, [impostor.certDer]);
    const result = verifyCms(tampered);
    expect(outcome(result)).toBe("signature");
    expect(result.ok ? undefined : result.signer?.der).toEqual(impostor.certDer);
  });

  test("other certificate with another serial: signer-certificate", () => {
    const other = makeSigner(dir, "other", "brainpoolP256r1", { serial: 99 });
    const result = verifyCms(withCertificates(original, [other.certDer]));
    expect(outcome(result)).toBe("signer-certificate");
    expect(result.ok ? "" : result.message).toBe(
      'no certificate for issuer "CN=signer,O=SMGW Test,C=DE" serial 01:23:45:67',
    );
    // Given separately, the right certificate is found again.
    expect(
      outcome(
        verifyCms(withCertificates(original, [other.certDer]), { certificates: [signer.certDer] }),
      ),
    ).toBe("ok");
  });

  test("no certificates at all: signer-certificate", () => {
    const stripped = withCertificates(original, []);
    expect(parseCms(stripped).certificates).toEqual([]);
    expect(outcome(verifyCms(stripped))).toBe("signer-certificate");
  });

  test("a trust anchor that did not issue the signer: untrusted", () => {
    const anchor = makeSigner(dir, "anchor", "brainpoolP256r1", { serial: 5 });
    const result = verifyCms(original, { trustedCertificates: [anchor.certDer] });
    expect(outcome(result)).toBe("untrusted");
    expect(result.ok ? "" : result.message).toMatch(/^certificate path: /);
    expect(outcome(verifyCms(original, { trustedCertificates: [] }))).toBe("untrusted");
  });
});

describe("broken structure and misuse throw CmsError", () => {
  function kindOf(run: () => unknown): string {
    try {
      run();
    } catch (error) {
      if (error instanceof CmsError) return error.kind;
      throw error;
    }
    return "no error";
  }

  test("a changed tag", () => {
    const tampered = original.slice();
    tampered[0] = 0x31;
    expect(kindOf(() => verifyCms(tampered))).toBe("malformed");
  });

  test("detached without content, attached with content", async () => {
    const detached = await signCms({
      content: CONTENT,
      certificate: signer.certDer,
      digest: "sha256",
      sign: signer.sign,
      detached: true,
    });
    expect(kindOf(() => verifyCms(detached))).toBe("invalid-argument");
    expect(kindOf(() => verifyCms(original, { content: CONTENT }))).toBe("invalid-argument");
  });

  test("options of the wrong type", () => {
    const bad = [
      { time: new Date(Number.NaN) },
      { trustedCertificates: "cert.pem" },
      { certificates: ["not DER"] },
    ] as unknown as Parameters<typeof verifyCms>[1][];
    for (const options of bad)
      expect(kindOf(() => verifyCms(original, options))).toBe("invalid-argument");
  });

  test("a malformed extra or trusted certificate", () => {
    const junk = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01);
    expect(kindOf(() => verifyCms(original, { certificates: [junk] }))).toBe("malformed");
    expect(kindOf(() => verifyCms(original, { trustedCertificates: [junk] }))).toBe("malformed");
  });
});

describe("signCms refuses bad callbacks and options", () => {
  async function signKind(overrides: Partial<Parameters<typeof signCms>[0]>): Promise<string> {
    try {
      await signCms({
        content: CONTENT,
        certificate: signer.certDer,
        digest: "sha256",
        sign: signer.sign,
        ...overrides,
      });
    } catch (error) {
      if (error instanceof CmsError) return `${error.kind}: ${error.message}`;
      throw error;
    }
    return "no error";
  }

  test("a signature by another key", async () => {
    const other = makeSigner(dir, "wrong-key", "brainpoolP256r1");
    expect(await signKind({ sign: other.sign })).toBe(
      "sign: the signature from the sign callback does not verify with the certificate's public key",
    );
  });

  test("bytes that are no signature", async () => {
    expect(await signKind({ sign: async () => new Uint8Array(10) })).toBe(
      "sign: the sign callback returned 10 bytes: neither a DER ECDSA-Sig-Value nor a raw r || s of 64 bytes",
    );
  });

  test("a callback that throws, or returns no bytes", async () => {
    const failing = async (): Promise<Uint8Array> => {
      throw new Error("card removed");
    };
    expect(await signKind({ sign: failing })).toBe("sign: the sign callback failed: card removed");
    const notBytes = (async () => "signature") as unknown as () => Promise<Uint8Array>;
    expect(await signKind({ sign: notBytes })).toBe(
      "sign: the sign callback did not return a Uint8Array",
    );
  });

  test("unusable options", async () => {
    expect(await signKind({ certificate: Uint8Array.of(1, 2, 3) })).toStartWith("malformed:");
    expect(await signKind({ digest: "sha1" as "sha256" })).toStartWith("invalid-argument:");
    expect(await signKind({ contentType: "signedData" as "data" })).toStartWith(
      "invalid-argument:",
    );
    expect(await signKind({ signingTime: new Date(Number.NaN) })).toStartWith("invalid-argument:");
    expect(await signKind({ chain: [Uint8Array.of(0x30, 0x00)] })).toStartWith("malformed:");
  });
});
