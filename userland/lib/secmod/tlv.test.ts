import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  DerError,
  decodeEcdsaSignature,
  decodeSpki,
  encodeEcdsaSignature,
  encodeSpki,
  toPem,
} from "./der.ts";
import { CURVES } from "./module.ts";
import { EcKey } from "./ossl.ts";
import { readAll, readOne, readTlv, TlvError, tlv } from "./tlv.ts";

describe("BER-TLV", () => {
  test("one-, two- and three-byte tags and long lengths round trip", () => {
    const tags = fc.oneof(
      fc.integer({ min: 1, max: 0x1e }),
      fc.constantFrom(0x7f49, 0x5f20, 0x7c, 0x86, 0x30, 0xdf8101),
    );
    fc.assert(
      fc.property(tags, fc.uint8Array({ maxLength: 70000 }), (tag, value) => {
        const t = readOne(tlv(tag, value));
        expect(t.tag).toBe(tag);
        expect(t.value).toEqual(value);
      }),
      { numRuns: 50 },
    );
  });

  test("malformed TLVs name what is wrong and where", () => {
    expect(() => readTlv(new Uint8Array(0))).toThrow(/missing tag at offset 0/);
    expect(() => readTlv(Uint8Array.of(0x7f))).toThrow(/truncated tag/);
    expect(() => readTlv(Uint8Array.of(0x30))).toThrow(/missing length/);
    expect(() => readTlv(Uint8Array.of(0x30, 0x80))).toThrow(/indefinite length/);
    expect(() => readTlv(Uint8Array.of(0x30, 0x85, 1, 1, 1, 1, 1))).toThrow(/too long/);
    expect(() => readTlv(Uint8Array.of(0x30, 0x82, 1))).toThrow(/truncated length/);
    expect(() => readTlv(Uint8Array.of(0x30, 5, 1))).toThrow(/runs past the end/);
    expect(() => readTlv(Uint8Array.of(0x7f, 0x81, 0x81, 0x01, 0))).toThrow(/longer than three/);
    expect(() => readOne(Uint8Array.of(0x30, 0, 1))).toThrow(/after the TLV/);
    expect(() => readOne(Uint8Array.of(0x31, 0), 0x30)).toThrow(/expected tag 30/);
  });

  test("random bytes never throw anything but TlvError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          readAll(b);
        } catch (e) {
          expect(e).toBeInstanceOf(TlvError);
        }
      }),
    );
  });
});

describe("DER structures", () => {
  test("SPKI from libcrypto decodes, and re-encodes to the same bytes", () => {
    for (const curve of CURVES) {
      const key = EcKey.generate(curve);
      const spki = key.spki();
      const d = decodeSpki(spki);
      expect(d.curve).toBe(curve);
      expect(encodeSpki(curve, d.point)).toEqual(spki);
      expect(toPem("PUBLIC KEY", spki)).toMatch(
        /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END/,
      );
      key.free();
    }
  });

  test("bad SPKIs are DerErrors", () => {
    const good = EcKey.generate("brainpoolP256r1").spki();
    expect(() => decodeSpki(good.slice(0, good.length - 1))).toThrow(DerError);
    const unusedBits = good.slice();
    unusedBits[good.length - 66] = 1;
    expect(() => decodeSpki(unusedBits)).toThrow(DerError);
    expect(() => encodeSpki("prime256v1", Uint8Array.of(4, 1, 2))).toThrow(/04 \|\| X \|\| Y/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(), (noise, pos) => {
        const b = good.slice();
        b[pos % b.length] = noise[0] ?? 0;
        for (const candidate of [noise, b]) {
          try {
            decodeSpki(candidate);
          } catch (e) {
            expect(e).toBeInstanceOf(DerError);
          }
        }
      }),
    );
  });

  test("ECDSA signatures: r, s to DER and back; libcrypto's signatures decode", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (r, s) => {
          expect(decodeEcdsaSignature(encodeEcdsaSignature(r, s), 32)).toEqual({ r, s });
        },
      ),
    );
    const key = EcKey.generate("brainpoolP384r1");
    const sig = key.signDigest(new Uint8Array(48).fill(3));
    const { r, s } = decodeEcdsaSignature(sig, 48);
    expect(encodeEcdsaSignature(r, s)).toEqual(sig);
    expect(() => decodeEcdsaSignature(sig, 32)).toThrow(/longer than 32/);
    expect(() => decodeEcdsaSignature(Uint8Array.of(0x30, 3, 2, 1, 0x80), 32)).toThrow(DerError);
    expect(() => decodeEcdsaSignature(Uint8Array.of(0x30, 2, 2, 0), 32)).toThrow(DerError);
  });
});
