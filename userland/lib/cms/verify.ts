// Checks a SignedData made by signCms (or by any producer within parseCms's subset): the content
// against messageDigest, the ECDSA signature over the signed attributes against the signer's
// certificate, and, when trust anchors are given, the certificate path through OpenSSL.
import { equalBytes } from "./der.ts";
import { CmsError } from "./errors.ts";
import { hash } from "./hash.ts";
import { OID } from "./oids.ts";
import { verifyChain, verifyEcdsaDigest } from "./openssl.ts";
import { type ParsedCms, parseCms } from "./parse.ts";
import { type CertificateInfo, readCertificate, serialText } from "./x509.ts";

export interface VerifyOptions {
  /** The content of a detached signature; must be absent when the CMS carries its content. */
  readonly content?: Uint8Array;
  /** More certificates (DER) to find the signer or intermediates among. */
  readonly certificates?: readonly Uint8Array[];
  /**
   * Trust anchors (DER). When given, the signer's certificate must chain to one of them
   * (OpenSSL X509_verify_cert; CMS and `certificates` serve as intermediates). When absent, no
   * path is checked: compare `signerCertificate` with your own anchor.
   */
  readonly trustedCertificates?: readonly Uint8Array[];
  /** The time the path is validated at; default now. */
  readonly time?: Date;
  /** Largest CMS accepted (default DEFAULT_MAX_BYTES). */
  readonly maxBytes?: number;
}

/** Why a well-formed CMS did not verify. */
export type VerifyFailure =
  | "signer-certificate" // no certificate with the SignerInfo's issuer and serial number
  | "signature" // the signature over the signed attributes does not verify with its key
  | "content-type" // the contentType attribute differs from eContentType
  | "message-digest" // the content's digest differs from the messageDigest attribute
  | "untrusted"; // the signer's certificate does not chain to a trusted certificate

export interface SignerCertificate {
  readonly der: Uint8Array;
  readonly subject: string;
  readonly issuer: string;
  /** Serial number as colon-separated hex. */
  readonly serialNumber: string;
}

export type CmsVerifyResult =
  | {
      readonly ok: true;
      readonly cms: ParsedCms;
      /** The signed content (carried, or the detached content given). */
      readonly content: Uint8Array;
      readonly signer: SignerCertificate;
      readonly signingTime: Date | undefined;
      /** True when trustedCertificates were given and the path validated. */
      readonly chainVerified: boolean;
    }
  | {
      readonly ok: false;
      readonly failure: VerifyFailure;
      readonly message: string;
      readonly cms: ParsedCms;
      /** The signer's certificate, when it was found. */
      readonly signer: SignerCertificate | undefined;
    };

/**
 * Verifies `der`. A malformed or unsupported CMS, or unusable options, throw CmsError; a
 * well-formed CMS that does not verify returns `{ ok: false, failure, message }`.
 */
export function verifyCms(der: Uint8Array, options: VerifyOptions = {}): CmsVerifyResult {
  checkOptions(options);
  const cms = parseCms(der, options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes });
  const content = contentOf(cms, options.content);
  const info = cms.signerInfo;
  const candidates = [...cms.certificates.map((c, i) => readCertificate(c, `certificates[${i}]`))];
  (options.certificates ?? []).forEach((c, i) => {
    candidates.push(readCertificate(c, `options.certificates[${i}]`));
  });
  const signerCert = candidates.find(
    (c) =>
      equalBytes(c.issuer.der, info.issuer.der) && equalBytes(c.serialNumber, info.serialNumber),
  );
  const fail = (failure: VerifyFailure, message: string): CmsVerifyResult => ({
    ok: false,
    failure,
    message,
    cms,
    signer: signerCert ? describe(signerCert) : undefined,
  });
  if (!signerCert) {
    return fail(
      "signer-certificate",
      `no certificate for issuer "${info.issuer.text}" serial ${serialText(info.serialNumber)}`,
    );
  }
  if (signerCert.keyAlgorithm !== OID.ecPublicKey) {
    throw new CmsError("unsupported", `signer key algorithm ${signerCert.keyAlgorithm} (EC only)`);
  }
  const attributesDigest = hash(info.digestAlgorithm, info.signedAttributesDer);
  if (!verifyEcdsaDigest(signerCert.spki, attributesDigest, info.signature)) {
    return fail("signature", "the signature does not verify with the signer certificate's key");
  }
  if (info.signedAttributes.contentType !== cms.contentType) {
    return fail(
      "content-type",
      `contentType attribute ${info.signedAttributes.contentType} differs from eContentType ${cms.contentType}`,
    );
  }
  if (!equalBytes(hash(info.digestAlgorithm, content), info.signedAttributes.messageDigest)) {
    return fail(
      "message-digest",
      `the content's ${info.digestAlgorithm} differs from messageDigest`,
    );
  }
  const chainVerified = checkChain(signerCert, candidates, options);
  if (chainVerified !== true) return fail("untrusted", chainVerified);
  return {
    ok: true,
    cms,
    content,
    signer: describe(signerCert),
    signingTime: info.signedAttributes.signingTime,
    chainVerified: options.trustedCertificates !== undefined,
  };
}

/** What TypeScript cannot check (callers may be plain JavaScript or parsed configuration). */
function checkOptions(options: VerifyOptions): void {
  for (const key of ["certificates", "trustedCertificates"] as const) {
    const list = options[key];
    if (list !== undefined && !Array.isArray(list)) {
      throw new CmsError("invalid-argument", `${key} must be an array of DER certificates`);
    }
  }
  const time = options.time;
  if (time !== undefined && !(time instanceof Date && Number.isFinite(time.getTime()))) {
    throw new CmsError("invalid-argument", "time must be a valid Date");
  }
}

/** The content that was signed: carried, or given for a detached signature (never both). */
function contentOf(cms: ParsedCms, given: Uint8Array | undefined): Uint8Array {
  if (given !== undefined && !(given instanceof Uint8Array)) {
    throw new CmsError("invalid-argument", "content must be a Uint8Array");
  }
  if (cms.content && given) {
    throw new CmsError("invalid-argument", "content given, but the CMS carries its own");
  }
  const content = cms.content ?? given;
  if (!content) {
    throw new CmsError("invalid-argument", "detached signature: pass the content to verify");
  }
  return content;
}

/** True when no anchors were given or the path validates; else OpenSSL's reason. */
function checkChain(
  signer: CertificateInfo,
  candidates: readonly CertificateInfo[],
  options: VerifyOptions,
): true | string {
  const trusted = options.trustedCertificates;
  if (trusted === undefined) return true;
  if (trusted.length === 0) return "no trusted certificates given";
  trusted.forEach((c, i) => {
    readCertificate(c, `options.trustedCertificates[${i}]`);
  });
  const intermediates = candidates.filter((c) => c !== signer).map((c) => c.der);
  const result = verifyChain(signer.der, intermediates, trusted, options.time ?? new Date());
  return result.ok ? true : `certificate path: ${result.reason}`;
}

function describe(cert: CertificateInfo): SignerCertificate {
  return {
    der: cert.der,
    subject: cert.subject.text,
    issuer: cert.issuer.text,
    serialNumber: serialText(cert.serialNumber),
  };
}
