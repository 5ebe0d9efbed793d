import { describe, expect, test } from "bun:test";
import { CURVES } from "./module.ts";
import { EcKey, OpenSslError } from "./ossl.ts";

describe("libcrypto EC keys", () => {
  test("sign, verify, derive and private-key persistence on every curve", () => {
    for (const curve of CURVES) {
      const a = EcKey.generate(curve);
      const b = EcKey.generate(curve);
      const digest = new Uint8Array(32).fill(9);
      const pubA = EcKey.fromSpki(a.spki());
      expect(pubA.verifyDigest(digest, a.signDigest(digest))).toBe(true);
      expect(pubA.verifyDigest(digest, b.signDigest(digest))).toBe(false);
      expect(a.derive(EcKey.fromSpki(b.spki()))).toEqual(b.derive(pubA));
      const again = EcKey.fromPrivateDer(a.toPrivateDer(), curve);
      expect(again.spki()).toEqual(a.spki());
      for (const k of [a, b, pubA, again]) k.free();
    }
  });

  test("mismatches and bad bytes are OpenSslErrors", () => {
    const a = EcKey.generate("brainpoolP256r1");
    expect(() => EcKey.fromPrivateDer(a.toPrivateDer(), "prime256v1")).toThrow(
      /expected prime256v1/,
    );
    expect(() => EcKey.fromPrivateDer(Uint8Array.of(1, 2, 3), "prime256v1")).toThrow(OpenSslError);
    expect(() => a.derive(EcKey.generate("prime256v1"))).toThrow(/peer key is on/);
    a.free();
    expect(() => a.spki()).toThrow(/freed/);
    a.free();
  });
});
