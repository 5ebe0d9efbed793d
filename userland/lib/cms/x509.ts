// Just enough of an X.509 certificate (RFC 5280 4.1) to identify a signer: serial number,
// issuer and subject names, and the subject public key. Nothing here checks the certificate's
// own signature, validity or extensions; chain validation is OpenSSL's (openssl.ts).
import { DerReader, integerBytes, readOid, TAG, type Tlv, toHex } from "./der.ts";
import { CmsError } from "./errors.ts";
import { CURVES, type CurveName, NAME_ATTRIBUTES, OID } from "./oids.ts";

/** A distinguished name: its DER (compared byte for byte) and an RFC 4514-style rendering. */
export interface CmsName {
  readonly der: Uint8Array;
  readonly text: string;
}

/** The EC key of a certificate, when it has one on a curve this package knows. */
export interface EcPublicKey {
  readonly curve: CurveName;
  /** Bytes of one coordinate: r and s of a raw signature each have this length. */
  readonly fieldBytes: number;
}

export interface CertificateInfo {
  /** The whole certificate (DER). */
  readonly der: Uint8Array;
  /** serialNumber INTEGER contents (two's complement, as encoded). */
  readonly serialNumber: Uint8Array;
  readonly issuer: CmsName;
  readonly subject: CmsName;
  /** SubjectPublicKeyInfo (DER), as OpenSSL's d2i_PUBKEY takes it. */
  readonly spki: Uint8Array;
  /** Public key algorithm OID (dotted). */
  readonly keyAlgorithm: string;
  /** Set for id-ecPublicKey keys on a known named curve. */
  readonly ecKey: EcPublicKey | undefined;
}

/** Reads the fields this package needs from a DER certificate filling `der`. */
export function readCertificate(der: Uint8Array, path: string): CertificateInfo {
  if (!(der instanceof Uint8Array)) {
    throw new CmsError("invalid-argument", `${path} must be DER in a Uint8Array`);
  }
  const top = new DerReader(der, path);
  const info = readCertificateAt(top, "Certificate");
  top.end();
  return info;
}

/** Reads one Certificate element from `reader`. */
export function readCertificateAt(reader: DerReader, what: string): CertificateInfo {
  const element = reader.expect(TAG.SEQUENCE, what);
  const cert = reader.enter(element, what);
  const tbs = cert.enterNext(TAG.SEQUENCE, "tbsCertificate");
  cert.expectWellFormed(TAG.SEQUENCE, "signatureAlgorithm");
  cert.expect(TAG.BIT_STRING, "signatureValue");
  cert.end();

  if (tbs.peekTag() === 0xa0) tbs.nextWellFormed("version");
  const serialElement = tbs.expect(TAG.INTEGER, "serialNumber");
  const serialNumber = integerBytes(serialElement, `${tbs.path}.serialNumber`);
  tbs.expectWellFormed(TAG.SEQUENCE, "signature");
  const issuer = readName(tbs, "issuer");
  tbs.expectWellFormed(TAG.SEQUENCE, "validity");
  const subject = readName(tbs, "subject");
  const spkiElement = tbs.expect(TAG.SEQUENCE, "subjectPublicKeyInfo");
  const { keyAlgorithm, ecKey } = readSpki(tbs.enter(spkiElement, "subjectPublicKeyInfo"));
  // issuerUniqueID [1], subjectUniqueID [2], extensions [3]: framing checked, not interpreted.
  while (!tbs.done) tbs.nextWellFormed("extensions");
  return {
    der: element.der.slice(),
    serialNumber: serialNumber.slice(),
    issuer,
    subject,
    spki: spkiElement.der.slice(),
    keyAlgorithm,
    ecKey,
  };
}

/** AlgorithmIdentifier and key of a SubjectPublicKeyInfo; the curve when it is EC. */
function readSpki(spki: DerReader): { keyAlgorithm: string; ecKey: EcPublicKey | undefined } {
  const algorithm = spki.enterNext(TAG.SEQUENCE, "algorithm");
  spki.expect(TAG.BIT_STRING, "subjectPublicKey");
  spki.end();
  const keyAlgorithm = readOid(algorithm, "algorithm");
  if (keyAlgorithm !== OID.ecPublicKey || algorithm.peekTag() !== TAG.OID) {
    while (!algorithm.done) algorithm.nextWellFormed("parameters");
    return { keyAlgorithm, ecKey: undefined };
  }
  const curveOid = readOid(algorithm, "namedCurve");
  algorithm.end();
  const curve = (CURVES as Record<string, { name: CurveName; fieldBytes: number }>)[curveOid];
  return {
    keyAlgorithm,
    ecKey: curve ? { curve: curve.name, fieldBytes: curve.fieldBytes } : undefined,
  };
}

/** Reads a Name (SEQUENCE OF RelativeDistinguishedName) from `reader`. */
export function readName(reader: DerReader, what: string): CmsName {
  const element = reader.expect(TAG.SEQUENCE, what);
  const rdns = reader.enter(element, what);
  const parts: string[] = [];
  for (let i = 0; !rdns.done; i++) {
    const rdn = rdns.enterNext(TAG.SET, `rdn[${i}]`);
    const atvs: string[] = [];
    for (let j = 0; !rdn.done; j++) {
      const atv = rdn.enterNext(TAG.SEQUENCE, `attribute[${j}]`);
      const type = readOid(atv, "type");
      const value = atv.nextWellFormed("value");
      atv.end();
      atvs.push(`${NAME_ATTRIBUTES[type] ?? type}=${renderValue(value)}`);
    }
    if (atvs.length === 0) {
      throw new CmsError("malformed", "empty RelativeDistinguishedName", { path: rdn.path });
    }
    parts.push(atvs.join("+"));
  }
  // RFC 4514 lists the RDNs last first.
  return { der: element.der.slice(), text: parts.reverse().join(",") };
}

/** A directory string as text (RFC 4514 escaping); other types as #hex of their DER. */
function renderValue(value: Tlv): string {
  const v = Buffer.from(value.value);
  switch (value.tag) {
    case TAG.UTF8_STRING:
      return escapeRfc4514(v.toString("utf8"));
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.TELETEX_STRING:
      return escapeRfc4514(v.toString("latin1"));
    case TAG.BMP_STRING:
      if (v.length % 2 === 0) return escapeRfc4514(v.swap16().toString("utf16le"));
      return `#${toHex(value.der)}`;
    default:
      return `#${toHex(value.der)}`;
  }
}

/** RFC 4514 2.4: special characters escaped with a backslash, control characters as \hh. */
function escapeRfc4514(text: string): string {
  const chars = [...text];
  let out = "";
  for (const [i, c] of chars.entries()) {
    const code = c.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0")}`;
    else if ('\\,+"<>;='.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === " " || c === "#")) || (i === chars.length - 1 && c === " ")) {
      out += `\\${c}`;
    } else out += c;
  }
  return out;
}

/** "01:a2:..." for logs, like OpenSSL prints serial numbers. */
export function serialText(serial: Uint8Array): string {
  return toHex(serial).replace(/(..)(?!$)/g, "$1:");
}
