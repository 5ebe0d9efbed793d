// Builds ContentInfo(SignedData) version 1 with one SignerInfo (RFC 5652 5), signed by ECDSA
// through a callback: the private key stays in the security module, only a digest goes out.
import { explicit, octetString, oid, sequence, setOf, smallIntegerDer, TAG, tlv } from "./der.ts";
import { signatureCandidates } from "./ecdsa.ts";
import { CmsError } from "./errors.ts";
import { hash } from "./hash.ts";
import { DIGEST_OIDS, type DigestName, ECDSA_OIDS, OID } from "./oids.ts";
import { verifyEcdsaDigest } from "./openssl.ts";
import { encodeTime } from "./time.ts";
import { type CertificateInfo, readCertificate } from "./x509.ts";

export interface SignOptions {
  /** The data to sign (eContent). */
  readonly content: Uint8Array;
  /** eContentType; only "data" (id-data, 1.2.840.113549.1.7.1), the default. */
  readonly contentType?: "data";
  /** The signer's certificate (DER); its key must be an EC key on a known named curve. */
  readonly certificate: Uint8Array;
  /** More certificates to carry (DER), e.g. the sub-CA; duplicates of `certificate` dropped. */
  readonly chain?: readonly Uint8Array[];
  readonly digest: "sha256" | "sha384";
  /** The signingTime attribute, whole seconds; default now. */
  readonly signingTime?: Date;
  /**
   * ECDSA over `digest` (the hash of the signed attributes; sign it as given, do not hash
   * again). Returns a DER ECDSA-Sig-Value or a raw r || s; both are accepted.
   */
  readonly sign: (digest: Uint8Array) => Promise<Uint8Array>;
  /** Leave eContent out (the content travels separately). Default false. */
  readonly detached?: boolean;
}

/** The DER ContentInfo(SignedData) for `options`. */
export async function signCms(options: SignOptions): Promise<Uint8Array> {
  const { content, digest, sign } = checkOptions(options);
  const signer = readCertificate(options.certificate, "certificate");
  const fieldBytes = signer.ecKey?.fieldBytes;
  if (fieldBytes === undefined) {
    throw new CmsError(
      "invalid-argument",
      `the certificate's key is not an EC key on a known named curve (${signer.keyAlgorithm})`,
    );
  }
  const certificates = collectCertificates(signer, options.chain ?? []);
  const signedAttributes = buildSignedAttributes(
    content,
    digest,
    options.signingTime ?? new Date(),
  );
  const toSign = hash(digest, signedAttributes);
  const signature = await callSign(sign, toSign, signer, fieldBytes);
  const signerInfo = sequence(
    smallIntegerDer(1),
    sequence(signer.issuer.der, tlv(TAG.INTEGER, signer.serialNumber)),
    sequence(oid(DIGEST_OIDS[digest])),
    // [0] IMPLICIT: the same contents as the SET that was signed, under tag 0xA0.
    tlv(0xa0, signedAttributes.subarray(headerLength(signedAttributes))),
    sequence(oid(ECDSA_OIDS[digest])),
    octetString(signature),
  );
  const encapContentInfo = options.detached
    ? sequence(oid(OID.data))
    : sequence(oid(OID.data), explicit(0, octetString(content)));
  const signedData = sequence(
    smallIntegerDer(1),
    setOf([sequence(oid(DIGEST_OIDS[digest]))]),
    encapContentInfo,
    setOf(certificates, 0xa0),
    setOf([signerInfo]),
  );
  return sequence(oid(OID.signedData), explicit(0, signedData));
}

/** The options after checking what TypeScript cannot (callers may be plain JavaScript). */
function checkOptions(options: SignOptions): {
  content: Uint8Array;
  digest: DigestName;
  sign: SignOptions["sign"];
} {
  const { content, digest, sign, contentType } = options;
  if (!(content instanceof Uint8Array)) {
    throw new CmsError("invalid-argument", "content must be a Uint8Array");
  }
  if (!(options.certificate instanceof Uint8Array)) {
    throw new CmsError("invalid-argument", "certificate must be DER in a Uint8Array");
  }
  if (digest !== "sha256" && digest !== "sha384") {
    throw new CmsError("invalid-argument", `digest ${String(digest)} (sha256 or sha384)`);
  }
  if (contentType !== undefined && contentType !== "data") {
    throw new CmsError("invalid-argument", `content type ${String(contentType)} (only "data")`);
  }
  if (options.chain !== undefined && !Array.isArray(options.chain)) {
    throw new CmsError("invalid-argument", "chain must be an array of DER certificates");
  }
  if (typeof sign !== "function") {
    throw new CmsError("invalid-argument", "sign must be a function");
  }
  return { content, digest, sign };
}

/** The signer's certificate first, then the chain without duplicates; each must parse. */
function collectCertificates(signer: CertificateInfo, chain: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>([Buffer.from(signer.der).toString("hex")]);
  const certificates = [signer.der];
  chain.forEach((der, i) => {
    const cert = readCertificate(der, `chain[${i}]`).der;
    const key = Buffer.from(cert).toString("hex");
    if (seen.has(key)) return;
    seen.add(key);
    certificates.push(cert);
  });
  return certificates;
}

/** SET OF Attribute: contentType, messageDigest, signingTime, in DER order. */
function buildSignedAttributes(content: Uint8Array, digest: DigestName, time: Date): Uint8Array {
  const attribute = (type: string, value: Uint8Array) => sequence(oid(type), setOf([value]));
  return setOf([
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.messageDigest, octetString(hash(digest, content))),
    attribute(OID.signingTime, encodeTime(time)),
  ]);
}

/**
 * Runs the callback and returns the DER signature, after checking it verifies with the
 * certificate's key: a raw r || s is told from DER that way, and a key that does not belong to
 * the certificate (or a faulty module) is caught here rather than by the receiver.
 */
async function callSign(
  sign: SignOptions["sign"],
  digest: Uint8Array,
  signer: CertificateInfo,
  fieldBytes: number,
): Promise<Uint8Array> {
  let returned: unknown;
  try {
    returned = await sign(digest.slice());
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new CmsError("sign", `the sign callback failed: ${why}`, { cause: error });
  }
  if (!(returned instanceof Uint8Array)) {
    throw new CmsError("sign", "the sign callback did not return a Uint8Array");
  }
  const candidates = signatureCandidates(returned, fieldBytes);
  if (candidates.length === 0) {
    throw new CmsError(
      "sign",
      `the sign callback returned ${returned.length} bytes: neither a DER ECDSA-Sig-Value ` +
        `nor a raw r || s of ${2 * fieldBytes} bytes`,
    );
  }
  const good = candidates.find((der) => verifyEcdsaDigest(signer.spki, digest, der));
  if (!good) {
    throw new CmsError(
      "sign",
      "the signature from the sign callback does not verify with the certificate's public key",
    );
  }
  return good;
}

/** Size of the tag and length octets of a DER element we wrote. */
function headerLength(der: Uint8Array): number {
  const first = der[1] ?? 0;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}
