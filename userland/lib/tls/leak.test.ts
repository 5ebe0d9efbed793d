// Thousands of sessions in one process: every native object is freed exactly once and the
// resident set stays bounded. SMGW_TLS_LEAK_HANDSHAKES overrides the count (default 3000).
import { expect, test } from "bun:test";
import { connectTls, listenTls } from "./channel.ts";
import type { TlsContext } from "./context.ts";
import { nativeCounts } from "./ffi.ts";
import { TlsSession } from "./session.ts";
import { context, endpoint, PROFILE } from "./test-support.ts";

const HANDSHAKES = Number(process.env.SMGW_TLS_LEAK_HANDSHAKES ?? 3000);
const WARM_UP = 300;
const RSS_BOUND_MB = 20;

function handshakeOnce(client: TlsContext, server: TlsContext): void {
  const c = new TlsSession(client, { verifyHost: "127.0.0.1" });
  const s = new TlsSession(server);
  try {
    c.start();
    for (let i = 0; i < 20; i++) {
      const a = c.takeOutput();
      if (a) s.receive(a);
      const b = s.takeOutput();
      if (b) c.receive(b);
      if (!a && !b) break;
    }
    if (c.state !== "open" || s.state !== "open")
      throw new Error(`handshake failed: ${c.state}/${s.state}`);
    c.write(Buffer.from("ping"));
    const data = s.receive(c.takeOutput() as Buffer).data;
    if (data?.toString() !== "ping") throw new Error("data lost");
    c.close();
    s.receive(c.takeOutput() as Buffer);
  } finally {
    c.free();
    s.free();
  }
}

function rssMb(): number {
  Bun.gc(true);
  return process.memoryUsage().rss / 1024 / 1024;
}

test(`${HANDSHAKES} sequential in-memory handshakes: frees equal allocations, RSS bounded`, () => {
  const start = nativeCounts();
  // Without CRLs: OpenSSL's CRL checks allocate nothing per session on our side, and the
  // loopback test below runs with them.
  const client = context("client", "gwa", "tls", PROFILE, false);
  const server = context("server", "smgw", "tls", PROFILE, false);
  for (let i = 0; i < WARM_UP; i++) handshakeOnce(client, server);
  const rssBefore = rssMb();
  const t0 = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) handshakeOnce(client, server);
  const seconds = (performance.now() - t0) / 1000;
  const rssAfter = rssMb();
  client.free();
  server.free();
  const end = nativeCounts();
  const grown = rssAfter - rssBefore;
  console.log(
    `${HANDSHAKES} handshakes in ${seconds.toFixed(1)} s (${(HANDSHAKES / seconds).toFixed(0)}/s, both ends); ` +
      `RSS ${rssBefore.toFixed(1)} -> ${rssAfter.toFixed(1)} MB`,
  );
  expect(grown).toBeLessThan(RSS_BOUND_MB);
  for (const kind of ["SSL_CTX", "SSL", "BIO", "X509", "X509_CRL", "EVP_PKEY"] as const) {
    expect(end.allocated[kind] - start.allocated[kind]).toBe(end.freed[kind] - start.freed[kind]);
  }
  expect(end.allocated.SSL - start.allocated.SSL).toBe(2 * (HANDSHAKES + WARM_UP));
  expect(end.allocated.X509 - start.allocated.X509).toBe(2 * (HANDSHAKES + WARM_UP));
  expect(end.live).toBe(start.live);
}, 600_000);

test("300 connections over loopback channels leave no native object behind", async () => {
  const start = nativeCounts();
  const listener = listenTls({
    port: 0,
    ...endpoint("smgw"),
    onConnection(channel) {
      channel.on("data", (data) => {
        channel.send(data);
        channel.close();
      });
    },
  });
  const clientContext = context("client", "gwa");
  for (let i = 0; i < 300; i++) {
    const channel = await connectTls({
      host: "127.0.0.1",
      port: listener.port,
      context: clientContext,
    });
    channel.send(`message ${i}`);
    const answer = await channel.receive();
    expect(answer?.toString()).toBe(`message ${i}`);
    expect(await channel.receive()).toBeNull();
  }
  for (let i = 0; i < 100 && listener.activeConnections > 0; i++) await Bun.sleep(10);
  listener.stop(true);
  clientContext.free();
  const end = nativeCounts();
  expect(end.live).toBe(start.live);
  expect(end.allocated.SSL - start.allocated.SSL).toBe(600);
  // Both contexts held the CRL bundle; each CRL's reference copy left with its context.
  expect(end.allocated.X509_CRL - start.allocated.X509_CRL).toBeGreaterThan(0);
  expect(end.freed.X509_CRL - start.freed.X509_CRL).toBe(
    end.allocated.X509_CRL - start.allocated.X509_CRL,
  );
}, 120_000);
