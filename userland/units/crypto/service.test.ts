import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { Value } from "@sinclair/typebox/value";
import { createLogger } from "@smgw/daemon";
import { contractOf, IpcError, isMessageType, type MessageType } from "@smgw/ipc";
import {
  CardModule,
  type CardTransport,
  createSoftwareModule,
  EcKey,
  UnavailableError,
} from "@smgw/secmod";
import { PROPOSED_CONTRACTS, type ProposedType } from "./contracts-proposed.ts";
import { COUNTER_NAMES, CryptoService, STORAGE_DOMAINS } from "./service.ts";

const lines: Record<string, unknown>[] = [];
const log = createLogger("crypto", { write: (l) => lines.push(JSON.parse(l)) });

async function withKeys(): Promise<{ service: CryptoService; spki: Uint8Array }> {
  const m = createSoftwareModule({ production: false, warn: () => {} });
  const pub = await m.generateKeyPair("tls-wan", "brainpoolP256r1");
  return { service: new CryptoService(m, log), spki: pub.spki };
}

function fits(type: ProposedType | MessageType, kind: "request" | "response", v: unknown): boolean {
  if (isMessageType(type)) return contractOf(type)[kind].Check(v);
  return Value.Check(PROPOSED_CONTRACTS[type as ProposedType][kind], v);
}

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(IpcError);
  return (e as IpcError).code;
}

describe("crypto.sign", () => {
  test("the TCM signs with its TLS key; the signature verifies and fits the contract", async () => {
    const { service, spki } = await withKeys();
    for (const [algorithm, hash] of [
      ["ecdsa-sha256", "sha256"],
      ["ecdsa-sha384", "sha384"],
    ] as const) {
      const digest = createHash(hash).update("handshake").digest();
      const body = { key: "tls-wan", algorithm, digest: digest.toString("hex") };
      expect(contractOf("crypto.sign").request.Check(body)).toBe(true);
      const answer = await service.sign(body, "tcm");
      expect(contractOf("crypto.sign").response.Check(answer)).toBe(true);
      const sig = Buffer.from(answer.signature, "hex");
      expect(EcKey.fromSpki(spki).verifyDigest(digest, sig)).toBe(true);
    }
    expect(service.status()).toMatchObject({ securityModule: "software", operations: 2 });
    expect(service.degraded()).toBe(false);
  });

  test("other units and other keys are denied; the digest must fit the algorithm", async () => {
    const { service } = await withKeys();
    const digest = "ab".repeat(32);
    expect(
      await code(service.sign({ key: "tls-wan", algorithm: "ecdsa-sha256", digest }, "meter")),
    ).toBe("denied");
    expect(
      await code(service.sign({ key: "sign", algorithm: "ecdsa-sha256", digest }, "tcm")),
    ).toBe("denied");
    expect(
      await code(service.sign({ key: "tls-wan", algorithm: "ecdsa-sha384", digest }, "tcm")),
    ).toBe("invalid-body");
    expect(
      await code(
        service.sign({ key: "tls-wan", algorithm: "ecdsa-sha256", digest: `${digest}a` }, "tcm"),
      ),
    ).toBe("invalid-body");
  });

  test("a key never generated: key-not-found, with the reason", async () => {
    const m = createSoftwareModule({ production: false, warn: () => {} });
    const service = new CryptoService(m, log);
    const body = { key: "tls-han", algorithm: "ecdsa-sha256" as const, digest: "00".repeat(32) };
    expect(await code(service.sign(body, "tcm"))).toBe("key-not-found");
    expect(service.status().lastError).toMatch(/no such key/);
  });

  test("no module, or an unreachable one: unavailable, and the unit reports degraded", async () => {
    const none = new CryptoService(undefined, log);
    const body = { key: "tls-wan", algorithm: "ecdsa-sha256" as const, digest: "00".repeat(32) };
    expect(await code(none.sign(body, "tcm"))).toBe("unavailable");
    expect(none.degraded()).toBe(true);

    const gone: CardTransport = {
      connected: false,
      connect: async () => {
        throw new UnavailableError("no reader");
      },
      transmit: async () => new Uint8Array(0),
      exclusive: (f) => f(),
      disconnect: async () => {},
      describe: () => "nothing",
    };
    const unreachable = new CryptoService(new CardModule(gone, { pin: "1234" }), log);
    expect(await code(unreachable.sign(body, "tcm"))).toBe("unavailable");
    expect(unreachable.degraded()).toBe(true);
  });
});

describe("proposed crypto messages", () => {
  test("public key, random and key agreement fit their contracts", async () => {
    const { service, spki } = await withKeys();
    const pk = await service.publicKey({ key: "tls-wan" });
    expect(fits("crypto.public-key", "response", pk)).toBe(true);
    expect(pk.spki).toBe(Buffer.from(spki).toString("hex"));
    const r = await service.random({ length: 48 });
    expect(fits("crypto.random", "response", r)).toBe(true);
    expect(r.random.length).toBe(96);
    const peer = EcKey.generate("brainpoolP256r1");
    const req = { key: "tls-wan", peer: Buffer.from(peer.spki()).toString("hex") };
    expect(fits("crypto.agree", "request", req)).toBe(true);
    const agreed = await service.agree(req, "tcm");
    expect(fits("crypto.agree", "response", agreed)).toBe(true);
    expect(agreed.secret).toBe(Buffer.from(peer.derive(EcKey.fromSpki(spki))).toString("hex"));
  });

  test("wrap/unwrap per domain for the storage unit only; a domain's key is made on first wrap", async () => {
    const { service } = await withKeys();
    const dataKey = "11".repeat(32);
    const w = await service.wrap({ domain: "meter", dataKey }, "storage");
    expect(fits("crypto.wrap", "response", w)).toBe(true);
    const u = await service.unwrap({ domain: "meter", wrapped: w.wrapped }, "storage");
    expect(fits("crypto.unwrap", "response", u)).toBe(true);
    expect(u.dataKey).toBe(dataKey);
    await service.wrap({ domain: "admin", dataKey }, "storage");
    expect(await code(service.unwrap({ domain: "admin", wrapped: w.wrapped }, "storage"))).toBe(
      "wrap-integrity",
    );
    expect(await code(service.unwrap({ domain: "cls", wrapped: w.wrapped }, "storage"))).toBe(
      "key-not-found",
    );
    expect(await code(service.wrap({ domain: "meter", dataKey }, "display"))).toBe("denied");
    expect(await code(service.wrap({ domain: "nowhere", dataKey }, "storage"))).toBe(
      "invalid-body",
    );
  });

  test("named counters: monotonic, storage unit only, unknown names refused", async () => {
    const { service } = await withKeys();
    expect(Object.keys(COUNTER_NAMES)).toHaveLength(STORAGE_DOMAINS.length);
    const read = await service.counterRead({ counter: "meter/store" }, "storage");
    expect(fits("crypto.counter-read", "response", read)).toBe(true);
    const inc = await service.counterIncrement({ counter: "meter/store" }, "storage");
    expect(fits("crypto.counter-increment", "response", inc)).toBe(true);
    expect(BigInt(inc.value)).toBe(BigInt(read.value) + 1n);
    expect(await service.counterRead({ counter: "system-log/store" }, "storage")).toEqual({
      value: "0",
    });
    expect(await code(service.counterRead({ counter: "meter/other" }, "storage"))).toBe(
      "invalid-body",
    );
    expect(await code(service.counterIncrement({ counter: "meter/store" }, "tcm"))).toBe("denied");
  });

  test("the proposed schemas refuse what they should", () => {
    expect(fits("crypto.random", "request", { length: 0 })).toBe(false);
    expect(fits("crypto.wrap", "request", { domain: "meter", dataKey: "abc" })).toBe(false);
    expect(fits("crypto.counter-read", "request", { counter: "meter" })).toBe(false);
    expect(fits("crypto.counter-read", "response", { value: "01" })).toBe(false);
  });
});
