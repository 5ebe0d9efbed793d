// The session state machine over memory BIO pairs: handshake, data, close, bad input.
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { TlsContext } from "./context.ts";
import { TlsError } from "./errors.ts";
import { nativeCounts } from "./ffi.ts";
import { type PeerInfo, type ReceiveResult, type SessionOptions, TlsSession } from "./session.ts";
import { context, testPki } from "./test-support.ts";

const serverContext = context("server", "smgw");
const clientContext = context("client", "gwa");
afterAll(() => {
  serverContext.free();
  clientContext.free();
});

interface Pair {
  client: TlsSession;
  server: TlsSession;
  clientPeer?: PeerInfo;
  serverPeer?: PeerInfo;
  received: { client: Buffer[]; server: Buffer[] };
  errors: { client?: TlsError; server?: TlsError };
  closed: { client: boolean; server: boolean };
}

function record(pair: Pair, side: "client" | "server", r: ReceiveResult): void {
  if (r.established) pair[side === "client" ? "clientPeer" : "serverPeer"] = r.established;
  if (r.data) pair.received[side].push(r.data);
  if (r.error) pair.errors[side] = r.error;
  if (r.peerClosed) pair.closed[side] = true;
}

/** Moves ciphertext between the two sessions until neither has anything to send. */
function pump(pair: Pair): void {
  for (let i = 0; i < 100; i++) {
    const toServer = pair.client.takeOutput();
    if (toServer) record(pair, "server", pair.server.receive(toServer));
    const toClient = pair.server.takeOutput();
    if (toClient) record(pair, "client", pair.client.receive(toClient));
    if (!toServer && !toClient) return;
  }
  throw new Error("sessions kept talking");
}

function makePair(
  options: { client?: SessionOptions; server?: SessionOptions; clientCtx?: TlsContext } = {},
): Pair {
  const pair: Pair = {
    client: new TlsSession(
      options.clientCtx ?? clientContext,
      options.client ?? { verifyHost: "127.0.0.1" },
    ),
    server: new TlsSession(serverContext, options.server ?? {}),
    received: { client: [], server: [] },
    errors: {},
    closed: { client: false, server: false },
  };
  pair.client.start();
  pump(pair);
  return pair;
}

function freePair(pair: Pair): void {
  pair.client.free();
  pair.server.free();
}

describe("handshake and data over memory BIOs", () => {
  test("mutual handshake reports both peers", () => {
    const pair = makePair();
    expect(pair.client.state).toBe("open");
    expect(pair.server.state).toBe("open");
    expect(pair.clientPeer?.subject).toBe("CN=smgw-1,O=SMGW-Test-Operator,C=DE");
    expect(pair.serverPeer?.subject).toBe("CN=gwa-1,O=GWA-Test,C=DE");
    expect(pair.serverPeer?.issuer).toBe("CN=SM-Test-GWA-CA,O=SM-Test-PKI,C=DE");
    expect(pair.clientPeer?.protocol).toBe("TLSv1.2");
    expect(pair.clientPeer?.cipher).toBe("ECDHE-ECDSA-AES128-GCM-SHA256");
    expect(pair.clientPeer?.group).toBe("brainpoolP256r1");
    expect(pair.clientPeer?.extendedMasterSecret).toBe(true);
    expect(pair.clientPeer?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(pair.client.peer).toEqual(pair.clientPeer as PeerInfo);
    freePair(pair);
  });

  test("data both ways, including a 3 MB message, arrives intact", () => {
    const pair = makePair();
    pair.client.write(Buffer.from("reading 1"));
    pump(pair);
    expect(Buffer.concat(pair.received.server).toString()).toBe("reading 1");
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    pair.server.write(big);
    pump(pair);
    expect(Buffer.concat(pair.received.client).equals(big)).toBe(true);
    freePair(pair);
  });

  test("close_notify is seen by the peer, which answers in kind", () => {
    const pair = makePair();
    pair.client.close();
    expect(pair.client.state).toBe("closed");
    pump(pair);
    expect(pair.closed.server).toBe(true);
    expect(pair.server.state).toBe("closed");
    expect(() => pair.server.write(Buffer.from("late"))).toThrow(TlsError);
    freePair(pair);
  });

  test("writing before the handshake is a usage error", () => {
    const session = new TlsSession(clientContext);
    expect(() => session.write(Buffer.from("x"))).toThrow("cannot send in session state handshake");
    session.free();
  });

  test("a pinned subject that does not match fails the client after the handshake", () => {
    const pair = makePair({ client: { expectedPeer: { subject: "CN=other" } } });
    expect(pair.errors.client?.kind).toBe("peer");
    expect(pair.client.state).toBe("failed");
    freePair(pair);
  });

  test("server-side verification failure is reported with the verify result", () => {
    const foreign = context("client", "foreign-gwa");
    const pair = makePair({ clientCtx: foreign });
    expect(pair.errors.server?.kind).toBe("verify");
    expect(pair.errors.server?.verify?.text).toBe("unable to get local issuer certificate");
    // The alert reached the client, which reports it in its own words.
    expect(pair.errors.client?.reason).toBe("tlsv1 alert unknown ca");
    freePair(pair);
    foreign.free();
  });
});

describe("bad input", () => {
  test("garbage after the handshake is a protocol error, not a crash", () => {
    const pair = makePair();
    const r = pair.server.receive(
      Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20, ...new Array(32).fill(7)]),
    );
    expect(r.error?.kind).toBe("protocol");
    expect(r.error?.reason).toBe("decryption failed or bad record mac");
    expect(pair.server.state).toBe("failed");
    // A failed session takes nothing more.
    expect(pair.server.receive(Buffer.from("more")).data).toBeNull();
    freePair(pair);
  });

  test("a truncated record waits for the rest", () => {
    const pair = makePair();
    pair.client.write(Buffer.from("split record"));
    const record = pair.client.takeOutput() as Buffer;
    const first = pair.server.receive(record.subarray(0, 7));
    expect(first.error).toBeUndefined();
    expect(first.data).toBeNull();
    const rest = pair.server.receive(record.subarray(7));
    expect(rest.data?.toString()).toBe("split record");
    freePair(pair);
  });

  test("random bytes into a fresh server session: an error or a wait, never a throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2048 }), (bytes) => {
        const session = new TlsSession(serverContext);
        try {
          const r = session.receive(bytes);
          if (r.error) expect(r.error.reason.length).toBeGreaterThan(0);
          else expect(session.state).toBe("handshake");
        } finally {
          session.free();
        }
      }),
      { numRuns: 300 },
    );
  });

  test("random bytes after the handshake: an error or a wait, never a throw", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { maxLength: 4 }),
        (chunks) => {
          const pair = makePair();
          try {
            for (const chunk of chunks) {
              const r = pair.server.receive(chunk);
              if (r.error) {
                expect(["protocol", "handshake"]).toContain(r.error.kind);
                break;
              }
            }
          } finally {
            freePair(pair);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test("a ClientHello cut at every length never completes and never throws", () => {
    const client = new TlsSession(clientContext);
    client.start();
    const hello = client.takeOutput() as Buffer;
    client.free();
    for (let cut = 1; cut < hello.length; cut += 7) {
      const session = new TlsSession(serverContext);
      const r = session.receive(hello.subarray(0, cut));
      expect(r.established).toBeUndefined();
      session.free();
    }
  });
});

describe("native resource handling", () => {
  test("free is idempotent and deferred while held", () => {
    const before = nativeCounts();
    const session = new TlsSession(clientContext);
    session.hold(() => {
      session.free();
      expect(session.state).toBe("handshake");
      session.hold(() => session.free());
      expect(session.state).toBe("handshake");
    });
    expect(session.state).toBe("freed");
    session.free();
    expect(session.pendingOutput()).toBe(0);
    expect(session.takeOutput()).toBeNull();
    expect(session.receive(Buffer.from("x")).data).toBeNull();
    const after = nativeCounts();
    expect(after.allocated.SSL - before.allocated.SSL).toBe(1);
    expect(after.freed.SSL - before.freed.SSL).toBe(1);
    expect(after.freed.BIO - before.freed.BIO).toBe(2);
  });

  test("the test PKI is there", () => {
    expect(testPki().entity("gwa").subject).toBe("CN=gwa-1,O=GWA-Test,C=DE");
  });
});
