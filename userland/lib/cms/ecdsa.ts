// ECDSA signature encodings: the DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }, RFC 5480
// and X9.62) that CMS carries, and the raw r || s (two fixed-width big-endian halves) that
// smart cards and PKCS#11 tokens return.
import { DerReader, integerBytes, sequence, TAG, unsignedInteger } from "./der.ts";
import { CmsError } from "./errors.ts";

/** r and s of a DER ECDSA-Sig-Value, or undefined when `signature` is not one. */
export function decodeEcdsaDer(
  signature: Uint8Array,
): { r: Uint8Array; s: Uint8Array } | undefined {
  try {
    const top = new DerReader(signature, "ECDSA-Sig-Value");
    const seq = top.enterNext(TAG.SEQUENCE, "SEQUENCE");
    top.end();
    const r = integerBytes(seq.expect(TAG.INTEGER, "r"), "r");
    const s = integerBytes(seq.expect(TAG.INTEGER, "s"), "s");
    seq.end();
    // Both must be positive: the sign bit of the first octet clear, and not zero.
    if (!isPositive(r) || !isPositive(s)) return undefined;
    return { r, s };
  } catch (error) {
    if (error instanceof CmsError) return undefined;
    throw error;
  }
}

function isPositive(integer: Uint8Array): boolean {
  return (integer[0] ?? 0) < 0x80 && integer.some((b) => b !== 0);
}

/** The DER ECDSA-Sig-Value of unsigned big-endian r and s. */
export function encodeEcdsaDer(r: Uint8Array, s: Uint8Array): Uint8Array {
  return sequence(unsignedInteger(r), unsignedInteger(s));
}

/** DER from a raw r || s of 2 × `fieldBytes` bytes; undefined when the length or values do not fit. */
export function rawToDer(raw: Uint8Array, fieldBytes: number): Uint8Array | undefined {
  if (raw.length !== 2 * fieldBytes) return undefined;
  const r = raw.subarray(0, fieldBytes);
  const s = raw.subarray(fieldBytes);
  if (!r.some((b) => b !== 0) || !s.some((b) => b !== 0)) return undefined;
  return encodeEcdsaDer(r, s);
}

/**
 * The DER signatures `signature` may stand for: itself when it is a DER ECDSA-Sig-Value, and the
 * DER of its halves when it has the length of a raw r || s. Usually exactly one; the caller
 * keeps the one that verifies.
 */
export function signatureCandidates(signature: Uint8Array, fieldBytes: number): Uint8Array[] {
  const candidates: Uint8Array[] = [];
  if (decodeEcdsaDer(signature)) candidates.push(new Uint8Array(signature));
  const fromRaw = rawToDer(signature, fieldBytes);
  if (fromRaw) candidates.push(fromRaw);
  return candidates;
}
