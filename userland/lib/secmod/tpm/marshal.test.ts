import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { RefusedError, UnavailableError } from "../module.ts";
import { TpmCommandError, tpmRecovery } from "./backend.ts";
import {
  decodeBlob,
  digest2b,
  eccPoint2b,
  eccPublicTemplate,
  ecdsaScheme,
  encodeBlob,
  nullHashcheck,
  nvCounterPublic,
  parse2b,
  parseEccPoint2bX,
  parseEccPublic,
  parseEcdsaSignature,
  Reader,
  sealedPublicTemplate,
  sensitiveCreate,
  TpmMarshalError,
  Writer,
} from "./marshal.ts";
import {
  classifyRc,
  fromStruct,
  type MuType,
  parseHandleList,
  TssError,
  toStruct,
  tssAvailable,
} from "./tss.ts";

const haveMu = tssAvailable();

describe("TPM wire format", () => {
  test("writer and reader agree", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.nat(),
        fc.uint8Array({ maxLength: 300 }),
        (a, b, c) => {
          const w = new Writer()
            .u16(a)
            .u32(b >>> 0)
            .b(c)
            .done();
          const r = new Reader(w, "test");
          expect(r.u16()).toBe(a);
          expect(r.u32()).toBe(b >>> 0);
          expect(r.b()).toEqual(c);
          r.end();
        },
      ),
    );
    expect(() => new Reader(Uint8Array.of(0, 5, 1), "x").b()).toThrow(/truncated at byte 2/);
    expect(() => new Reader(Uint8Array.of(0, 1, 1, 9), "x").end()).toThrow(/4 bytes left over/);
    expect(() => new Reader(Uint8Array.of(0, 70), "x").b(64)).toThrow(/at most 64/);
  });

  test("the ECC public template parses as an empty P-256 point", () => {
    expect(parseEccPublic(eccPublicTemplate("keypair"))).toEqual({
      x: new Uint8Array(0),
      y: new Uint8Array(0),
    });
    expect(parseEccPublic(eccPublicTemplate("storage")).x.length).toBe(0);
    expect(() => parseEccPublic(sealedPublicTemplate())).toThrow(/not an ECC key/);
  });

  test("parsers refuse truncated and random input with TpmMarshalError", () => {
    const inputs = [
      eccPublicTemplate("keypair"),
      encodeBlob(Uint8Array.of(0, 1, 9), Uint8Array.of(0, 0)),
    ];
    for (const good of inputs) {
      for (let n = 0; n < good.length; n++) {
        try {
          parseEccPublic(good.slice(0, n));
          decodeBlob(good.slice(0, n));
        } catch (e) {
          expect(e).toBeInstanceOf(TpmMarshalError);
        }
      }
    }
    const parsers = [
      parseEccPublic,
      parseEcdsaSignature,
      parseEccPoint2bX,
      decodeBlob,
      (b: Uint8Array) => parse2b(b, "x"),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        for (const p of parsers) {
          try {
            p(b);
          } catch (e) {
            expect(e).toBeInstanceOf(TpmMarshalError);
          }
        }
      }),
    );
  });

  test("key blobs round trip and carry a magic", () => {
    const priv = new Writer().b(Uint8Array.of(1, 2, 3)).done();
    const pub = eccPublicTemplate("keypair");
    expect(decodeBlob(encodeBlob(priv, pub))).toEqual({ priv, pub });
    const bad = encodeBlob(priv, pub);
    bad[0] = 0;
    expect(() => decodeBlob(bad)).toThrow(/magic/);
  });

  test("points: 04 || X || Y only", () => {
    const point = Uint8Array.from([
      4,
      ...new Uint8Array(32).fill(1),
      ...new Uint8Array(32).fill(2),
    ]);
    const w = eccPoint2b(point, 32);
    expect(parseEccPoint2bX(w)).toEqual(new Uint8Array(32).fill(1));
    expect(() => eccPoint2b(point.subarray(1), 32)).toThrow(TpmMarshalError);
  });

  test.skipIf(!haveMu)(
    "every structure sent survives libtss2-mu unmarshal and marshal unchanged",
    () => {
      const cases: [MuType, Uint8Array][] = [
        ["TPM2B_PUBLIC", eccPublicTemplate("keypair")],
        ["TPM2B_PUBLIC", eccPublicTemplate("storage")],
        ["TPM2B_PUBLIC", sealedPublicTemplate()],
        ["TPM2B_PUBLIC", sealedPublicTemplate(true)],
        ["TPM2B_SENSITIVE_CREATE", sensitiveCreate(Uint8Array.of(1, 2, 3), Uint8Array.of(9))],
        ["TPM2B_SENSITIVE_CREATE", sensitiveCreate()],
        ["TPM2B_DIGEST", digest2b(new Uint8Array(32).fill(5))],
        ["TPMT_SIG_SCHEME", ecdsaScheme(0x000b)],
        ["TPMT_TK_HASHCHECK", nullHashcheck()],
        ["TPM2B_NV_PUBLIC", nvCounterPublic(0x01800100)],
        ["TPM2B_ECC_POINT", eccPoint2b(Uint8Array.from([4, ...new Uint8Array(64).fill(3)]), 32)],
      ];
      for (const [type, wire] of cases) {
        expect(fromStruct(type, toStruct(type, wire))).toEqual(wire);
      }
      expect(() => toStruct("TPM2B_PUBLIC", Uint8Array.of(0, 9, 0))).toThrow(TssError);
      expect(() => toStruct("TPM2B_DIGEST", Uint8Array.of(0, 1, 7, 7))).toThrow(/bytes unused/);
    },
  );

  test("handle lists from TPM2_GetCapability", () => {
    const w = new Writer().u32(1).u32(2).u32(0x80000000).u32(0x80000001).done();
    expect(parseHandleList(w)).toEqual([0x80000000, 0x80000001]);
    expect(() => parseHandleList(w.subarray(0, 9))).toThrow(TssError);
    expect(() => parseHandleList(new Writer().u32(6).u32(0).done())).toThrow(/not a handle list/);
  });
});

describe("TPM response codes", () => {
  test("classification by layer and error number", () => {
    expect(classifyRc(0x000a000a).kind).toBe("connection"); // TCTI IO error
    expect(classifyRc(0x00070001).kind).toBe("connection"); // ESYS layer
    expect(classifyRc(0x921).kind).toBe("lockout");
    expect(classifyRc(0x922).kind).toBe("busy");
    expect(classifyRc(0x908).kind).toBe("busy");
    expect(classifyRc(0x902).kind).toBe("memory");
    expect(classifyRc(0x100).kind).toBe("initialize");
    expect(classifyRc(0x98e).kind).toBe("auth"); // session 1, AUTH_FAIL
    expect(classifyRc(0x1df)).toEqual({ kind: "command", tpmError: 0x9f }); // parameter 1, INTEGRITY
    expect(classifyRc(0x910).kind).toBe("stale");
    expect(classifyRc(0x14a)).toEqual({ kind: "command", tpmError: 0x14a });
  });

  test("what the backend does after each kind of failure", () => {
    const e = (rc: number) => new TssError("Esys_Sign", rc);
    expect(tpmRecovery("sign", e(0xa000a), 0, "repeatable", 4)).toEqual({ reset: true });
    expect(tpmRecovery("sign", e(0xa000a), 1, "repeatable", 4).error).toBeInstanceOf(
      UnavailableError,
    );
    expect(tpmRecovery("increment", e(0xa000a), 0, "once", 4).error).toBeInstanceOf(
      UnavailableError,
    );
    expect(tpmRecovery("increment", e(0x910), 0, "once", 4)).toEqual({ reset: true });
    expect(tpmRecovery("sign", e(0x922), 0, "repeatable", 4)).toEqual({
      reset: false,
      delayMs: 20,
    });
    expect(tpmRecovery("sign", e(0x922), 2, "once", 4)).toEqual({ reset: false, delayMs: 80 });
    const busy = tpmRecovery("sign", e(0x922), 3, "repeatable", 4).error;
    expect(busy).toBeInstanceOf(UnavailableError);
    expect(busy?.message).toMatch(/TPM busy/);
    const lockout = tpmRecovery("unwrap", e(0x921), 0, "repeatable", 4).error;
    expect(lockout).toBeInstanceOf(RefusedError);
    expect(lockout?.message).toMatch(/dictionary-attack lockout/);
    expect(tpmRecovery("x", e(0x98e), 0, "repeatable", 4).error).toBeInstanceOf(RefusedError);
    expect(tpmRecovery("x", e(0x1df), 0, "repeatable", 4).error).toBeInstanceOf(TpmCommandError);
    expect(tpmRecovery("x", e(0x902), 0, "repeatable", 4)).toEqual({ reset: true });
  });
});
