// Callback keys: the handshake's ECDSA signature made by a function, as the TCM has it made by
// the crypto manager. Both roles, refusals when the function fails or lies, and no leaks.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
// The security module's key class signs the digests here, as the card or TPM would.
import { EcKey } from "@smgw/secmod";
import { type CallbackKeySource, liveCallbackKeys } from "./callback-key.ts";
import { connectTls, listenTls, type TlsChannel } from "./channel.ts";
import { createTlsContext } from "./context.ts";
import { TlsError } from "./errors.ts";
import { nativeCounts } from "./ffi.ts";
import { TlsSession } from "./session.ts";
import { endpoint, PROFILE, testPki } from "./test-support.ts";

function derOfPem(file: string): Uint8Array {
  const text = readFileSync(file, "utf8");
  return Buffer.from(text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

/** The private key of a test entity, held as an EVP_PKEY the way a module would hold it. */
function moduleKey(name: string): EcKey {
  return EcKey.fromPrivateDer(derOfPem(testPki().entity(name).key), "brainpoolP256r1");
}

interface Recorded {
  calls: { length: number; hash: string }[];
  errors: Error[];
}

function callbackKey(
  key: EcKey,
  options: { sign?: (d: Uint8Array) => Uint8Array; publicKey?: Uint8Array | string } = {},
): { source: CallbackKeySource; rec: Recorded } {
  const rec: Recorded = { calls: [], errors: [] };
  const source: CallbackKeySource = {
    kind: "callback",
    sign(digest, hash) {
      rec.calls.push({ length: digest.length, hash });
      return options.sign ? options.sign(digest) : key.signDigest(digest);
    },
    onError: (e) => rec.errors.push(e),
    ...(options.publicKey !== undefined ? { publicKey: options.publicKey } : {}),
  };
  return { source, rec };
}

/** A server presenting `smgw` with `key`, echoing; returns what the clients were refused with. */
function server(key: CallbackKeySource) {
  const refusals: TlsError[] = [];
  const listener = listenTls({
    port: 0,
    ...endpoint("smgw"),
    key,
    onConnection(channel: TlsChannel) {
      channel.on("data", (data) => channel.send(data));
    },
    onRefused: (e) => refusals.push(e),
  });
  return { listener, refusals };
}

describe("a callback key signs the handshake", () => {
  test("as a server: a file-key client connects and sees the certificate's subject", async () => {
    const { source, rec } = callbackKey(moduleKey("smgw"));
    const { listener } = server(source);
    try {
      const client = await connectTls({
        host: "127.0.0.1",
        port: listener.port,
        ...endpoint("gwa"),
      });
      expect(client.peer.subject).toBe("CN=smgw-1,O=SMGW-Test-Operator,C=DE");
      client.send("ping");
      expect(String(await client.receive())).toBe("ping");
      client.close();
      // One signature per handshake (the ServerKeyExchange), over a SHA-256 or SHA-384 digest.
      expect(rec.calls.length).toBe(1);
      expect([32, 48]).toContain(rec.calls[0]?.length ?? 0);
      expect(["sha256", "sha384"]).toContain(rec.calls[0]?.hash ?? "");
      expect(rec.errors).toEqual([]);
    } finally {
      listener.stop(true);
    }
  });

  test("as a client: the server demands mutual authentication and gets it", async () => {
    const subjects: string[] = [];
    const listener = listenTls({
      port: 0,
      ...endpoint("gwa"),
      onConnection: (c) => {
        subjects.push(c.peer.subject);
        c.close();
      },
    });
    try {
      const { source, rec } = callbackKey(moduleKey("smgw"));
      const client = await connectTls({
        host: "127.0.0.1",
        port: listener.port,
        ...endpoint("smgw"),
        key: source,
      });
      expect(await client.receive()).toBeNull();
      expect(subjects).toEqual(["CN=smgw-1,O=SMGW-Test-Operator,C=DE"]);
      expect(rec.calls.length).toBe(1); // the CertificateVerify
    } finally {
      listener.stop(true);
    }
  });

  test("publicKey given as PEM or DER is used when it matches the certificate", () => {
    const key = moduleKey("smgw");
    const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(key.spki()).toString("base64")}\n-----END PUBLIC KEY-----\n`;
    for (const publicKey of [key.spki(), pem]) {
      const ctx = createTlsContext({
        role: "server",
        ...endpoint("smgw"),
        key: callbackKey(key, { publicKey }).source,
      });
      ctx.free();
    }
  });
});

describe("refusals", () => {
  async function refusedHandshake(
    source: CallbackKeySource,
  ): Promise<{ client: TlsError; server: TlsError | undefined }> {
    const { listener, refusals } = server(source);
    try {
      const error = await connectTls({
        host: "127.0.0.1",
        port: listener.port,
        ...endpoint("gwa"),
        handshakeTimeoutMs: 3000,
      }).then(
        () => undefined,
        (e: TlsError) => e,
      );
      if (!error) throw new Error("the handshake succeeded");
      for (let i = 0; i < 100 && refusals.length === 0; i++) await Bun.sleep(10);
      return { client: error, server: refusals[0] };
    } finally {
      listener.stop(true);
    }
  }

  test("a sign function that throws fails the handshake, and says why through onError", async () => {
    const { source, rec } = callbackKey(moduleKey("smgw"), {
      sign: () => {
        throw new Error("security module unavailable");
      },
    });
    const r = await refusedHandshake(source);
    expect(r.client).toBeInstanceOf(TlsError);
    expect(r.server?.kind).toBe("handshake");
    expect(rec.errors.map((e) => e.message)).toEqual(["security module unavailable"]);
  });

  test("a sign function returning no DER signature fails the handshake", async () => {
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array(200).fill(0x30),
      new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ]) {
      const { source, rec } = callbackKey(moduleKey("smgw"), { sign: () => bad });
      const r = await refusedHandshake(source);
      expect(r.server?.kind).toBe("handshake");
      expect(rec.errors[0]?.message).toMatch(/no DER ECDSA signature|at most \d+/);
    }
  });

  test("a signature by another key is refused by the peer", async () => {
    const other = moduleKey("gwa");
    const { source } = callbackKey(moduleKey("smgw"), { sign: (d) => other.signDigest(d) });
    const r = await refusedHandshake(source);
    expect(r.client.kind).toBe("handshake");
  });

  test("a public key that is not the certificate's is refused when the context is made", () => {
    const { source } = callbackKey(moduleKey("smgw"), { publicKey: moduleKey("gwa").spki() });
    expect(() => createTlsContext({ role: "server", ...endpoint("smgw"), key: source })).toThrow(
      TlsError,
    );
    for (const publicKey of [
      "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----",
      new Uint8Array([0x30, 1, 2]),
    ]) {
      expect(() =>
        createTlsContext({
          role: "server",
          ...endpoint("smgw"),
          key: callbackKey(moduleKey("smgw"), { publicKey }).source,
        }),
      ).toThrow(TlsError);
    }
  });

  test("a source without a sign function is a configuration error", () => {
    expect(() =>
      createTlsContext({
        role: "server",
        ...endpoint("smgw"),
        key: { kind: "callback" } as unknown as CallbackKeySource,
      }),
    ).toThrow(/needs a sign function/);
  });
});

test("contexts and sessions with callback keys leave no key, context or session behind", () => {
  const start = nativeCounts();
  const keysBefore = liveCallbackKeys();
  const key = moduleKey("smgw");
  const client = createTlsContext({ role: "client", ...endpoint("gwa"), profile: PROFILE });
  for (let i = 0; i < 200; i++) {
    const ctx = createTlsContext({
      role: "server",
      ...endpoint("smgw"),
      key: callbackKey(key).source,
    });
    const c = new TlsSession(client, { verifyHost: "127.0.0.1" });
    const s = new TlsSession(ctx);
    ctx.free(); // the session keeps its own reference, the key lives on with it
    c.start();
    for (let j = 0; j < 20; j++) {
      const a = c.takeOutput();
      if (a) s.receive(a);
      const b = s.takeOutput();
      if (b) c.receive(b);
      if (!a && !b) break;
    }
    expect(s.state).toBe("open");
    c.free();
    s.free();
  }
  client.free();
  expect(liveCallbackKeys()).toBe(keysBefore);
  expect(nativeCounts().live).toBe(start.live);
});
