// Benchmark: the TCM's TLS library (system OpenSSL through bun:ffi) against Node's `tls` on the
// same certificates and the same TR-03116-3 settings, in one run, over TCP loopback, and both
// against the brainpool arithmetic bound from `openssl speed` measured in the same run.
//
//   userland/node_modules/.bin/bun bench/tls.ts [--seconds N] [--mb N] [--rounds N] [--no-crl]
//
// Each implementation runs as two processes of its own (server and client), on the same two
// cores. Measured: full mutual brainpoolP256r1 handshakes per second (sequential, and 4 in
// flight), CPU per handshake (client plus server, from the processes' own CPU clocks), and bulk
// MB/s of one connection (AES-128-GCM, client to server). Medians of the rounds; the
// implementations alternate.
//
// What each side runs (the same for both implementations):
//   - TLS 1.2 only; ECDHE-ECDSA-AES128-GCM-SHA256 alone on both sides, groups brainpoolP256r1,
//     P384r1, P512r1 (P256 chosen), ECDSA with SHA-256/384/512, extended master secret, no tickets,
//     no renegotiation, no compression, no resumption (every handshake is full);
//   - the PKI of lib/tls/pki.ts: leaf and sub-CA on brainpoolP256r1, root on brainpoolP384r1;
//     each side presents leaf + sub-CA, trusts the root, and checks the CRLs of the whole chain;
//     the server demands a client certificate; the client checks the server for 127.0.0.1;
//   - one context per process: ours from createTlsContext (listenTls / connectTls); Node's from
//     tls.createServer and one tls.createSecureContext shared by all client connections;
//   - bulk: the client writes 256 KiB plaintext chunks and waits for "drain" when pushed back;
//     records are 16 KiB on both (OpenSSL's maximum); the server counts and answers "ok".
// Also measured, for the explanation of the figures: the same bulk transfer over plain TCP (no
// TLS) with Bun's sockets and with Node's `net`, which bounds what any TLS over those sockets
// can reach; and our handshakes in one process over memory BIOs (no sockets, no event loop).
//
// Arithmetic bound, per side of a mutual TLS 1.2 handshake with this PKI:
//   2 brainpoolP256r1 signs (the handshake signature, and the ephemeral key generation: both one
//   fixed-base scalar multiplication), 1 ECDH derivation, and verifies: the peer's handshake
//   signature and its leaf certificate (brainpoolP256r1), its sub-CA certificate (signed by the
//   brainpoolP384r1 root); with CRL checks for the whole chain OpenSSL also verifies, at every
//   handshake, the sub-CA's CRL (P256) and the root's CRL twice (P384: once for the sub-CA, once
//   for the root itself, which the whole-chain check includes).
//   t_side = 2/sign256 + 1/ecdh256 + (2 + crl)/verify256 + (1 + 2 crl)/verify384
//   bound = 1 / (2 t_side) handshakes per CPU-second (both ends).
// Our library verifies each CRL's signature once per issuer key and remembers it (lib/tls/crl.ts),
// so its bound leaves the CRL terms out: t_side = 2/sign256 + 1/ecdh256 + 2/verify256 + 1/verify384.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  connectTls,
  createTestPki,
  createTlsContext,
  listenTls,
  type TlsChannel,
  type TlsContext,
  TlsSession,
  tr03116Profile,
} from "../userland/lib/tls/index.ts";

type Mode = "handshake" | "bulk" | "tcp";

interface Config {
  role: "server" | "client" | "inprocess";
  /** "tcp": the bulk transfer over plain TCP, without TLS. */
  mode?: Mode;
  port?: number;
  seconds: number;
  concurrency: number;
  bulkBytes: number;
  crl: boolean;
  files: {
    ca: string;
    crl: string;
    serverChain: string;
    serverKey: string;
    clientChain: string;
    clientKey: string;
  };
}

interface ClientResult {
  count: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  /** Bulk over TLS: the protocol, suite and group the client saw negotiated. */
  negotiated?: string;
}

const SUITES = "ECDHE-ECDSA-AES128-GCM-SHA256";
const GROUPS = "brainpoolP256r1:brainpoolP384r1:brainpoolP512r1";
const SIGALGS = "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512";
const CHUNK = 256 * 1024;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ---------------------------------------------------------------- our library (child process)

function ffiContext(config: Config, role: "server" | "client"): TlsContext {
  const profile = tr03116Profile({ tls13: false });
  return createTlsContext({
    role,
    // One suite on both sides, as Node's `ciphers` gives it to both.
    profile: { ...profile, cipherSuites: [SUITES] },
    ca: config.files.ca,
    cert: role === "server" ? config.files.serverChain : config.files.clientChain,
    key: {
      kind: "file",
      path: role === "server" ? config.files.serverKey : config.files.clientKey,
    },
    ...(config.crl ? { crl: config.files.crl } : {}),
  });
}

/** Prints the port, runs until stdin closes, then prints the CPU time used meanwhile. */
async function serve(port: number, stop: () => void): Promise<void> {
  const cpu0 = cpuSeconds();
  console.log(JSON.stringify({ port }));
  for await (const _ of console) break; // runs until stdin closes
  console.log(JSON.stringify({ cpuSeconds: cpuSeconds() - cpu0 }));
  stop();
  process.exit(0);
}

async function ffiServer(config: Config): Promise<void> {
  if (config.mode === "tcp") return tcpServer(config);
  const listener = listenTls({
    port: 0,
    context: ffiContext(config, "server"),
    onConnection(channel: TlsChannel) {
      let received = 0;
      channel.on("data", (data) => {
        received += data.length;
        if (received >= config.bulkBytes) {
          channel.send("ok");
          channel.close();
        }
      });
    },
  });
  await serve(listener.port, () => listener.stop(true));
}

async function ffiClient(config: Config): Promise<ClientResult> {
  if (config.mode === "tcp") return tcpClient(config);
  const context = ffiContext(config, "client");
  const connect = () => connectTls({ host: "127.0.0.1", port: config.port as number, context });
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  if (config.mode === "handshake") {
    const end = t0 + config.seconds * 1000;
    let count = 0;
    const loop = async () => {
      while (performance.now() < end) {
        const channel = await connect();
        channel.close();
        count++;
      }
    };
    await Promise.all(Array.from({ length: config.concurrency }, loop));
    return {
      count,
      bytes: 0,
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: cpuSeconds() - cpu0,
    };
  }
  const channel = await connect();
  const negotiated = `${channel.peer.protocol} ${channel.peer.cipher} ${channel.peer.group}`;
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const start = performance.now();
  const cpuStart = cpuSeconds();
  let sent = 0;
  const pump = () => {
    while (sent < config.bulkBytes) {
      sent += chunk.length;
      if (!channel.send(chunk)) return;
    }
  };
  channel.on("drain", pump);
  const answer = channel.receive();
  pump();
  await answer;
  return {
    count: 1,
    bytes: sent,
    seconds: (performance.now() - start) / 1000,
    cpuSeconds: cpuSeconds() - cpuStart,
    negotiated,
  };
}

// ---------------------------------------------------------------- Bun's plain TCP (child process)

async function tcpServer(config: Config): Promise<void> {
  const received = new Map<object, number>();
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, data) {
        const total = (received.get(socket) ?? 0) + data.length;
        received.set(socket, total);
        if (total >= config.bulkBytes) {
          socket.write("ok");
          socket.end();
        }
      },
      close(socket) {
        received.delete(socket);
      },
    },
  });
  await serve(listener.port, () => listener.stop(true));
}

function tcpClient(config: Config): Promise<ClientResult> {
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  let sent = 0;
  let rest: Uint8Array | null = null;
  let start = 0;
  let cpuStart = 0;
  return new Promise((resolve, reject) => {
    // Bun's write takes what the socket can take now and says how much: keep the rest.
    const pump = (socket: { write(data: Uint8Array): number }) => {
      if (rest) {
        const n = socket.write(rest);
        if (n < rest.length) {
          rest = rest.subarray(Math.max(n, 0));
          return;
        }
        rest = null;
      }
      while (sent < config.bulkBytes) {
        sent += chunk.length;
        const n = socket.write(chunk);
        if (n < chunk.length) {
          rest = chunk.subarray(Math.max(n, 0));
          return;
        }
      }
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port: config.port as number,
      socket: {
        open(socket) {
          socket.setNoDelay(true);
          start = performance.now();
          cpuStart = cpuSeconds();
          pump(socket);
        },
        drain: pump,
        data() {
          resolve({
            count: 1,
            bytes: sent,
            seconds: (performance.now() - start) / 1000,
            cpuSeconds: cpuSeconds() - cpuStart,
          });
        },
        error(_, error) {
          reject(error);
        },
        connectError(_, error) {
          reject(error);
        },
      },
    }).catch(reject);
  });
}

// ---------------------------------------------------------------- our handshakes in one process

/** Full handshakes between two sessions over memory BIOs: OpenSSL and FFI, no sockets. */
function ffiInProcess(config: Config): ClientResult {
  const server = ffiContext(config, "server");
  const client = ffiContext(config, "client");
  const once = () => {
    const c = new TlsSession(client, { verifyHost: "127.0.0.1" });
    const s = new TlsSession(server);
    try {
      c.start();
      for (let i = 0; i < 20; i++) {
        const toServer = c.takeOutput();
        if (toServer) s.receive(toServer);
        const toClient = s.takeOutput();
        if (toClient) c.receive(toClient);
        if (!toServer && !toClient) break;
      }
      if (c.state !== "open" || s.state !== "open") throw new Error("in-process handshake failed");
    } finally {
      c.free();
      s.free();
    }
  };
  for (let i = 0; i < 10; i++) once();
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const end = t0 + config.seconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    once();
    count++;
  }
  return {
    count,
    bytes: 0,
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: cpuSeconds() - cpu0,
  };
}

// ---------------------------------------------------------------- Node's tls (child process)

const NODE_CHILD = String.raw`
import tls from "node:tls";
import { constants } from "node:crypto";
import { readFileSync } from "node:fs";
const config = JSON.parse(process.env.BENCH_CONFIG);
const f = config.files;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const common = {
  ca: readFileSync(f.ca), minVersion: "TLSv1.2", maxVersion: "TLSv1.2",
  ciphers: ${JSON.stringify(SUITES)}, ecdhCurve: ${JSON.stringify(GROUPS)}, sigalgs: ${JSON.stringify(SIGALGS)},
  secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION,
  // Node reads one CRL per entry: hand it the bundle split into its PEM blocks.
  ...(config.crl ? { crl: readFileSync(f.crl, "utf8").match(/-----BEGIN X509 CRL-----[^-]+-----END X509 CRL-----\n?/g) } : {}),
};
// The client's bulk run: send config.bulkBytes, wait for the server's answer, report.
async function sendBulk(s, extra) {
  const chunk = Buffer.alloc(${CHUNK}, 0x5a);
  const start = performance.now();
  const c0 = cpu();
  let sent = 0;
  const done = new Promise((resolve) => s.once("data", resolve));
  const pump = () => { while (sent < config.bulkBytes) { sent += chunk.length; if (!s.write(chunk)) return; } };
  s.on("drain", pump);
  pump();
  await done;
  console.log(JSON.stringify({ count: 1, bytes: sent, seconds: (performance.now() - start) / 1000, cpuSeconds: cpu() - c0, ...extra }));
  s.destroy();
}
// Servers count what they receive and answer "ok" after the bulk; they print their port, and
// their CPU time when stdin ends.
function receiveBulk(socket) {
  let received = 0;
  socket.on("error", () => {});
  socket.on("data", (d) => { received += d.length; if (received >= config.bulkBytes) socket.end("ok"); });
}
function serve(server) {
  server.listen(0, "127.0.0.1", () => {
    const cpu0 = cpu();
    console.log(JSON.stringify({ port: server.address().port }));
    process.stdin.resume();
    process.stdin.on("end", () => { console.log(JSON.stringify({ cpuSeconds: cpu() - cpu0 })); process.exit(0); });
  });
}
if (config.mode === "tcp") {
  // The same bulk transfer over plain TCP (no TLS).
  const net = await import("node:net");
  if (config.role === "server") {
    serve(net.createServer(receiveBulk));
  } else {
    const s = net.connect({ host: "127.0.0.1", port: config.port, noDelay: true });
    await new Promise((resolve, reject) => { s.once("connect", resolve); s.once("error", reject); });
    await sendBulk(s, {});
  }
} else if (config.role === "server") {
  serve(tls.createServer({ ...common, cert: readFileSync(f.serverChain), key: readFileSync(f.serverKey),
      requestCert: true, rejectUnauthorized: true }, receiveBulk));
} else {
  // One SecureContext for all connections, as a careful Node program would do.
  const secureContext = tls.createSecureContext({ ...common, cert: readFileSync(f.clientChain), key: readFileSync(f.clientKey) });
  const connect = () => new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port: config.port, secureContext, ...common }, () => resolve(s));
    s.on("error", reject);
  });
  const cpu0 = cpu();
  const t0 = performance.now();
  if (config.mode === "handshake") {
    const end = t0 + config.seconds * 1000;
    let count = 0;
    const loop = async () => { while (performance.now() < end) { const s = await connect(); s.end(); count++; } };
    await Promise.all(Array.from({ length: config.concurrency }, loop));
    console.log(JSON.stringify({ count, bytes: 0, seconds: (performance.now() - t0) / 1000, cpuSeconds: cpu() - cpu0 }));
  } else {
    const s = await connect();
    const negotiated = s.getProtocol() + " " + s.getCipher().name + " " + s.getEphemeralKeyInfo().name;
    await sendBulk(s, { negotiated });
  }
}
`;

// ---------------------------------------------------------------- orchestration

type Impl = "ffi" | "node";

function spawnChild(impl: Impl, config: Config) {
  const env = { ...process.env, BENCH_CONFIG: JSON.stringify(config) };
  const cmd =
    impl === "ffi"
      ? [process.execPath, import.meta.path, "--child"]
      : ["node", "--input-type=module", "-e", NODE_CHILD];
  return Bun.spawn(cmd, {
    env,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
}

async function firstLine(
  stream: ReadableStream<Uint8Array>,
): Promise<{ line: string; rest: () => Promise<string> }> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child ended early: ${text}`);
    text += new TextDecoder().decode(value);
  }
  const index = text.indexOf("\n");
  return {
    line: text.slice(0, index),
    async rest() {
      let more = text.slice(index + 1);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return more;
        more += new TextDecoder().decode(value);
      }
    },
  };
}

interface RunResult {
  client: ClientResult;
  serverCpuSeconds: number;
}

async function run(impl: Impl, base: Config, mode: Mode, concurrency: number): Promise<RunResult> {
  const server = spawnChild(impl, { ...base, role: "server", mode });
  const ready = await firstLine(server.stdout);
  const { port } = JSON.parse(ready.line) as { port: number };
  const client = spawnChild(impl, {
    ...base,
    role: "client",
    mode,
    port,
    concurrency,
  });
  const output = await new Response(client.stdout).text();
  await client.exited;
  server.stdin.end();
  const serverOut = await ready.rest();
  await server.exited;
  const result = JSON.parse(output.trim().split("\n").at(-1) as string) as ClientResult;
  const serverCpu = JSON.parse(serverOut.trim().split("\n").at(-1) as string) as {
    cpuSeconds: number;
  };
  return { client: result, serverCpuSeconds: serverCpu.cpuSeconds };
}

/** Our in-process handshakes, in a child of their own. */
async function runInProcess(base: Config): Promise<ClientResult> {
  const child = spawnChild("ffi", { ...base, role: "inprocess" });
  const output = await new Response(child.stdout).text();
  child.stdin.end();
  await child.exited;
  return JSON.parse(output.trim().split("\n").at(-1) as string) as ClientResult;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Runs `openssl speed` and returns operations per second for each algorithm given. */
function speed(seconds: number): Record<string, number> {
  // OpenSSL 3.0 names the brainpool curves "brp256r1"; later versions also "brainpoolP256r1".
  const attempts = [
    ["ecdsabrainpoolP256r1", "ecdhbrainpoolP256r1", "ecdsabrainpoolP384r1"],
    ["ecdsabrp256r1", "ecdhbrp256r1", "ecdsabrp384r1"],
  ];
  for (const algorithms of attempts) {
    const p = Bun.spawnSync(["openssl", "speed", "-seconds", String(seconds), ...algorithms], {
      stdout: "pipe",
      stderr: "pipe",
    });
    if (p.exitCode !== 0) continue;
    const out = p.stdout.toString();
    const rates: Record<string, number> = {};
    for (const m of out.matchAll(
      /(\d+) bits ecdsa \(brainpoolP(\d+)r1\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/g,
    )) {
      rates[`sign${m[2]}`] = Number(m[3]);
      rates[`verify${m[2]}`] = Number(m[4]);
    }
    for (const m of out.matchAll(/(\d+) bits ecdh \(brainpoolP(\d+)r1\)\s+\S+\s+([\d.]+)/g)) {
      rates[`ecdh${m[2]}`] = Number(m[3]);
    }
    if (rates.sign256 && rates.verify256 && rates.ecdh256 && rates.verify384) return rates;
  }
  throw new Error("openssl speed gave no brainpool figures");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: "string", default: "3" },
      mb: { type: "string", default: "512" },
      rounds: { type: "string", default: "3" },
      "no-crl": { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const crl = !values["no-crl"];
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-bench-tls-"));
  try {
    const pki = createTestPki(dir);
    const smgw = pki.entity("smgw");
    const gwa = pki.entity("gwa");
    const base: Config = {
      role: "server",
      seconds,
      concurrency: 1,
      bulkBytes: Number(values.mb) * 1024 * 1024,
      crl,
      files: {
        ca: pki.trustAnchor,
        crl: pki.crlBundle,
        serverChain: smgw.chain,
        serverKey: smgw.key,
        clientChain: gwa.chain,
        clientKey: gwa.key,
      },
    };
    const nodeOpenSsl = Bun.spawnSync(["node", "-p", "process.versions.openssl"])
      .stdout.toString()
      .trim();
    console.log(
      `TLS 1.2 mutual, ${SUITES}, brainpoolP256r1 certificates and group, CRL checks ${crl ? "on" : "off"}; ` +
        `Node ${Bun.spawnSync(["node", "--version"]).stdout.toString().trim()} (OpenSSL ${nodeOpenSsl}); ` +
        `${rounds} rounds, medians\n`,
    );

    const results: Record<string, Record<Impl, RunResult[]>> = {
      sequential: { ffi: [], node: [] },
      concurrent: { ffi: [], node: [] },
      bulk: { ffi: [], node: [] },
      tcp: { ffi: [], node: [] },
    };
    const inProcess: ClientResult[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const impl of (r % 2 === 0 ? ["ffi", "node"] : ["node", "ffi"]) as Impl[]) {
        results.sequential?.[impl].push(await run(impl, base, "handshake", 1));
        results.concurrent?.[impl].push(await run(impl, base, "handshake", 4));
        results.bulk?.[impl].push(await run(impl, base, "bulk", 1));
        results.tcp?.[impl].push(await run(impl, base, "tcp", 1));
      }
      inProcess.push(await runInProcess(base));
    }
    const rates = speed(2);

    const rate = (rs: RunResult[]) => median(rs.map((x) => x.client.count / x.client.seconds));
    const cpuPer = (rs: RunResult[]) =>
      median(rs.map((x) => (x.client.cpuSeconds + x.serverCpuSeconds) / x.client.count));
    const mbps = (rs: RunResult[]) =>
      median(rs.map((x) => x.client.bytes / 1024 / 1024 / x.client.seconds));
    const mbPerCpu = (rs: RunResult[]) =>
      median(
        rs.map((x) => x.client.bytes / 1024 / 1024 / (x.client.cpuSeconds + x.serverCpuSeconds)),
      );
    const line = (label: string, a: number, b: number, unit: string, digits = 0) =>
      console.log(
        `${label.padEnd(40)} ffi ${a.toFixed(digits).padStart(8)}  node ${b.toFixed(digits).padStart(8)} ${unit.padEnd(12)} ratio ${(a / b).toFixed(2)}`,
      );
    const seq = results.sequential as Record<Impl, RunResult[]>;
    const conc = results.concurrent as Record<Impl, RunResult[]>;
    const bulk = results.bulk as Record<Impl, RunResult[]>;
    const tcp = results.tcp as Record<Impl, RunResult[]>;
    // Both must have run the same protocol, suite and group, else the comparison is void.
    const seen = new Set([...bulk.ffi, ...bulk.node].map((x) => x.client.negotiated));
    if (seen.size !== 1)
      throw new Error(`different parameters negotiated: ${[...seen].join(" / ")}`);
    console.log(`negotiated in every bulk run of both: ${[...seen][0]}`);
    line("handshakes/s, sequential", rate(seq.ffi), rate(seq.node), "/s");
    line("handshakes/s, 4 in flight", rate(conc.ffi), rate(conc.node), "/s");
    line(
      "CPU per handshake (client + server)",
      cpuPer(seq.ffi) * 1000,
      cpuPer(seq.node) * 1000,
      "ms",
      2,
    );
    line("handshakes per CPU-second", 1 / cpuPer(seq.ffi), 1 / cpuPer(seq.node), "/CPU-s");
    line(`bulk, one connection, ${values.mb} MiB`, mbps(bulk.ffi), mbps(bulk.node), "MB/s");
    line(
      "bulk per CPU-second (sender + receiver)",
      mbPerCpu(bulk.ffi),
      mbPerCpu(bulk.node),
      "MB/CPU-s",
    );
    line("plain TCP, no TLS (Bun vs Node sockets)", mbps(tcp.ffi), mbps(tcp.node), "MB/s");

    const inProcessCpu = median(inProcess.map((x) => x.cpuSeconds / x.count));
    console.log(
      `\nin one process over memory BIOs (no sockets): ffi ${(inProcessCpu * 1000).toFixed(2)} ms CPU per handshake ` +
        `(both ends); sockets and event loop add ${((cpuPer(seq.ffi) - inProcessCpu) * 1000).toFixed(2)} ms`,
    );
    console.log(
      `bulk ceiling: Bun's plain TCP moves ${mbps(tcp.ffi).toFixed(0)} MB/s = ${(mbps(tcp.ffi) / mbps(bulk.node)).toFixed(2)}× ` +
        `Node's TLS bulk; our TLS bulk reaches ${((100 * mbps(bulk.ffi)) / mbps(tcp.ffi)).toFixed(0)} % of it`,
    );

    const s256 = rates.sign256 as number;
    const v256 = rates.verify256 as number;
    const d256 = rates.ecdh256 as number;
    const v384 = rates.verify384 as number;
    const c = crl ? 1 : 0;
    const tSide = 2 / s256 + 1 / d256 + (2 + c) / v256 + (1 + 2 * c) / v384;
    const tCached = 2 / s256 + 1 / d256 + 2 / v256 + 1 / v384;
    const bound = 1 / (2 * tSide);
    const boundCached = 1 / (2 * tCached);
    console.log(
      `\nopenssl speed: brainpoolP256r1 ${s256.toFixed(0)} sign/s, ${v256.toFixed(0)} verify/s, ` +
        `${d256.toFixed(0)} ECDH/s; brainpoolP384r1 ${v384.toFixed(0)} verify/s`,
    );
    console.log(
      `bound: t_side = 2/sign256 + 1/ecdh256 + ${2 + c}/verify256 + ${1 + 2 * c}/verify384 = ${(tSide * 1000).toFixed(2)} ms; ` +
        `1/(2 t_side) = ${bound.toFixed(0)} handshakes per CPU-second`,
    );
    if (crl) {
      console.log(
        `bound with each CRL signature verified once: t_side = 2/sign256 + 1/ecdh256 + 2/verify256 + 1/verify384 = ` +
          `${(tCached * 1000).toFixed(2)} ms; ${boundCached.toFixed(0)} handshakes per CPU-second`,
      );
    }
    const ffiBound = crl ? boundCached : bound;
    console.log(
      `measured per CPU-second: ffi ${(1 / cpuPer(seq.ffi)).toFixed(0)} (${(100 / cpuPer(seq.ffi) / ffiBound).toFixed(0)} % of ${crl ? "its" : "the"} bound), ` +
        `node ${(1 / cpuPer(seq.node)).toFixed(0)} (${(100 / cpuPer(seq.node) / bound).toFixed(0)} % of the bound)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) {
  const config = JSON.parse(process.env.BENCH_CONFIG ?? "{}") as Config;
  if (config.role === "server") await ffiServer(config);
  else if (config.role === "inprocess") {
    console.log(JSON.stringify(ffiInProcess(config)));
    process.exit(0);
  } else {
    console.log(JSON.stringify(await ffiClient(config)));
    process.exit(0);
  }
} else {
  await main();
}
