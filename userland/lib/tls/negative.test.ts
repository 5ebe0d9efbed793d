// Refusals: every bad peer is turned away with a clear reason, and the listener keeps serving.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectTls, listenTls, type TlsChannel, type TlsListener } from "./channel.ts";
import { TlsError, type TlsErrorKind } from "./errors.ts";
import { TlsSession } from "./session.ts";
import {
  clientIdentityArgs,
  context,
  delay,
  endpoint,
  openssl,
  startOpenSslServer,
  testPki,
} from "./test-support.ts";

const ALL_GROUPS = "brainpoolP256r1:brainpoolP384r1:brainpoolP512r1";

interface Recorder {
  refusals: TlsError[];
  connections: TlsChannel[];
}

function recordingListener(
  extra: {
    expectedPeer?: { subject?: string; fingerprint?: string };
    handshakeTimeoutMs?: number;
  } = {},
  identity = endpoint("smgw"),
): { listener: TlsListener; rec: Recorder } {
  const rec: Recorder = { refusals: [], connections: [] };
  const listener = listenTls({
    port: 0,
    ...identity,
    ...extra,
    onConnection(channel) {
      rec.connections.push(channel);
      channel.on("data", (data) => {
        channel.send(Buffer.concat([Buffer.from("echo:"), data]));
        channel.close();
      });
    },
    onRefused(error) {
      rec.refusals.push(error);
    },
  });
  return { listener, rec };
}

async function nextRefusal(rec: Recorder, before: number): Promise<TlsError> {
  for (let i = 0; i < 200 && rec.refusals.length <= before; i++) await delay(10);
  const error = rec.refusals[before];
  if (!error) throw new Error("no refusal was reported");
  return error;
}

function sClient(port: number, args: string[], env?: Record<string, string>) {
  return openssl(
    [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-tls1_2",
      "-groups",
      ALL_GROUPS,
      "-verify_return_error",
      "-ign_eof",
      ...args,
    ],
    "ping\n",
    env ? { env } : {},
  );
}

async function expectGoodClient(listener: TlsListener): Promise<void> {
  const run = await sClient(listener.port, clientIdentityArgs("gwa"));
  expect(run.stdout).toContain("echo:ping");
}

/** Opens a raw TCP connection, sends `bytes`, optionally half-closes, and waits for the close. */
async function rawClient(port: number, bytes: Uint8Array, end = true): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          if (bytes.length > 0) socket.write(bytes);
          if (end) socket.shutdown();
        },
        data() {},
        close() {
          resolve();
        },
        error() {
          resolve();
        },
        connectError(_s, error) {
          reject(error);
        },
      },
    }).catch(reject);
  });
}

function clientHello(): Buffer {
  const ctx = context("client", "gwa");
  const session = new TlsSession(ctx);
  session.start();
  const hello = session.takeOutput();
  session.free();
  ctx.free();
  if (!hello) throw new Error("no ClientHello");
  return hello;
}

const confDir = mkdtempSync(path.join(tmpdir(), "smgw-tls-conf-"));
const noEmsConfig = path.join(confDir, "no-ems.cnf");
beforeAll(() => {
  // An OpenSSL configuration that turns the extended master secret off for the s_client run.
  writeFileSync(
    noEmsConfig,
    [
      "openssl_conf = conf",
      "[conf]",
      "ssl_conf = ssl_sect",
      "[ssl_sect]",
      "system_default = sys",
      "[sys]",
      "Options = -ExtendedMasterSecret",
      "",
    ].join("\n"),
  );
});
afterAll(() => rmSync(confDir, { recursive: true, force: true }));

describe("our listener refuses bad clients and keeps serving", () => {
  const { listener, rec } = recordingListener();
  afterAll(() => listener.stop(true));

  test("a good client is served", async () => {
    await expectGoodClient(listener);
    expect(rec.connections.at(-1)?.peer.subject).toBe("CN=gwa-1,O=GWA-Test,C=DE");
  });

  const certificateCases: [string, string | null, TlsErrorKind, string][] = [
    ["no client certificate", null, "handshake", "peer did not return a certificate"],
    // The client sends its foreign root along, so OpenSSL names the self-signed anchor it cannot trust.
    ["unknown CA", "foreign-gwa", "verify", "self-signed certificate in certificate chain"],
    ["expired certificate", "emt-expired", "verify", "certificate has expired"],
    ["revoked certificate (CRL)", "emt-revoked", "verify", "certificate revoked"],
    ["wrong key usage", "emt-wrong-usage", "verify", "unsuitable certificate purpose"],
  ];
  for (const [name, entity, kind, reason] of certificateCases) {
    test(`${name}: refused with "${reason}"`, async () => {
      const before = rec.refusals.length;
      const run = await sClient(listener.port, clientIdentityArgs(entity));
      expect(run.stdout).not.toContain("echo:ping");
      const error = await nextRefusal(rec, before);
      expect(error.kind).toBe(kind);
      expect(error.reason).toBe(reason);
      await expectGoodClient(listener);
    });
  }

  const protocolCases: [string, string[], string][] = [
    [
      "TLS 1.0 offered",
      ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0", "-groups", ALL_GROUPS],
      "unsupported protocol",
    ],
    [
      "TLS 1.1 offered",
      ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-groups", ALL_GROUPS],
      "unsupported protocol",
    ],
    [
      "a non-ECDHE suite (RSA key exchange)",
      ["-tls1_2", "-cipher", "AES128-GCM-SHA256", "-groups", ALL_GROUPS],
      "no shared cipher",
    ],
    [
      "an ECDHE-RSA suite",
      ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-groups", ALL_GROUPS],
      "no shared cipher",
    ],
    ["only NIST groups", ["-tls1_2", "-groups", "prime256v1:secp384r1"], "no shared cipher"],
  ];
  for (const [name, args, reason] of protocolCases) {
    test(`${name}: refused with "${reason}"`, async () => {
      const before = rec.refusals.length;
      const run = await openssl(
        [
          "s_client",
          "-connect",
          `127.0.0.1:${listener.port}`,
          ...args,
          ...clientIdentityArgs("gwa"),
        ],
        "ping\n",
      );
      expect(run.stdout).not.toContain("echo:ping");
      const error = await nextRefusal(rec, before);
      expect(error.kind).toBe("handshake");
      expect(error.reason).toBe(reason);
      await expectGoodClient(listener);
    });
  }

  test("a client without extended master secret is refused", async () => {
    const before = rec.refusals.length;
    const run = await sClient(listener.port, clientIdentityArgs("gwa"), {
      OPENSSL_CONF: noEmsConfig,
    });
    expect(run.stdout).toContain("Extended master secret: no");
    expect(run.stdout).not.toContain("echo:ping");
    const error = await nextRefusal(rec, before);
    expect(error.kind).toBe("peer");
    expect(error.reason).toBe("extended master secret was not negotiated");
    await expectGoodClient(listener);
  });

  const garbage: [string, Uint8Array][] = [
    ["an HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: smgw\r\n\r\n")],
    ["a record with an impossible length", Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff, 0x01, 0x00])],
    ["a record of an unknown type", Buffer.from([0x42, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4])],
    ["random bytes", Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 151 + 7) & 0xff))],
  ];
  for (const [name, bytes] of garbage) {
    test(`${name} is refused`, async () => {
      const before = rec.refusals.length;
      await rawClient(listener.port, bytes);
      const error = await nextRefusal(rec, before);
      expect(["handshake", "closed"]).toContain(error.kind);
      expect(error.reason.length).toBeGreaterThan(0);
      await expectGoodClient(listener);
    });
  }

  test("a truncated ClientHello followed by FIN is refused", async () => {
    const hello = clientHello();
    const before = rec.refusals.length;
    await rawClient(listener.port, hello.subarray(0, 40));
    const error = await nextRefusal(rec, before);
    expect(error.kind).toBe("closed");
    expect(error.reason).toBe("connection closed by the peer during the handshake");
    await expectGoodClient(listener);
  });

  test("a client that vanishes after the handshake leaves a truncation error", async () => {
    const before = rec.connections.length;
    const proc = Bun.spawn(
      [
        "openssl",
        "s_client",
        ...["-connect", `127.0.0.1:${listener.port}`, "-tls1_2", "-groups", ALL_GROUPS],
        ...clientIdentityArgs("gwa"),
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "pipe" },
    );
    for (let i = 0; i < 300 && rec.connections.length <= before; i++) await delay(10);
    const channel = rec.connections[before];
    expect(channel).toBeDefined();
    proc.kill("SIGKILL");
    const error = await channel?.closed;
    expect(error?.kind).toBe("closed");
    expect(error?.reason).toContain("truncated");
    await expectGoodClient(listener);
  });

  test("a renegotiation attempt is refused and ends the connection", async () => {
    const before = rec.connections.length;
    const proc = Bun.spawn(
      [
        "openssl",
        "s_client",
        ...["-connect", `127.0.0.1:${listener.port}`, "-tls1_2", "-groups", ALL_GROUPS],
        ...clientIdentityArgs("gwa"),
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "pipe" },
    );
    for (let i = 0; i < 300 && rec.connections.length <= before; i++) await delay(10);
    const channel = rec.connections[before];
    expect(channel).toBeDefined();
    proc.stdin.write("R\n"); // s_client: renegotiate
    proc.stdin.flush();
    const error = await channel?.closed;
    // s_client prints the peer's alert before it exits on the closed connection: let it finish
    // (killing it right away could lose that line), but never wait long.
    await Promise.race([proc.exited, delay(5000)]);
    proc.kill();
    const output =
      (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    expect(output).toContain("RENEGOTIATING");
    expect(output).toContain("no renegotiation");
    expect(error?.kind).toBe("protocol");
    await expectGoodClient(listener);
  });

  test("a connection count stays consistent", () => {
    expect(listener.activeConnections).toBe(0);
  });
});

describe("listener options", () => {
  test("a silent client hits the handshake timeout", async () => {
    const { listener, rec } = recordingListener({ handshakeTimeoutMs: 200 });
    try {
      const before = rec.refusals.length;
      await rawClient(listener.port, new Uint8Array(0), false);
      const error = await nextRefusal(rec, before);
      expect(error.kind).toBe("timeout");
      expect(error.reason).toBe("handshake not finished within 200 ms");
      await expectGoodClient(listener);
    } finally {
      listener.stop(true);
    }
  });

  test("server-side pinning admits only the expected subject", async () => {
    const gwa = testPki().entity("gwa");
    const { listener, rec } = recordingListener({ expectedPeer: { subject: gwa.subject } });
    try {
      const before = rec.refusals.length;
      const run = await sClient(listener.port, clientIdentityArgs("emt-1"));
      expect(run.stdout).not.toContain("echo:ping");
      const error = await nextRefusal(rec, before);
      expect(error.kind).toBe("peer");
      expect(error.reason).toContain(
        'unexpected peer certificate: subject "CN=emt-1,O=EMT-Test-1,C=DE"',
      );
      await expectGoodClient(listener);
    } finally {
      listener.stop(true);
    }
  });
});

describe("our client refuses bad servers", () => {
  async function refusedBy(
    identity: ReturnType<typeof endpoint>,
    options: object = {},
  ): Promise<TlsError> {
    const { listener } = recordingListener({}, identity);
    try {
      await connectTls({ host: "127.0.0.1", port: listener.port, ...endpoint("gwa"), ...options });
    } catch (error) {
      return error as TlsError;
    } finally {
      listener.stop(true);
    }
    throw new Error("the connection was not refused");
  }

  test("a server from an unknown CA", async () => {
    const error = await refusedBy(endpoint("foreign-gwa"));
    expect(error.kind).toBe("verify");
    expect(error.reason).toBe("unable to get local issuer certificate");
    expect(error.verify?.code).toBe(20);
  });

  test("an expired server certificate", async () => {
    const error = await refusedBy(endpoint("emt-expired"));
    expect(error.reason).toBe("certificate has expired");
  });

  test("a revoked server certificate", async () => {
    const error = await refusedBy(endpoint("emt-revoked"));
    expect(error.reason).toBe("certificate revoked");
  });

  test("a wrong host name", async () => {
    const error = await refusedBy(endpoint("smgw"), { verifyHost: "gwa.example" });
    expect(error.kind).toBe("verify");
    expect(error.reason).toBe("hostname mismatch");
  });

  test("a wrong IP address", async () => {
    const error = await refusedBy(endpoint("smgw"), { verifyHost: "127.0.0.2" });
    expect(error.reason).toBe("IP address mismatch");
  });

  test("a pinned fingerprint that does not match", async () => {
    const error = await refusedBy(endpoint("smgw"), {
      expectedPeer: { fingerprint: "00".repeat(32) },
    });
    expect(error.kind).toBe("peer");
    expect(error.reason).toContain("unexpected peer certificate");
  });

  test("a pinned subject that does not match", async () => {
    const error = await refusedBy(endpoint("emt-1"), {
      expectedPeer: { subject: "CN=smgw-1,O=SMGW-Test-Operator,C=DE" },
    });
    expect(error.kind).toBe("peer");
  });

  test("matching pins (subject and fingerprint, with colons) are accepted", async () => {
    const { listener } = recordingListener();
    try {
      const probe = await connectTls({
        host: "127.0.0.1",
        port: listener.port,
        ...endpoint("gwa"),
      });
      const fingerprint = probe.peer.fingerprint.toUpperCase().replace(/(..)(?!$)/g, "$1:");
      probe.close();
      const channel = await connectTls({
        host: "127.0.0.1",
        port: listener.port,
        ...endpoint("gwa"),
        expectedPeer: [{ subject: "CN=nobody" }, { subject: probe.peer.subject, fingerprint }],
      });
      expect(channel.peer.subject).toBe("CN=smgw-1,O=SMGW-Test-Operator,C=DE");
      channel.close();
    } finally {
      listener.stop(true);
    }
  });

  test("a server that offers only a suite outside the profile", async () => {
    const smgw = testPki().entity("smgw");
    const server = await startOpenSslServer([
      ...["-cert", smgw.cert, "-cert_chain", smgw.issuer, "-key", smgw.key, "-naccept", "1"],
      ...["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", "-groups", "brainpoolP256r1"],
    ]);
    try {
      const error = await connectTls({
        host: "127.0.0.1",
        port: server.port,
        ...endpoint("gwa"),
      }).catch((e) => e);
      expect(error).toBeInstanceOf(TlsError);
      expect(error.kind).toBe("handshake");
      expect(error.reason).toBe("sslv3 alert handshake failure");
    } finally {
      server.stop();
    }
  });

  // The server cannot pick any profile suite at TLS 1.1 (they are all TLS 1.2 suites) and says so.
  test("a server that speaks only TLS 1.1", async () => {
    const smgw = testPki().entity("smgw");
    const server = await startOpenSslServer([
      ...["-cert", smgw.cert, "-cert_chain", smgw.issuer, "-key", smgw.key, "-naccept", "1"],
      ...["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-groups", "brainpoolP256r1"],
    ]);
    try {
      const error = await connectTls({
        host: "127.0.0.1",
        port: server.port,
        ...endpoint("gwa"),
      }).catch((e) => e);
      expect(error).toBeInstanceOf(TlsError);
      expect(error.kind).toBe("handshake");
      expect(error.reason).toMatch(/handshake failure|protocol version|unsupported protocol/);
    } finally {
      server.stop();
    }
  });

  test("a server without extended master secret", async () => {
    const smgw = testPki().entity("smgw");
    const proc = Bun.spawn(
      [
        "openssl",
        "s_server",
        "-accept",
        "127.0.0.1:0",
        ...["-cert", smgw.cert, "-cert_chain", smgw.issuer, "-key", smgw.key, "-naccept", "1"],
        ...["-tls1_2", "-groups", "brainpoolP256r1"],
      ],
      {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, OPENSSL_CONF: noEmsConfig },
      },
    );
    try {
      const reader = proc.stdout.getReader();
      let text = "";
      while (!/ACCEPT [^:]+:(\d+)/.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error("s_server ended");
        text += new TextDecoder().decode(value);
      }
      const port = Number(/ACCEPT [^:]+:(\d+)/.exec(text)?.[1]);
      const error = await connectTls({ host: "127.0.0.1", port, ...endpoint("gwa") }).catch(
        (e) => e,
      );
      expect(error).toBeInstanceOf(TlsError);
      expect(error.kind).toBe("peer");
      expect(error.reason).toBe("extended master secret was not negotiated");
    } finally {
      proc.kill();
    }
  });

  test("nobody listening", async () => {
    const { listener } = recordingListener();
    const port = listener.port;
    listener.stop(true);
    const error = await connectTls({ host: "127.0.0.1", port, ...endpoint("gwa") }).catch((e) => e);
    expect(error).toBeInstanceOf(TlsError);
    expect(error.kind).toBe("network");
  });
});
