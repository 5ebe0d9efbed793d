/**
 * Property tests: whatever the input, parseCms and verifyCms return or throw CmsError (never a
 * RangeError, TypeError or an OpenSSL crash), quickly; and no mutation verifies with other content.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DerReader, explicit, MAX_DEPTH, oid, sequence, setOf, TAG, type Tlv, tlv } from "./der.ts";
import { CmsError, DEFAULT_MAX_BYTES, parseCms, signCms, verifyCms } from "./index.ts";
import { makeIssued, makeSigner, openssl, readBytes, scratch, writeFile } from "./test-support.ts";

/** Generous bound for one call; real runs take well under a millisecond. */
const MAX_MS = 200;
const CONTENT = new TextEncoder().encode("<delivery meter='1EMH0012345678'>42</delivery>");

const { dir, cleanup } = scratch();
afterAll(cleanup);

interface Sample {
  readonly name: string;
  readonly der: Uint8Array;
  /** Anchor for the chain check, so mutations also reach OpenSSL's path validation. */
  readonly anchor: Uint8Array;
}
const samples: Sample[] = [];

beforeAll(async () => {
  const ca = makeSigner(dir, "CA", "brainpoolP256r1", { serial: 1 });
  const leaf = makeIssued(dir, "Gateway", "brainpoolP256r1", ca, 4711);
  const p384 = makeSigner(dir, "p384", "secp384r1");
  const base = { content: CONTENT, signingTime: new Date("2031-02-03T04:05:06Z") };
  samples.push({
    name: "signCms, chain, sha256",
    der: await signCms({
      ...base,
      certificate: leaf.certDer,
      chain: [ca.certDer],
      digest: "sha256",
      sign: leaf.sign,
    }),
    anchor: ca.certDer,
  });
  samples.push({
    name: "signCms, P-384, sha384",
    der: await signCms({ ...base, certificate: p384.certDer, digest: "sha384", sign: p384.sign }),
    anchor: p384.certDer,
  });
  const data = writeFile(dir, "content.bin", CONTENT);
  const out = `${data}.cms`;
  openssl(
    ["cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER"]
      .concat(["-in", data, "-signer", leaf.certPem, "-inkey", leaf.keyPem, "-out", out])
      .concat(["-certfile", ca.certPem]),
  );
  samples.push({ name: "openssl cms -sign", der: readBytes(out), anchor: ca.certDer });
  for (const s of samples)
    expect(verifyCms(s.der, { trustedCertificates: [s.anchor] }).ok).toBe(true);
});

/** Runs parse and verify (with and without the anchor); only CmsError may escape, fast. */
function probe(der: Uint8Array, anchor?: Uint8Array): "ok" | "failed" | "error" {
  const started = performance.now();
  let verdict: "ok" | "failed" | "error" = "error";
  try {
    parseCms(der);
    const result = verifyCms(der, anchor ? { trustedCertificates: [anchor] } : {});
    verdict = result.ok ? "ok" : "failed";
    if (result.ok) expect(result.content).toEqual(CONTENT); // never verifies other content
  } catch (error) {
    if (!(error instanceof CmsError)) throw error;
    expect(error.message.length).toBeGreaterThan(0);
  }
  expect(performance.now() - started).toBeLessThan(MAX_MS);
  return verdict;
}

/** Every element of the DER tree, constructed ones descended into. */
function elements(der: Uint8Array): Tlv[] {
  const found: Tlv[] = [];
  const walk = (reader: DerReader) => {
    while (!reader.done) {
      const element = reader.next("e");
      found.push(element);
      if (element.tag & 0x20) walk(reader.enter(element, "e"));
    }
  };
  walk(new DerReader(der, "walk"));
  return found;
}

/** `der` with the length of `element` set to `length` (length octets resized as needed). */
function withLength(der: Uint8Array, element: Tlv, length: number): Uint8Array {
  const header = element.der.length - element.value.length;
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  const lengthOctets = length < 0x80 ? [length] : [0x80 | octets.length, ...octets];
  return Uint8Array.from([
    ...der.subarray(0, element.offset + 1),
    ...lengthOctets,
    ...der.subarray(element.offset + header),
  ]);
}

test("random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => probe(bytes) !== "ok"),
    { numRuns: 2000 },
  );
});

test("random bytes behind a DER SEQUENCE header", () => {
  const sequence = fc
    .uint8Array({ maxLength: 600 })
    .map((body) => Uint8Array.from([0x30, 0x82, body.length >> 8, body.length & 0xff, ...body]));
  fc.assert(
    fc.property(sequence, (bytes) => probe(bytes) !== "ok"),
    { numRuns: 1000 },
  );
});

describe.each([0, 1, 2])("mutations of sample %i", (index) => {
  const sample = () => {
    const s = samples[index];
    if (!s) throw new Error(`no sample ${index}`);
    return s;
  };

  test("bit flips", () => {
    const { der, anchor } = sample();
    const flips = fc.array(fc.nat({ max: der.length * 8 - 1 }), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(flips, fc.boolean(), (bits, withAnchor) => {
        const mutated = der.slice();
        for (const bit of bits) mutated[bit >> 3] = (mutated[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        probe(mutated, withAnchor ? anchor : undefined);
      }),
      { numRuns: 1500 },
    );
  });

  test("random bytes overwritten or inserted", () => {
    const { der } = sample();
    const edit = fc.record({
      at: fc.nat({ max: der.length }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      insert: fc.boolean(),
    });
    fc.assert(
      fc.property(edit, ({ at, bytes, insert }) => {
        const mutated = insert
          ? Uint8Array.from([...der.subarray(0, at), ...bytes, ...der.subarray(at)])
          : Uint8Array.from([...der.subarray(0, at), ...bytes, ...der.subarray(at + bytes.length)]);
        probe(mutated);
      }),
      { numRuns: 1000 },
    );
  });

  test("truncation at every length is refused", () => {
    const { der } = sample();
    for (let length = 0; length < der.length; length++) {
      const started = performance.now();
      expect(() => parseCms(der.subarray(0, length))).toThrow(CmsError);
      expect(() => verifyCms(der.subarray(0, length))).toThrow(CmsError);
      expect(performance.now() - started).toBeLessThan(MAX_MS);
    }
  });

  test("every length field enlarged is refused, shrunk never escapes", () => {
    const { der } = sample();
    const all = elements(der);
    expect(all.length).toBeGreaterThan(50);
    for (const element of all) {
      const length = element.value.length;
      for (const enlarged of [length + 1, length + 0x100, 64 * 1024 * 1024, 0xffffffff]) {
        const mutated = withLength(der, element, enlarged);
        expect(() => verifyCms(mutated)).toThrow(CmsError);
      }
      if (length > 0) probe(withLength(der, element, length - 1));
    }
  });
});

describe("size limits", () => {
  test("a 64 MiB length claim in a small input is refused at once", () => {
    const started = performance.now();
    const claim = Uint8Array.of(0x30, 0x84, 0x04, 0x00, 0x00, 0x00, 0x06, 0x09);
    expect(() => parseCms(claim)).toThrow(/claims 67108864 bytes, only 2 left/);
    expect(performance.now() - started).toBeLessThan(50);
  });

  test("an input beyond maxBytes is refused before it is read", () => {
    const huge = new Uint8Array(64 * 1024 * 1024);
    huge.set([0x30, 0x84, 0x03, 0xff, 0xff, 0xfa]);
    const started = performance.now();
    let error: unknown;
    try {
      verifyCms(huge);
    } catch (e) {
      error = e;
    }
    expect(performance.now() - started).toBeLessThan(50);
    expect(error).toBeInstanceOf(CmsError);
    expect((error as CmsError).kind).toBe("too-large");
    expect((error as CmsError).message).toBe(
      `CMS of ${huge.length} bytes, limit ${DEFAULT_MAX_BYTES}`,
    );
    const small = samples[0]?.der ?? new Uint8Array(0);
    expect(() => parseCms(small, { maxBytes: small.length - 1 })).toThrow(/limit/);
    expect(parseCms(small, { maxBytes: small.length }).content).toEqual(CONTENT);
  });

  test("nesting inside an attribute value is checked, and refused beyond the depth limit", () => {
    const nested = (levels: number) => {
      let value: Uint8Array = Uint8Array.of(0x05, 0x00);
      for (let i = 0; i < levels; i++) value = sequence(value);
      return value;
    };
    const base = samples[0]?.der ?? new Uint8Array(0);
    const shallow = nested(5);
    const result = verifyCms(withUnsignedAttribute(base, shallow));
    expect(result.ok).toBe(true);
    expect(result.cms.signerInfo.unsignedAttributes[0]?.values[0]).toEqual(shallow);
    const started = performance.now();
    expect(() => verifyCms(withUnsignedAttribute(base, nested(1000)))).toThrow(
      `nesting deeper than ${MAX_DEPTH} levels`,
    );
    expect(performance.now() - started).toBeLessThan(MAX_MS);
  });
});

/** `der` with an unsigned attribute (type 1.2.3.4, one value) added to its SignerInfo. */
function withUnsignedAttribute(der: Uint8Array, value: Uint8Array): Uint8Array {
  const top = new DerReader(der, "t");
  const contentInfo = top.enterNext(TAG.SEQUENCE, "ContentInfo");
  const type = contentInfo.next("contentType");
  const signedData = contentInfo.enterNext(0xa0, "content").enterNext(TAG.SEQUENCE, "SignedData");
  const parts: Uint8Array[] = [];
  while (!signedData.done) {
    const element = signedData.next("element");
    if (element.tag !== TAG.SET || !signedData.done) {
      parts.push(element.der);
      continue;
    }
    const signerInfo = signedData.enter(element, "signerInfos").next("signerInfo");
    const attribute = sequence(oid("1.2.3.4"), setOf([value]));
    parts.push(setOf([tlv(TAG.SEQUENCE, signerInfo.value, tlv(0xa1, attribute))]));
  }
  return sequence(type.der, explicit(0, sequence(...parts)));
}

test("non-Uint8Array input is a CmsError", () => {
  expect(() => parseCms("30" as unknown as Uint8Array)).toThrow(CmsError);
  expect(() => verifyCms([0x30, 0x00] as unknown as Uint8Array)).toThrow(CmsError);
});
