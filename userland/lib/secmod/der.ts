// The few DER structures the security module needs: SubjectPublicKeyInfo for EC keys, ECDSA
// signatures (SEQUENCE of r, s) and PEM armour. Encoding only; no arithmetic.
import { type Curve, InvalidArgumentError, type PublicKeyInfo } from "./module.ts";
import { concat, readAll, readOne, type Tlv, TlvError, tlv } from "./tlv.ts";

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OID = 0x06;

/** DER contents of the object identifiers (without tag and length). */
export const OID_EC_PUBLIC_KEY = Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);
export const CURVE_OIDS: Record<Curve, Uint8Array> = {
  prime256v1: Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07),
  brainpoolP256r1: Uint8Array.of(0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07),
  brainpoolP384r1: Uint8Array.of(0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b),
};

/** Bytes of one coordinate (and of the shared secret). */
export const FIELD_BYTES: Record<Curve, number> = {
  prime256v1: 32,
  brainpoolP256r1: 32,
  brainpoolP384r1: 48,
};

export class DerError extends Error {
  override name = "DerError";
}

export function curveOfOid(oid: Uint8Array): Curve | undefined {
  for (const [curve, known] of Object.entries(CURVE_OIDS) as [Curve, Uint8Array][]) {
    if (equalBytes(known, oid)) return curve;
  }
  return undefined;
}

/** Check an uncompressed point's form and length for `curve` (not whether it is on it). */
export function checkPointEncoding(curve: Curve, point: Uint8Array): void {
  const n = FIELD_BYTES[curve];
  if (point.length !== 1 + 2 * n || point[0] !== 0x04) {
    throw new DerError(
      `point for ${curve} must be 04 || X || Y (${1 + 2 * n} bytes), got ${point.length} bytes` +
        (point.length > 0 ? ` starting ${point[0]?.toString(16).padStart(2, "0")}` : ""),
    );
  }
}

export function encodeSpki(curve: Curve, point: Uint8Array): Uint8Array {
  checkPointEncoding(curve, point);
  return tlv(
    SEQUENCE,
    tlv(SEQUENCE, tlv(OID, OID_EC_PUBLIC_KEY), tlv(OID, CURVE_OIDS[curve])),
    tlv(BIT_STRING, Uint8Array.of(0), point),
  );
}

/** Parse an EC SubjectPublicKeyInfo of one of our curves. */
export function decodeSpki(spki: Uint8Array): { curve: Curve; point: Uint8Array } {
  try {
    const outer = readOne(spki, SEQUENCE);
    const [alg, key, ...rest] = readAll(outer.value);
    if (!alg || !key || rest.length > 0) throw new DerError("SPKI must hold two elements");
    expectTag(alg, SEQUENCE, "algorithm");
    const [algOid, params, ...more] = readAll(alg.value);
    if (!algOid || !params || more.length > 0) {
      throw new DerError("SPKI algorithm must be OID and curve");
    }
    expectTag(algOid, OID, "algorithm OID");
    if (!equalBytes(algOid.value, OID_EC_PUBLIC_KEY)) throw new DerError("not an EC public key");
    expectTag(params, OID, "curve OID");
    const curve = curveOfOid(params.value);
    if (!curve) throw new DerError("curve not supported");
    expectTag(key, BIT_STRING, "public key");
    if (key.value[0] !== 0) throw new DerError("public key BIT STRING has unused bits");
    const point = key.value.slice(1);
    checkPointEncoding(curve, point);
    return { curve, point };
  } catch (e) {
    if (e instanceof TlvError) throw new DerError(`SPKI: ${e.message}`);
    throw e;
  }
}

export function publicKeyInfo(curve: Curve, point: Uint8Array): PublicKeyInfo {
  const spki = encodeSpki(curve, point);
  return { curve, spki, point: point.slice(), pem: toPem("PUBLIC KEY", spki) };
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** ECDSA signature from the raw r and s (big-endian, any length) to DER. */
export function encodeEcdsaSignature(r: Uint8Array, s: Uint8Array): Uint8Array {
  return tlv(SEQUENCE, derInteger(r), derInteger(s));
}

/** DER ECDSA signature to r and s, each left-padded to `size` bytes. */
export function decodeEcdsaSignature(
  sig: Uint8Array,
  size: number,
): { r: Uint8Array; s: Uint8Array } {
  try {
    const seq = readOne(sig, SEQUENCE);
    const [r, s, ...rest] = readAll(seq.value);
    if (!r || !s || rest.length > 0) throw new DerError("signature must hold r and s");
    expectTag(r, INTEGER, "r");
    expectTag(s, INTEGER, "s");
    return { r: unsignedFixed(r.value, size, "r"), s: unsignedFixed(s.value, size, "s") };
  } catch (e) {
    if (e instanceof TlvError) throw new DerError(`ECDSA signature: ${e.message}`);
    throw e;
  }
}

function derInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  if (trimmed.length === 0) return tlv(INTEGER, Uint8Array.of(0));
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(INTEGER, needsPad ? concat(Uint8Array.of(0), trimmed) : trimmed);
}

function unsignedFixed(v: Uint8Array, size: number, what: string): Uint8Array {
  if (v.length === 0) throw new DerError(`${what} is empty`);
  if ((v[0] ?? 0) & 0x80) throw new DerError(`${what} is negative`);
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const mag = v.subarray(i);
  if (mag.length > size) throw new DerError(`${what} longer than ${size} bytes`);
  const out = new Uint8Array(size);
  out.set(mag, size - mag.length);
  return out;
}

function expectTag(t: Tlv, tag: number, what: string): void {
  if (t.tag !== tag) throw new DerError(`${what}: expected tag ${tag}, found ${t.tag}`);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The peer's key as an uncompressed point on `curve`, from a point or an SPKI. */
export function peerPoint(curve: Curve, peer: Uint8Array): Uint8Array {
  if (!(peer instanceof Uint8Array) || peer.length === 0) {
    throw new InvalidArgumentError("peer public key is empty");
  }
  if (peer[0] === 0x04) {
    try {
      checkPointEncoding(curve, peer);
    } catch (e) {
      throw new InvalidArgumentError(`peer public key: ${(e as Error).message}`);
    }
    return peer;
  }
  let decoded: { curve: Curve; point: Uint8Array };
  try {
    decoded = decodeSpki(peer);
  } catch (e) {
    throw new InvalidArgumentError(`peer public key: ${(e as Error).message}`);
  }
  if (decoded.curve !== curve) {
    throw new InvalidArgumentError(`peer key is on ${decoded.curve}, ours on ${curve}`);
  }
  return decoded.point;
}
