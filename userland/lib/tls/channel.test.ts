// Channels over loopback: backpressure, receive() with pausing, close semantics, lifetime.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { connectTls, listenTls, type TlsChannel } from "./channel.ts";
import { TlsError } from "./errors.ts";
import { tr03116Profile } from "./profile.ts";
import { endpoint } from "./test-support.ts";

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed) & 0xff;
  return b;
}

describe("flow control", () => {
  test("a 48 MB send is queued, drained and arrives intact", async () => {
    const data = pattern(48 * 1024 * 1024, 3);
    const expected = createHash("sha256").update(data).digest("hex");
    const digest = new Promise<string>((resolve) => {
      const listener = listenTls({
        port: 0,
        ...endpoint("smgw"),
        onConnection(channel) {
          const hash = createHash("sha256");
          let received = 0;
          channel.on("data", (chunk) => {
            hash.update(chunk);
            received += chunk.length;
            if (received === data.length) {
              resolve(hash.digest("hex"));
              channel.close();
              listener.stop();
            }
          });
        },
      });
      void connectTls({ host: "127.0.0.1", port: listener.port, ...endpoint("gwa") }).then(
        (channel) => {
          let drains = 0;
          channel.on("drain", () => drains++);
          const flushed = channel.send(data);
          expect(flushed || channel.bufferedAmount > 0).toBe(true);
          void channel.closed.then((error) => {
            expect(error).toBeUndefined();
            if (!flushed) expect(drains).toBeGreaterThan(0);
          });
        },
      );
    });
    expect(await digest).toBe(expected);
  }, 60_000);

  test("receive() pauses the socket above the high-water mark and resumes below it", async () => {
    const data = pattern(32 * 1024 * 1024, 9);
    let server: TlsChannel | undefined;
    const listener = listenTls({
      port: 0,
      ...endpoint("smgw"),
      onConnection(channel) {
        server = channel;
        channel.send(data);
        channel.close();
      },
    });
    try {
      const channel = await connectTls({
        host: "127.0.0.1",
        port: listener.port,
        ...endpoint("gwa"),
        receiveHighWaterMark: 64 * 1024,
      });
      // Nobody reads: the client stops reading, the kernel buffers fill, the sender queues.
      await Bun.sleep(300);
      expect(server?.bufferedAmount ?? 0).toBeGreaterThan(0);
      const parts: Buffer[] = [];
      for await (const chunk of channel) parts.push(chunk);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      expect(await channel.closed).toBeUndefined();
    } finally {
      listener.stop(true);
    }
  }, 60_000);
});

describe("close and errors", () => {
  // The lifetime, when given, applies to the client only: were both ends limited, the one whose
  // timer fires first would decide which of them sees "session lifetime reached".
  async function pair(onServer: (c: TlsChannel) => void, clientLifetimeSeconds?: number) {
    const profile = tr03116Profile();
    const clientProfile = tr03116Profile(
      clientLifetimeSeconds ? { sessionLifetimeSeconds: clientLifetimeSeconds } : {},
    );
    const listener = listenTls({ port: 0, ...endpoint("smgw"), profile, onConnection: onServer });
    const client = await connectTls({
      host: "127.0.0.1",
      port: listener.port,
      ...endpoint("gwa"),
      profile: clientProfile,
    });
    return { listener, client };
  }

  test("a local close resolves closed cleanly, is idempotent, and forbids send", async () => {
    const { listener, client } = await pair(() => {});
    client.close();
    client.close();
    expect(await client.closed).toBeUndefined();
    expect(client.isOpen).toBe(false);
    expect(() => client.send("late")).toThrow(TlsError);
    expect(await client.receive()).toBeNull();
    listener.stop(true);
  });

  test("the peer's close_notify ends receive() with null and fires close without an error", async () => {
    const { listener, client } = await pair((c) => c.close());
    const events: (TlsError | undefined)[] = [];
    client.on("close", (e) => events.push(e));
    expect(await client.receive()).toBeNull();
    expect(events).toEqual([undefined]);
    listener.stop(true);
  });

  test("peer details are available on both ends", async () => {
    let server: TlsChannel | undefined;
    const { listener, client } = await pair((c) => {
      server = c;
    });
    expect(client.peer.subject).toBe("CN=smgw-1,O=SMGW-Test-Operator,C=DE");
    expect(client.remoteAddress).toBe("127.0.0.1");
    expect(client.remotePort).toBe(listener.port);
    for (let i = 0; i < 100 && !server; i++) await Bun.sleep(5);
    expect(server?.peer.subject).toBe("CN=gwa-1,O=GWA-Test,C=DE");
    expect(listener.activeConnections).toBe(1);
    client.close();
    await server?.closed;
    expect(listener.activeConnections).toBe(0);
    listener.stop(true);
  });

  test("stopping a listener with closeActive closes its channels with close_notify", async () => {
    const { listener, client } = await pair(() => {});
    for (let i = 0; i < 100 && listener.activeConnections === 0; i++) await Bun.sleep(5);
    listener.stop(true);
    expect(await client.receive()).toBeNull();
    expect(await client.closed).toBeUndefined();
  });

  test("the session lifetime closes the channel; the peer sees a clean close", async () => {
    let server: TlsChannel | undefined;
    const { listener, client } = await pair((c) => {
      server = c;
    }, 1);
    const error = await client.closed;
    expect(error?.kind).toBe("closed");
    expect(error?.reason).toBe("session lifetime reached");
    for (let i = 0; i < 100 && !server; i++) await Bun.sleep(5);
    expect(await server?.closed).toBeUndefined();
    listener.stop(true);
  }, 10_000);
});
