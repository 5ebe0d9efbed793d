// The TCM end to end: its own process behind a real IFM with the crypto unit, domains as IPC
// clients, the policy's endpoints as simulated TLS peers on loopback (testing/harness.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import path from "node:path";
import { IpcError } from "@smgw/ipc";
import { connectTls, type TlsChannel, tr03116Profile } from "@smgw/tls";
import { openssl } from "../../lib/tls/test-support.ts";
import { credentialLayout, filesWithPrivateKeys } from "./credentials.ts";
import { SUBJECT_HEADER } from "./display-forward.ts";
import { type Harness, startHarness } from "./testing/harness.ts";
import { GATEWAY } from "./testing/policy.ts";

const isRoot = process.getuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534 };
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ display: true, ...(isRoot ? { runAs: NOBODY } : {}) });
  h.peer("gwa");
  h.peer("emt-supplier");
  h.peer("emt-dso");
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (s: string) => Buffer.from(s, "base64").toString();

async function refusal(p: Promise<unknown>): Promise<IpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(IpcError);
    return e as IpcError;
  }
  throw new Error("expected a refusal");
}

async function openEmt(unit: "meter" = "meter", endpoint = "emt-supplier"): Promise<string> {
  const r = await h.client(unit).request("tcm", "tcm.open-channel", {
    endpoint,
    purpose: "wan-emt-delivery",
  });
  return r.channel;
}

async function echo(unit: "meter" | "admin" | "cls", channel: string, message: string) {
  const c = h.client(unit);
  expect(await c.request("tcm", "tcm.send", { channel, data: b64(message) })).toMatchObject({
    sent: message.length,
  });
  let got = "";
  for (let i = 0; i < 10 && got.length < message.length + 5; i++) {
    const r = await c.request("tcm", "tcm.receive", { channel, waitMs: 2000 });
    got += text(r.data);
  }
  return got;
}

function refusedInLog(reason: RegExp): Promise<string> {
  return h.waitForLog("tcm", (l) => l.includes('"msg":"channel refused"') && reason.test(l));
}

describe("channels for domains", () => {
  test("the meter domain opens a channel to an EMT and exchanges data over it", async () => {
    const emt = h.peer("emt-supplier");
    const r = await h.client("meter").request("tcm", "tcm.open-channel", {
      endpoint: "emt-supplier",
      purpose: "wan-emt-delivery",
    });
    expect(r.channel).toMatch(/^ch-[0-9a-f]{32}$/);
    expect(r.peer).toMatchObject({
      endpoint: "emt-supplier",
      subject: "CN=EMT Supplier Test,O=EMT-Test,C=DE",
      protocol: "TLSv1.2",
    });
    expect(await echo("meter", r.channel, "readings of meter-1")).toBe("echo:readings of meter-1");
    // The EMT saw the gateway's WAN certificate, whose key is in the security module.
    expect(emt.clients).toEqual([h.provisioned.gateway["tls-wan"]]);
    expect(await h.client("meter").request("tcm", "tcm.close", { channel: r.channel })).toEqual({
      closed: true,
    });
    // Closed means gone: the id is good for nothing now.
    const e = await refusal(
      h.client("meter").request("tcm", "tcm.send", { channel: r.channel, data: b64("late") }),
    );
    expect(e.code).toBe("denied");
  }, 20_000);

  test("a peer's close reaches the domain as closed, after the data", async () => {
    const channel = await openEmt();
    const meter = h.client("meter");
    await meter.request("tcm", "tcm.send", { channel, data: b64("bye") });
    h.peer("emt-supplier"); // restarting the peer closes its sessions with close_notify
    let closed = false;
    let got = "";
    for (let i = 0; i < 10 && !closed; i++) {
      const r = await meter.request("tcm", "tcm.receive", { channel, waitMs: 1000 });
      got += text(r.data);
      closed = r.closed;
    }
    expect(closed).toBe(true);
    expect(got === "" || got === "echo:bye").toBe(true);
  }, 20_000);

  test("large data is split into answers of at most `max` bytes and arrives whole", async () => {
    const channel = await openEmt();
    const meter = h.client("meter");
    const payload = Buffer.alloc(200_000, 0x61);
    for (let i = 0; i < payload.length; i += 90_000) {
      await meter.request("tcm", "tcm.send", {
        channel,
        data: payload.subarray(i, i + 90_000).toString("base64"),
      });
    }
    // The peer echoes each piece it gets with a prefix; count the payload's bytes only.
    let got = 0;
    for (let i = 0; i < 50 && got < payload.length; i++) {
      const r = await meter.request("tcm", "tcm.receive", { channel, max: 50_000, waitMs: 2000 });
      const bytes = Buffer.from(r.data, "base64");
      expect(bytes.length).toBeLessThanOrEqual(50_000);
      got += bytes.filter((b) => b === 0x61).length;
    }
    expect(got).toBe(payload.length);
    await meter.request("tcm", "tcm.close", { channel });
  }, 30_000);

  test("the admin domain reaches the GWA; the CLS proxy the endpoint authorised for its device", async () => {
    const admin = await h.client("admin").request("tcm", "tcm.open-channel", {
      endpoint: "gwa",
      purpose: "wan-gwa-session",
    });
    expect(admin.peer.subject).toBe("CN=GWA Test,O=GWA-Test,C=DE");
    expect(await echo("admin", admin.channel, "status")).toBe("echo:status");
    const cls = await h.client("cls").request("tcm", "tcm.open-channel", {
      endpoint: "emt-dso",
      purpose: "wan-cls-relay",
      device: "heatpump",
    });
    expect(cls.peer.subject).toBe("CN=EMT DSO Test,O=EMT-Test,C=DE");
    // cls.relay: the policy's relay message, for the channel of the named device only.
    expect(
      await h
        .client("cls")
        .request("tcm", "cls.relay", { device: "heatpump", channel: cls.channel, data: b64("on") }),
    ).toEqual({ sent: 2 });
    const r = await h
      .client("cls")
      .request("tcm", "tcm.receive", { channel: cls.channel, waitMs: 2000 });
    expect(text(r.data)).toBe("echo:on");
    await h.client("admin").request("tcm", "tcm.close", { channel: admin.channel });
    await h.client("cls").request("tcm", "tcm.close", { channel: cls.channel });
  }, 20_000);
});

describe("refusals", () => {
  const cases: {
    name: string;
    unit: "meter" | "admin" | "cls";
    body: { endpoint: string; purpose: string; device?: string };
    reason: RegExp;
  }[] = [
    {
      name: "meter to the GWA",
      unit: "meter",
      body: { endpoint: "gwa", purpose: "wan-gwa-session" },
      reason: /meter may not use wan-gwa-session/,
    },
    {
      name: "meter to the GWA under the EMT purpose",
      unit: "meter",
      body: { endpoint: "gwa", purpose: "wan-emt-delivery" },
      reason: /wan-emt-delivery does not reach gwa/,
    },
    {
      name: "admin to an EMT",
      unit: "admin",
      body: { endpoint: "emt-supplier", purpose: "wan-emt-delivery" },
      reason: /admin may not use wan-emt-delivery/,
    },
    {
      name: "cls to an endpoint not authorised for its device",
      unit: "cls",
      body: { endpoint: "emt-supplier", purpose: "wan-cls-relay", device: "heatpump" },
      reason: /wan-cls-relay does not reach emt-supplier/,
    },
    {
      name: "cls without naming the device",
      unit: "cls",
      body: { endpoint: "emt-dso", purpose: "wan-cls-relay" },
      reason: /must name it/,
    },
    {
      name: "cls for a device that is no CLS device",
      unit: "cls",
      body: { endpoint: "emt-dso", purpose: "wan-cls-relay", device: "alice" },
      reason: /alice is no CLS device/,
    },
    {
      name: "a purpose that is no outbound flow",
      unit: "meter",
      body: { endpoint: "emt-supplier", purpose: "lmn-meter-readings" },
      reason: /is no outbound TLS flow/,
    },
  ];
  for (const c of cases) {
    test(`${c.name}: refused, logged, and the TCM goes on serving`, async () => {
      const e = await refusal(h.client(c.unit).request("tcm", "tcm.open-channel", c.body));
      expect(e.code).toBe("denied");
      expect(e.message).toMatch(c.reason);
      await refusedInLog(c.reason);
      expect(await echo("meter", await openEmt(), "after")).toBe("echo:after");
    }, 20_000);
  }

  test("a domain without a flow to the TCM is refused by the IFM already", async () => {
    const e = await refusal(
      h.client("display").request("tcm", "tcm.open-channel", {
        endpoint: "emt-supplier",
        purpose: "wan-emt-delivery",
      }),
    );
    expect(e.code).toBe("denied");
    await h.waitForLog(
      "backend",
      (l) => l.includes("flow.denied") && l.includes('"from":"display"'),
    );
    // And a domain may not take sessions from a listener that is not its own.
    const m = await refusal(
      h.client("meter").request(
        "tcm",
        "tcm.accept" as never,
        {
          listener: "han-cls-proxy",
        } as never,
      ),
    );
    expect(m.code).toBe("denied");
  }, 20_000);

  const wrong: { name: string; entity: string; kind: RegExp }[] = [
    {
      name: "a certificate with another subject",
      entity: "impostor",
      kind: /tls-refused|peer: unexpected peer certificate/,
    },
    {
      name: "a certificate from a foreign CA",
      entity: "foreign-gwa",
      kind: /verify: unable to get local issuer certificate/,
    },
    {
      name: "an expired certificate",
      entity: "expired-gwa",
      kind: /verify: certificate has expired/,
    },
  ];
  for (const w of wrong) {
    test(`a GWA presenting ${w.name} is refused, logged, and the TCM goes on`, async () => {
      const gwa = h.peer("gwa", w.entity);
      const e = await refusal(
        h
          .client("admin")
          .request("tcm", "tcm.open-channel", { endpoint: "gwa", purpose: "wan-gwa-session" }),
      );
      expect(e.code).toBe("tls-refused");
      expect(e.message).toMatch(w.kind);
      await refusedInLog(w.kind);
      // A broken chain fails the handshake; a wrong subject is found right after it.
      if (w.entity !== "impostor") expect(gwa.clients).toEqual([]);
      h.peer("gwa");
      const ok = await h.client("admin").request("tcm", "tcm.open-channel", {
        endpoint: "gwa",
        purpose: "wan-gwa-session",
      });
      expect(await echo("admin", ok.channel, "again")).toBe("echo:again");
      await h.client("admin").request("tcm", "tcm.close", { channel: ok.channel });
    }, 20_000);
  }

  test("an endpoint nobody listens at is unavailable, not a crash", async () => {
    const gwa = h.peer("gwa");
    gwa.stop();
    const e = await refusal(
      h
        .client("admin")
        .request("tcm", "tcm.open-channel", { endpoint: "gwa", purpose: "wan-gwa-session" }),
    );
    expect(e.code).toBe("unavailable");
    h.peer("gwa");
  }, 20_000);

  test("bad bodies are refused by the contract or the TCM", async () => {
    const channel = await openEmt();
    const meter = h.client("meter");
    const bad: [string, unknown][] = [
      ["tcm.send", { channel, data: "not base64!" }],
      ["tcm.send", { channel, data: "abc" }],
      ["tcm.send", { channel: "ch-nothex", data: "" }],
      ["tcm.receive", { channel, max: 0 }],
      ["tcm.receive", { channel, waitMs: 60_000 }],
      ["tcm.open-channel", { endpoint: "emt-supplier" }],
      ["tcm.open-channel", { endpoint: "EMT", purpose: "x" }],
      ["tcm.close", { channel, extra: 1 }],
    ];
    for (const [type, body] of bad) {
      const e = await refusal(meter.requestRaw("tcm", type, body));
      expect(["invalid-body", "denied"]).toContain(e.code);
    }
    expect(await echo("meter", channel, "still")).toBe("echo:still");
  }, 20_000);
});

describe("ownership of channels", () => {
  test("a unit can only send, receive and close on its own channels", async () => {
    const channel = await openEmt();
    const admin = h.client("admin");
    for (const [type, body] of [
      ["tcm.send", { channel, data: b64("hijack") }],
      ["tcm.receive", { channel }],
      ["tcm.close", { channel }],
    ] as const) {
      const e = await refusal(admin.requestRaw("tcm", type, body));
      expect(e.code).toBe("denied");
      expect(e.message).toContain(`admin has no channel ${channel}`);
    }
    // cls.relay names a device: another unit's channel is not the device's either.
    const c = await refusal(
      h.client("cls").request("tcm", "cls.relay", { device: "heatpump", channel, data: b64("x") }),
    );
    expect(c.code).toBe("denied");
    await h.waitForLog("tcm", (l) => l.includes("tcm.channel-not-own") && l.includes(channel));
    // The owner's channel is untouched.
    expect(await echo("meter", channel, "mine")).toBe("echo:mine");
    await h.client("meter").request("tcm", "tcm.close", { channel });
  }, 20_000);
});

describe("inbound TLS on the HAN", () => {
  const pki = () => h.provisioned.pki;
  function device(entity: string, port: number): Promise<TlsChannel> {
    const e = h.provisioned.peer(entity);
    return connectTls({
      host: GATEWAY.HAN,
      port,
      profile: tr03116Profile(),
      ca: pki().trustAnchor,
      cert: e.chain,
      key: { kind: "file", path: e.key },
      crl: pki().crlBundle,
      verifyHost: false,
      expectedPeer: {
        subject: h.provisioned.gateway[port === h.ports.cls ? "tls-cls" : "tls-han"],
      },
    });
  }

  test("a CLS device's session is handed to the cls unit with tcm.accept", async () => {
    const cls = h.client("cls");
    const waiting = cls.request("tcm", "tcm.accept", { listener: "han-cls-proxy", waitMs: 4000 });
    const heatpump = await device("heatpump", h.ports.cls);
    const taken = await waiting;
    expect(taken.peer).toMatchObject({
      endpoint: "heatpump",
      subject: "CN=CLS Heatpump Test,O=CLS-Test,C=DE",
    });
    const channel = taken.channel as string;
    heatpump.send("switch on?");
    const r = await cls.request("tcm", "tcm.receive", { channel, waitMs: 2000 });
    expect(text(r.data)).toBe("switch on?");
    await cls.request("tcm", "tcm.send", { channel, data: b64("ok") });
    expect(String(await heatpump.receive())).toBe("ok");
    heatpump.close();
    // Nothing waiting: accept answers empty after its wait.
    expect(
      await cls.request("tcm", "tcm.accept", { listener: "han-cls-proxy", waitMs: 100 }),
    ).toEqual({});
  }, 20_000);

  test("a device with a certificate the policy does not name is refused and logged", async () => {
    // The TCM checks the subject once the handshake is done, so the device may see it finish
    // before the session is closed; either way nothing reaches the cls unit.
    const attempt = await device("impostor", h.ports.cls).catch((x: Error) => x);
    if (!(attempt instanceof Error)) {
      expect(await attempt.receive().catch(() => null)).toBeNull();
    }
    await h.waitForLog(
      "tcm",
      (l) => l.includes("inbound TLS refused") && l.includes("unexpected peer certificate"),
    );
    expect(
      await h
        .client("cls")
        .request("tcm", "tcm.accept", { listener: "han-cls-proxy", waitMs: 200 }),
    ).toEqual({});
  }, 20_000);

  function request(channel: TlsChannel, raw: string): Promise<string> {
    channel.send(raw);
    return (async () => {
      let out = "";
      for await (const chunk of channel) {
        out += chunk.toString();
        if (/\r\n\r\n[\s\S]*\}$/.test(out)) break;
      }
      return out;
    })();
  }

  test("the display gets HTTP from the TLS session with the verified client subject", async () => {
    const alice = await device("alice", h.ports.displayTls);
    const answer = await request(
      alice,
      `GET /api/v1/me?x=1 HTTP/1.1\r\nHost: ${GATEWAY.HAN}:${h.ports.displayTls}\r\n${SUBJECT_HEADER}: CN=Bob\r\n\r\n`,
    );
    expect(answer).toStartWith("HTTP/1.1 200");
    const seen = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    expect(seen.path).toBe("/api/v1/me");
    expect(seen.from).toBe("127.0.0.1");
    // The forged header is gone; the verified subject is there.
    expect(seen.headers[SUBJECT_HEADER]).toBe("CN=alice,O=Consumer-Test,C=DE");
    expect(seen.headers.host).toBe(`${GATEWAY.HAN}:${h.ports.displayTls}`);
    // A second request on the same session, with a body.
    const post = await request(
      alice,
      `POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"user":"a"}\n`,
    );
    const seenPost = JSON.parse(post.slice(post.indexOf("\r\n\r\n") + 4));
    expect(seenPost).toMatchObject({ method: "POST", body: '{"user":"a"}\n' });
    alice.close();
    await h.waitForLog("tcm", (l) => l.includes("client sent its own certificate subject header"));
  }, 20_000);

  test("garbage instead of HTTP ends that session only", async () => {
    const alice = await device("alice", h.ports.displayTls);
    alice.send(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x00, 0x0a, 0x0d, 0x0a, 0x0d, 0x0a]));
    alice.send("\r\n\r\nGET / HTTP/9.9 x y z\r\n\r\n");
    let answer = "";
    for await (const chunk of alice) answer += chunk.toString();
    expect(answer === "" || answer.startsWith("HTTP/1.1 400")).toBe(true);
    const again = await device("alice", h.ports.displayTls);
    const ok = await request(again, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(ok).toStartWith("HTTP/1.1 200");
    again.close();
  }, 20_000);

  test("without a client certificate the display gets no subject", async () => {
    const r = await openssl(
      [
        "s_client",
        "-connect",
        `${GATEWAY.HAN}:${h.ports.displayTls}`,
        "-CAfile",
        pki().trustAnchor,
        "-tls1_2",
        "-groups",
        "brainpoolP256r1",
        "-quiet",
      ],
      `GET /x HTTP/1.1\r\nHost: a\r\n${SUBJECT_HEADER}: CN=alice,O=Consumer-Test,C=DE\r\nConnection: close\r\n\r\n`,
      { timeoutMs: 10_000 },
    );
    const body = r.stdout.slice(r.stdout.indexOf("{"));
    const seen = JSON.parse(body);
    expect(seen.headers[SUBJECT_HEADER]).toBeUndefined();
    expect(seen.path).toBe("/x");
  }, 20_000);
});

describe("the private key stays in the security module", () => {
  test("every TLS signature was made by the crypto manager", async () => {
    const status = await h.client("sysmgmt").request("tcm", "status.get", {});
    const signing = status.detail.signing as { signatures: number; failures: number };
    expect(signing.signatures).toBeGreaterThan(5);
    const crypto = await h.client("sysmgmt").request("crypto", "status.get", {});
    expect(crypto.detail.operations as number).toBeGreaterThanOrEqual(signing.signatures);
  });

  test("the TCM's state holds certificates only", () => {
    const layout = credentialLayout(h.tcmState);
    expect(filesWithPrivateKeys(h.tcmState)).toEqual([]);
    expect(readFileSync(layout.chain("tls-wan"), "utf8")).toContain("BEGIN CERTIFICATE");
    expect(readdirSync(layout.dir).sort()).toEqual([
      "anchors",
      "crls.pem",
      "tls-cls.chain.pem",
      "tls-han.chain.pem",
      "tls-wan.chain.pem",
    ]);
  });

  test("the TCM's memory holds none of the module's private keys", () => {
    const state = JSON.parse(
      readFileSync(path.join(h.cryptoState, "software-secmod.json"), "utf8"),
    );
    const secrets = Object.values(state.ecKeys as Record<string, { private: string }>).map((k) =>
      privateScalar(Buffer.from(k.private, "base64")),
    );
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    // A control: the WAN certificate's signed part (public, held by OpenSSL in the TCM) is
    // found by the same scan.
    const certificate = Buffer.from(
      readFileSync(credentialLayout(h.tcmState).chain("tls-wan"), "utf8")
        .split("-----END CERTIFICATE-----")[0]
        ?.replace(/-----BEGIN CERTIFICATE-----|\s+/g, "") ?? "",
      "base64",
    );
    const found = scanMemory(h.tcm.pid, [certificate.subarray(4, 68), ...secrets]);
    expect(found[0]).toBe(true);
    expect(found.slice(1)).toEqual(secrets.map(() => false));
  }, 60_000);

  test.skipIf(!isRoot)("the TCM runs as its own user, who cannot read the module's state", () => {
    const status = readFileSync(`/proc/${h.tcm.pid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${NOBODY.uid}\\s`, "m"));
    const attempt = spawnSync(
      "setpriv",
      [
        `--reuid=${NOBODY.uid}`,
        `--regid=${NOBODY.gid}`,
        "--clear-groups",
        "cat",
        path.join(h.cryptoState, "software-secmod.json"),
      ],
      { encoding: "utf8" },
    );
    expect(attempt.status).not.toBe(0);
    expect(attempt.stderr).toContain("Permission denied");
    // The test PKI's keys (CAs, peers) are out of its reach as well.
    const pkiKey = h.provisioned.pki.root.key;
    const ca = spawnSync(
      "setpriv",
      [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, "--clear-groups", "cat", pkiKey],
      { encoding: "utf8" },
    );
    expect(ca.status).not.toBe(0);
  });
});

describe("the IFM restarts", () => {
  test("the TCM reconnects both connections, in order, and opens channels again", async () => {
    const before = h.tcmLog.length;
    await h.restartBackend();
    await h.waitForLog(
      "tcm",
      (l) => h.tcmLog.indexOf(l) >= before && l.includes("signing connection to the IFM reopened"),
      10_000,
    );
    // Deliveries reach the TCM (its newest connection is the asynchronous one) and signing works.
    let channel: string | undefined;
    for (let i = 0; i < 20 && !channel; i++) {
      channel = await openEmt().catch(async () => {
        await Bun.sleep(200);
        return undefined;
      });
    }
    expect(channel).toBeDefined();
    expect(await echo("meter", channel as string, "after restart")).toBe("echo:after restart");
    const status = await h.client("sysmgmt").request("tcm", "status.get", {});
    expect(status.detail.ifmReconnects as number).toBeGreaterThanOrEqual(1);
  }, 40_000);
});

/** The 32-byte private scalar inside a SEC1 ECPrivateKey (SEQUENCE { 1, OCTET STRING d, ... }). */
function privateScalar(der: Buffer): Buffer {
  const at = der.indexOf(Buffer.from([0x02, 0x01, 0x01, 0x04]));
  const length = der[at + 4] ?? 0;
  if (at < 0 || length < 24) throw new Error("no ECPrivateKey scalar found");
  return der.subarray(at + 5, at + 5 + length);
}

/** Whether each needle occurs anywhere in the readable memory of process `pid`. */
function scanMemory(pid: number, needles: Buffer[]): boolean[] {
  const found = needles.map(() => false);
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n");
  const fd = openSync(`/proc/${pid}/mem`, "r");
  const overlap = Math.max(...needles.map((n) => n.length));
  const chunk = Buffer.alloc(4 * 1024 * 1024 + overlap);
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (r)/.exec(line);
      if (!m?.[1] || !m[2] || line.includes("[vvar]") || line.includes("[vsyscall]")) continue;
      const start = Number.parseInt(m[1], 16);
      const end = Number.parseInt(m[2], 16);
      for (let at = start; at < end; at += chunk.length - overlap) {
        let n = 0;
        try {
          n = readSync(fd, chunk, 0, Math.min(chunk.length, end - at), at);
        } catch {
          break; // a region that cannot be read (guard pages)
        }
        const view = chunk.subarray(0, n);
        needles.forEach((needle, i) => {
          if (!found[i] && view.includes(needle)) found[i] = true;
        });
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}
