// The profile, its detection, and context set-up errors.
import { describe, expect, test } from "bun:test";
import { connectTls } from "./channel.ts";
import { createTlsContext, type TlsContextOptions } from "./context.ts";
import { TlsError } from "./errors.ts";
import { nativeCounts } from "./ffi.ts";
import {
  BRAINPOOL_GROUPS,
  detectCapabilities,
  type TlsProfile,
  TR03116_TLS12_SUITES,
  tr03116Profile,
} from "./profile.ts";
import { TlsSession } from "./session.ts";
import { context, PROFILE, testPki } from "./test-support.ts";

function options(overrides: Partial<TlsContextOptions> = {}): TlsContextOptions {
  const pki = testPki();
  const gwa = pki.entity("gwa");
  return {
    role: "client",
    profile: PROFILE,
    ca: pki.trustAnchor,
    cert: gwa.chain,
    key: { kind: "file", path: gwa.key },
    crl: pki.crlBundle,
    ...overrides,
  };
}

function configError(overrides: Partial<TlsContextOptions>): TlsError {
  try {
    createTlsContext(options(overrides)).free();
  } catch (error) {
    expect(error).toBeInstanceOf(TlsError);
    return error as TlsError;
  }
  throw new Error("no error");
}

describe("TR-03116-3 profile", () => {
  const caps = detectCapabilities();

  test("capabilities name the OpenSSL in use", () => {
    expect(caps.openSslVersion).toStartWith("OpenSSL 3.");
    expect(caps.openSslVersionNumber).toBeGreaterThanOrEqual(0x30000000);
    if (caps.openSslVersionNumber < 0x30200000) expect(caps.tls13Brainpool).toBe(false);
  });

  test("default profile: the four suites, brainpool groups, mutual, EMS", () => {
    const p = tr03116Profile();
    expect(p.minVersion).toBe("TLSv1.2");
    expect(p.maxVersion).toBe(caps.tls13Brainpool ? "TLSv1.3" : "TLSv1.2");
    expect(p.cipherSuites).toEqual([...TR03116_TLS12_SUITES]);
    expect(p.groups.slice(0, 3)).toEqual([...BRAINPOOL_GROUPS]);
    expect(p.groups).not.toContain("prime256v1");
    expect(p.signatureAlgorithms).toContain("ECDSA+SHA256");
    expect(p.mutualAuthentication).toBe(true);
    expect(p.requireExtendedMasterSecret).toBe(true);
    expect(p.sessionLifetimeSeconds).toBe(48 * 3600);
  });

  test("NIST curves are an option", () => {
    const p = tr03116Profile({ nistCurves: true });
    expect(p.groups).toContain("prime256v1");
    expect(p.groups).toContain("secp384r1");
    expect(p.name).toContain("NIST");
  });

  test.skipIf(caps.tls13Brainpool)(
    "TLS 1.3 on demand is refused where OpenSSL lacks brainpool for it",
    () => {
      expect(() => tr03116Profile({ tls13: true })).toThrow(
        "TLS 1.3 with brainpool groups needs OpenSSL 3.2",
      );
      expect(tr03116Profile({ tls13: "auto" }).maxVersion).toBe("TLSv1.2");
    },
  );

  test("TLS 1.3 can be switched off", () => {
    expect(tr03116Profile({ tls13: false }).maxVersion).toBe("TLSv1.2");
    expect(tr03116Profile({ tls13: false }).tls13CipherSuites).toEqual([]);
  });

  test("a bad session lifetime is refused", () => {
    expect(() => tr03116Profile({ sessionLifetimeSeconds: 0 })).toThrow(TlsError);
    expect(() => tr03116Profile({ sessionLifetimeSeconds: 1.5 })).toThrow("positive whole number");
  });
});

describe("context set-up errors are clear", () => {
  test("missing certificate file", () => {
    const e = configError({ cert: "/nonexistent/cert.pem" });
    expect(e.kind).toBe("config");
    expect(e.reason).toBe("certificate file not found: /nonexistent/cert.pem");
  });

  test("missing key file", () => {
    const e = configError({ key: { kind: "file", path: "/nonexistent/key.pem" } });
    expect(e.reason).toBe("private key file not found: /nonexistent/key.pem");
  });

  test("a key that does not belong to the certificate", () => {
    const e = configError({ key: { kind: "file", path: testPki().entity("smgw").key } });
    expect(e.reason).toContain("key values mismatch");
  });

  test("a certificate file that is not PEM", () => {
    const e = configError({ cert: testPki().crlBundle });
    expect(e.reason).toContain("not usable");
  });

  test("no trust anchor", () => {
    expect(configError({ ca: [] }).reason).toBe("no trust anchor (ca) given");
  });

  test("a missing CRL file", () => {
    expect(configError({ crl: "/nonexistent/crl.pem" }).reason).toBe(
      "CRL file not found: /nonexistent/crl.pem",
    );
  });

  const broken = (patch: Partial<TlsProfile>): TlsProfile => ({ ...PROFILE, ...patch });
  test("an unknown group", () => {
    const e = configError({ profile: broken({ groups: ["brainpoolP999r1"] }) });
    expect(e.reason).toStartWith("groups brainpoolP999r1 not accepted");
  });

  test("an unknown cipher suite", () => {
    const e = configError({ profile: broken({ cipherSuites: ["NO-SUCH-SUITE"] }) });
    expect(e.reason).toStartWith("cipher suites NO-SUCH-SUITE not accepted");
  });

  test("an unknown signature algorithm", () => {
    const e = configError({ profile: broken({ signatureAlgorithms: ["ECDSA+MD4"] }) });
    expect(e.reason).toStartWith("signature algorithms ECDSA+MD4 not accepted");
  });

  test("failed set-ups free what they allocated", () => {
    const before = nativeCounts();
    configError({ cert: "/nonexistent/cert.pem" });
    configError({ key: { kind: "file", path: testPki().entity("smgw").key } });
    expect(nativeCounts().live).toBe(before.live);
  });

  test("a server context cannot connect", async () => {
    const server = context("server", "smgw");
    const error = await connectTls({ host: "127.0.0.1", port: 1, context: server }).catch((e) => e);
    expect(error).toBeInstanceOf(TlsError);
    expect(error.kind).toBe("usage");
    server.free();
  });

  test("a freed context refuses new sessions; free is idempotent", () => {
    const ctx = context("client", "gwa");
    ctx.free();
    ctx.free();
    expect(ctx.freed).toBe(true);
    expect(() => new TlsSession(ctx)).toThrow("the TLS context was freed");
  });
});

describe("key sources", () => {
  test("an OSSL_STORE file: URI gives a working key", () => {
    const gwa = testPki().entity("gwa");
    const before = nativeCounts();
    const ctx = createTlsContext(options({ key: { kind: "store", uri: `file:${gwa.key}` } }));
    ctx.free();
    const after = nativeCounts();
    expect(after.allocated.EVP_PKEY - before.allocated.EVP_PKEY).toBe(1);
    expect(after.live).toBe(before.live);
  });

  test("a store without a private key", () => {
    const e = configError({ key: { kind: "store", uri: `file:${testPki().entity("gwa").cert}` } });
    expect(e.reason).toContain("holds no private key");
  });

  test("a store URI that cannot be opened", () => {
    const e = configError({ key: { kind: "store", uri: "file:/nonexistent/key.pem" } });
    expect(e.reason).toContain('key store "file:/nonexistent/key.pem" could not be opened');
  });

  test("a provider that does not exist", () => {
    const e = configError({
      key: { kind: "store", uri: "handle:0x81000001", providers: ["no-such-provider"] },
    });
    expect(e.reason).toContain('OpenSSL provider "no-such-provider" could not be loaded');
  });

  test("an unknown key source kind", () => {
    const e = configError({ key: { kind: "engine" } as unknown as TlsContextOptions["key"] });
    expect(e.reason).toBe('unknown key source kind "engine"');
  });
});
