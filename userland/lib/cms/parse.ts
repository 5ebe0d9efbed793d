// Reads a DER ContentInfo holding SignedData (RFC 5652 3, 5) with exactly one SignerInfo that is
// identified by issuerAndSerialNumber and carries signed attributes. Everything else is refused
// with a CmsError: this reader serves the gateway's own deliveries, not every CMS in the wild.
import { DerReader, integerBytes, oidText, readOid, smallInteger, TAG, type Tlv } from "./der.ts";
import { CmsError } from "./errors.ts";
import { type DigestName, digestOfOid, ecdsaDigestOfOid, OID } from "./oids.ts";
import { decodeTime } from "./time.ts";
import { type CmsName, readCertificateAt, readName } from "./x509.ts";

/** Largest input parseCms and verifyCms accept unless told otherwise (16 MiB). */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
/** Most certificates, CRLs, attributes, or values of one attribute accepted. */
export const MAX_ITEMS = 32;

/** An attribute as found: type OID and the DER of each value. */
export interface CmsAttribute {
  readonly type: string;
  readonly values: readonly Uint8Array[];
}

export interface CmsSignedAttributes {
  /** contentType attribute (dotted OID); RFC 5652 requires it to equal eContentType. */
  readonly contentType: string;
  /** messageDigest attribute: the digest of the content. */
  readonly messageDigest: Uint8Array;
  /** signingTime attribute, when present. */
  readonly signingTime: Date | undefined;
  /** Every signed attribute in encoded order, the three above included. */
  readonly all: readonly CmsAttribute[];
}

export interface CmsSignerInfo {
  /** SignerInfo version: 1 (issuerAndSerialNumber). */
  readonly version: number;
  /** Issuer of the signer's certificate. */
  readonly issuer: CmsName;
  /** The certificate's serialNumber INTEGER contents (two's complement, as encoded). */
  readonly serialNumber: Uint8Array;
  readonly digestAlgorithm: DigestName;
  /** "ecdsa-with-SHA256", "ecdsa-with-SHA384" or "ecdsa-with-SHA512". */
  readonly signatureAlgorithm: string;
  readonly signedAttributes: CmsSignedAttributes;
  /** The signed attributes re-tagged as SET (0x31): the exact bytes the signature covers. */
  readonly signedAttributesDer: Uint8Array;
  /** The signature field's contents (for ECDSA a DER ECDSA-Sig-Value; not checked here). */
  readonly signature: Uint8Array;
  readonly unsignedAttributes: readonly CmsAttribute[];
}

export interface ParsedCms {
  /** SignedData version (1 or 3). */
  readonly version: number;
  /** SignedData.digestAlgorithms: names of known digests, dotted OIDs of others. */
  readonly digestAlgorithms: readonly string[];
  /** eContentType (dotted OID); "1.2.840.113549.1.7.1" for id-data. */
  readonly contentType: string;
  /** eContent, or undefined when the signature is detached. */
  readonly content: Uint8Array | undefined;
  /** Every certificate carried, DER, in encoded order. */
  readonly certificates: readonly Uint8Array[];
  /** Every revocation-information element carried, DER, unread. */
  readonly crls: readonly Uint8Array[];
  readonly signerInfo: CmsSignerInfo;
}

export interface ParseOptions {
  /** Refuse larger inputs before reading them (default DEFAULT_MAX_BYTES). */
  readonly maxBytes?: number;
}

/** Reads `der` as ContentInfo(SignedData); throws CmsError on anything else. */
export function parseCms(der: Uint8Array, options: ParseOptions = {}): ParsedCms {
  if (!(der instanceof Uint8Array)) {
    throw new CmsError("invalid-argument", "CMS input must be a Uint8Array");
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (der.length > maxBytes) {
    throw new CmsError("too-large", `CMS of ${der.length} bytes, limit ${maxBytes}`);
  }
  const top = new DerReader(der, "CMS");
  const contentInfo = top.enterNext(TAG.SEQUENCE, "ContentInfo");
  top.end();
  const contentType = readOid(contentInfo, "contentType");
  if (contentType !== OID.signedData) {
    throw new CmsError("unsupported", `content type ${contentType} is not id-signedData`, {
      path: contentInfo.path,
    });
  }
  const explicit = contentInfo.enterNext(0xa0, "content");
  contentInfo.end();
  const signedData = explicit.enterNext(TAG.SEQUENCE, "SignedData");
  explicit.end();
  return readSignedData(signedData);
}

/** SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, [0], [1], signerInfos } */
function readSignedData(reader: DerReader): ParsedCms {
  const version = smallInteger(reader.expect(TAG.INTEGER, "version"), `${reader.path}.version`);
  if (version !== 1 && version !== 3) {
    throw new CmsError("unsupported", `SignedData version ${version} (1 or 3 supported)`, {
      path: `${reader.path}.version`,
    });
  }
  const digestAlgorithms = readDigestAlgorithms(reader.enterNext(TAG.SET, "digestAlgorithms"));
  const { contentType, content } = readEncapContentInfo(
    reader.enterNext(TAG.SEQUENCE, "encapContentInfo"),
  );
  const certificates = readCertificates(reader);
  const crls = readCrls(reader);
  const signerInfos = reader.enterNext(TAG.SET, "signerInfos");
  reader.end();
  const signerInfo = readSignerInfo(signerInfos.enterNext(TAG.SEQUENCE, "[0]"));
  if (!signerInfos.done) {
    throw new CmsError("unsupported", "more than one SignerInfo", { path: signerInfos.path });
  }
  if (!digestAlgorithms.includes(signerInfo.digestAlgorithm)) {
    throw new CmsError(
      "malformed",
      `the signer's digest ${signerInfo.digestAlgorithm} is not listed in digestAlgorithms`,
      { path: `${reader.path}.digestAlgorithms` },
    );
  }
  return { version, digestAlgorithms, contentType, content, certificates, crls, signerInfo };
}

/** DigestAlgorithmIdentifiers: names of the ones we know, dotted OIDs of the rest. */
function readDigestAlgorithms(set: DerReader): string[] {
  const names: string[] = [];
  for (let i = 0; !set.done; i++) {
    if (i >= MAX_ITEMS) throw tooMany("digest algorithms", set.path);
    const algorithm = readAlgorithm(set.enterNext(TAG.SEQUENCE, `[${i}]`));
    names.push(digestOfOid(algorithm) ?? algorithm);
  }
  return names;
}

/** AlgorithmIdentifier with absent or NULL parameters (all the algorithms used here). */
function readAlgorithm(reader: DerReader): string {
  const algorithm = readOid(reader, "algorithm");
  const parameters = reader.optional(TAG.NULL, "parameters");
  if (parameters && parameters.value.length !== 0) {
    throw new CmsError("malformed", "NULL with contents", {
      path: `${reader.path}.parameters`,
      offset: parameters.offset,
    });
  }
  if (!reader.done) {
    throw new CmsError("unsupported", `parameters for algorithm ${algorithm}`, {
      path: reader.path,
    });
  }
  return algorithm;
}

/** EncapsulatedContentInfo ::= SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING OPTIONAL } */
function readEncapContentInfo(reader: DerReader): {
  contentType: string;
  content: Uint8Array | undefined;
} {
  const contentType = readOid(reader, "eContentType");
  let content: Uint8Array | undefined;
  if (!reader.done) {
    const explicit = reader.enterNext(0xa0, "eContent");
    // DER has no constructed OCTET STRING; BER producers that split eContent are refused here.
    content = explicit.expect(TAG.OCTET_STRING, "OCTET STRING").value.slice();
    explicit.end();
  }
  reader.end();
  return { contentType, content };
}

/** certificates [0] IMPLICIT CertificateSet OPTIONAL: plain X.509 certificates only. */
function readCertificates(reader: DerReader): Uint8Array[] {
  const set = reader.optional(0xa0, "certificates");
  if (!set) return [];
  const items = reader.enter(set, "certificates");
  const certificates: Uint8Array[] = [];
  for (let i = 0; !items.done; i++) {
    if (i >= MAX_ITEMS) throw tooMany("certificates", items.path);
    if (items.peekTag() !== TAG.SEQUENCE) {
      throw new CmsError("unsupported", "certificate choice other than an X.509 Certificate", {
        path: `${items.path}[${i}]`,
      });
    }
    certificates.push(readCertificateAt(items, `[${i}]`).der);
  }
  return certificates;
}

/** crls [1] IMPLICIT RevocationInfoChoices OPTIONAL: kept as DER, framing checked only. */
function readCrls(reader: DerReader): Uint8Array[] {
  const set = reader.optional(0xa1, "crls");
  if (!set) return [];
  const items = reader.enter(set, "crls");
  const crls: Uint8Array[] = [];
  for (let i = 0; !items.done; i++) {
    if (i >= MAX_ITEMS) throw tooMany("CRLs", items.path);
    crls.push(items.nextWellFormed(`[${i}]`).der.slice());
  }
  return crls;
}

/**
 * SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT,
 * signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] IMPLICIT OPTIONAL }
 */
function readSignerInfo(reader: DerReader): CmsSignerInfo {
  const path = reader.path;
  const version = smallInteger(reader.expect(TAG.INTEGER, "version"), `${path}.version`);
  if (version !== 1 || reader.peekTag() !== TAG.SEQUENCE) {
    throw new CmsError(
      "unsupported",
      "signer identified by subjectKeyIdentifier (only issuerAndSerialNumber, version 1)",
      { path: `${path}.sid` },
    );
  }
  const sid = reader.enterNext(TAG.SEQUENCE, "issuerAndSerialNumber");
  const issuer = readName(sid, "issuer");
  const serialNumber = integerBytes(sid.expect(TAG.INTEGER, "serialNumber"), `${sid.path}.serial`);
  sid.end();
  const digestOid = readAlgorithm(reader.enterNext(TAG.SEQUENCE, "digestAlgorithm"));
  const digestAlgorithm = digestOfOid(digestOid);
  if (!digestAlgorithm) {
    throw new CmsError("unsupported", `digest algorithm ${digestOid}`, {
      path: `${path}.digestAlgorithm`,
    });
  }
  const attrsElement = reader.optional(0xa0, "signedAttrs");
  if (!attrsElement) {
    throw new CmsError("unsupported", "SignerInfo without signed attributes", { path });
  }
  const all = readAttributes(reader.enter(attrsElement, "signedAttrs"));
  const signedAttributes = interpretSignedAttributes(all, `${path}.signedAttrs`);
  const signatureAlgorithm = readSignatureAlgorithm(reader, digestAlgorithm);
  const signature = reader.expect(TAG.OCTET_STRING, "signature").value.slice();
  const unsigned = reader.optional(0xa1, "unsignedAttrs");
  const unsignedAttributes = unsigned
    ? exportAttributes(readAttributes(reader.enter(unsigned, "unsignedAttrs")))
    : [];
  reader.end();
  return {
    version,
    issuer,
    serialNumber: serialNumber.slice(),
    digestAlgorithm,
    signatureAlgorithm,
    signedAttributes,
    signedAttributesDer: retagAsSet(attrsElement),
    signature,
    unsignedAttributes,
  };
}

/** RFC 5652 5.4: the signature covers the attributes with an EXPLICIT SET OF tag (0x31). */
function retagAsSet(element: Tlv): Uint8Array {
  const der = element.der.slice();
  der[0] = TAG.SET;
  return der;
}

/** ecdsa-with-SHA*, which must name the SignerInfo's digest algorithm. */
function readSignatureAlgorithm(reader: DerReader, digest: DigestName): string {
  const algorithmReader = reader.enterNext(TAG.SEQUENCE, "signatureAlgorithm");
  const algorithm = readAlgorithm(algorithmReader);
  const implied = ecdsaDigestOfOid(algorithm);
  if (!implied) {
    throw new CmsError("unsupported", `signature algorithm ${algorithm} (ECDSA only)`, {
      path: algorithmReader.path,
    });
  }
  if (implied !== digest) {
    throw new CmsError("malformed", `ecdsa-with-${implied} does not match digest ${digest}`, {
      path: algorithmReader.path,
    });
  }
  return `ecdsa-with-${implied.toUpperCase()}`;
}

/** An attribute as read, its values with their positions in the input. */
interface ReadAttribute {
  readonly type: string;
  readonly values: readonly Tlv[];
}

/** SET OF Attribute, Attribute ::= SEQUENCE { attrType OID, attrValues SET OF AttributeValue } */
function readAttributes(reader: DerReader): ReadAttribute[] {
  const attributes: ReadAttribute[] = [];
  for (let i = 0; !reader.done; i++) {
    if (i >= MAX_ITEMS) throw tooMany("attributes", reader.path);
    const attribute = reader.enterNext(TAG.SEQUENCE, `[${i}]`);
    const type = readOid(attribute, "attrType");
    const set = attribute.enterNext(TAG.SET, "attrValues");
    attribute.end();
    const values: Tlv[] = [];
    for (let j = 0; !set.done; j++) {
      if (j >= MAX_ITEMS) throw tooMany("attribute values", set.path);
      values.push(set.nextWellFormed(`[${j}]`));
    }
    if (values.length === 0) {
      throw new CmsError("malformed", `attribute ${type} has no value`, { path: set.path });
    }
    attributes.push({ type, values });
  }
  return attributes;
}

/** contentType and messageDigest (required) and signingTime (optional), each once, one value. */
function interpretSignedAttributes(all: ReadAttribute[], path: string): CmsSignedAttributes {
  const single = (type: string, name: string, required: boolean): Tlv | undefined => {
    const found = all.filter((a) => a.type === type);
    if (found.length === 0 && !required) return undefined;
    if (found.length !== 1) {
      const why = found.length === 0 ? "missing" : "present more than once";
      throw new CmsError("malformed", `signed attribute ${name} ${why}`, { path });
    }
    const values = found[0]?.values ?? [];
    if (values.length !== 1) {
      throw new CmsError("malformed", `signed attribute ${name} must have one value`, { path });
    }
    return values[0];
  };
  const contentType = single(OID.contentType, "contentType", true);
  const messageDigest = single(OID.messageDigest, "messageDigest", true);
  const signingTime = single(OID.signingTime, "signingTime", false);
  if (contentType?.tag !== TAG.OID) {
    throw new CmsError("malformed", "contentType value is not an OBJECT IDENTIFIER", { path });
  }
  if (messageDigest?.tag !== TAG.OCTET_STRING) {
    throw new CmsError("malformed", "messageDigest value is not an OCTET STRING", { path });
  }
  return {
    contentType: oidText(contentType, `${path}.contentType`),
    messageDigest: messageDigest.value.slice(),
    signingTime: signingTime ? decodeTime(signingTime, `${path}.signingTime`) : undefined,
    all: exportAttributes(all),
  };
}

/** Attributes as the caller sees them: copies of each value's DER. */
function exportAttributes(attributes: readonly ReadAttribute[]): CmsAttribute[] {
  return attributes.map(({ type, values }) => ({ type, values: values.map((v) => v.der.slice()) }));
}

function tooMany(what: string, path: string): CmsError {
  return new CmsError("too-large", `more than ${MAX_ITEMS} ${what}`, { path });
}
