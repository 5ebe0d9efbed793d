// Object identifiers used here (dotted form) and the names this package reports them by.

export const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  ecPublicKey: "1.2.840.10045.2.1",
} as const;

/** Digest algorithms verifyCms accepts; signCms makes sha256 and sha384. */
export type DigestName = "sha256" | "sha384" | "sha512";

export const DIGEST_OIDS: Record<DigestName, string> = {
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
};

/** ecdsa-with-SHA* (RFC 5758), keyed by the digest it implies. */
export const ECDSA_OIDS: Record<DigestName, string> = {
  sha256: "1.2.840.10045.4.3.2",
  sha384: "1.2.840.10045.4.3.3",
  sha512: "1.2.840.10045.4.3.4",
};

/** Named curves and the bytes of one coordinate (the length of r and s in a raw signature). */
export const CURVES = {
  "1.2.840.10045.3.1.7": { name: "prime256v1", fieldBytes: 32 },
  "1.3.132.0.34": { name: "secp384r1", fieldBytes: 48 },
  "1.3.132.0.35": { name: "secp521r1", fieldBytes: 66 },
  "1.3.36.3.3.2.8.1.1.7": { name: "brainpoolP256r1", fieldBytes: 32 },
  "1.3.36.3.3.2.8.1.1.11": { name: "brainpoolP384r1", fieldBytes: 48 },
  "1.3.36.3.3.2.8.1.1.13": { name: "brainpoolP512r1", fieldBytes: 64 },
} as const satisfies Record<string, { name: string; fieldBytes: number }>;

export type CurveName = (typeof CURVES)[keyof typeof CURVES]["name"];

/** The digest a digest-algorithm OID names, if it is one of ours. */
export function digestOfOid(oid: string): DigestName | undefined {
  return (Object.keys(DIGEST_OIDS) as DigestName[]).find((d) => DIGEST_OIDS[d] === oid);
}

/** The digest an ecdsa-with-SHA* OID implies, if it is one. */
export function ecdsaDigestOfOid(oid: string): DigestName | undefined {
  return (Object.keys(ECDSA_OIDS) as DigestName[]).find((d) => ECDSA_OIDS[d] === oid);
}

/** Short names for attribute types in distinguished names (RFC 4514 and common extras). */
export const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
  "1.2.840.113549.1.9.1": "emailAddress",
};
