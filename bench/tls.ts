// Benchmark: the TCM's TLS library (system OpenSSL through bun:ffi) against Node's `tls` on the
// same certificates and the same TR-03116-3 settings, in one run, over TCP loopback, and both
// against the brainpool arithmetic bound from `openssl speed` measured in the same run.
//
//   userland/node_modules/.bin/bun bench/tls.ts [--seconds N] [--mb N] [--rounds N] [--no-crl]
//
// Each implementation runs as two processes of its own (server and client). Measured: full mutual
// brainpoolP256r1 handshakes per second (sequential, and 4 in flight), CPU per handshake (client
// plus server, from the processes' own CPU clocks), and bulk MB/s of one connection
// (AES-128-GCM, client to server). Medians of the rounds; the implementations alternate.
//
// Arithmetic bound, per side of a mutual TLS 1.2 handshake with this PKI:
//   2 brainpoolP256r1 signs (the handshake signature, and the ephemeral key generation: both one
//   fixed-base scalar multiplication), 1 ECDH derivation, and verifies: the peer's handshake
//   signature and its leaf certificate (brainpoolP256r1), its sub-CA certificate (signed by the
//   brainpoolP384r1 root); with CRLs also the sub-CA's CRL (P256) and the root's CRL (P384).
//   t_side = 2/sign256 + 1/ecdh256 + (2 + crl)/verify256 + (1 + crl)/verify384
//   bound = 1 / (2 t_side) handshakes per CPU-second (both ends).
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
  tr03116Profile,
} from "../userland/lib/tls/index.ts";

interface Config {
  role: "server" | "client";
  mode?: "handshake" | "bulk";
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

async function ffiServer(config: Config): Promise<void> {
  const profile = tr03116Profile({ tls13: false });
  const context = createTlsContext({
    role: "server",
    profile: { ...profile, cipherSuites: [SUITES] },
    ca: config.files.ca,
    cert: config.files.serverChain,
    key: { kind: "file", path: config.files.serverKey },
    ...(config.crl ? { crl: config.files.crl } : {}),
  });
  const listener = listenTls({
    port: 0,
    context,
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
  const cpu0 = cpuSeconds();
  console.log(JSON.stringify({ port: listener.port }));
  for await (const _ of console) break; // runs until stdin closes
  console.log(JSON.stringify({ cpuSeconds: cpuSeconds() - cpu0 }));
  listener.stop(true);
  process.exit(0);
}

async function ffiClient(config: Config): Promise<ClientResult> {
  const context = createTlsContext({
    role: "client",
    profile: tr03116Profile({ tls13: false }),
    ca: config.files.ca,
    cert: config.files.clientChain,
    key: { kind: "file", path: config.files.clientKey },
    ...(config.crl ? { crl: config.files.crl } : {}),
  });
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
if (config.role === "server") {
  const server = tls.createServer({ ...common, cert: readFileSync(f.serverChain), key: readFileSync(f.serverKey),
      requestCert: true, rejectUnauthorized: true }, (socket) => {
    let received = 0;
    socket.on("error", () => {});
    socket.on("data", (d) => { received += d.length; if (received >= config.bulkBytes) socket.end("ok"); });
  });
  server.listen(0, "127.0.0.1", () => {
    const cpu0 = cpu();
    console.log(JSON.stringify({ port: server.address().port }));
    process.stdin.resume();
    process.stdin.on("end", () => { console.log(JSON.stringify({ cpuSeconds: cpu() - cpu0 })); process.exit(0); });
  });
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
    const chunk = Buffer.alloc(${CHUNK}, 0x5a);
    const start = performance.now();
    const c0 = cpu();
    let sent = 0;
    const done = new Promise((resolve) => s.once("data", resolve));
    const pump = () => { while (sent < config.bulkBytes) { sent += chunk.length; if (!s.write(chunk)) return; } };
    s.on("drain", pump);
    pump();
    await done;
    console.log(JSON.stringify({ count: 1, bytes: sent, seconds: (performance.now() - start) / 1000, cpuSeconds: cpu() - c0 }));
    s.destroy();
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

async function run(
  impl: Impl,
  base: Config,
  mode: "handshake" | "bulk",
  concurrency: number,
): Promise<RunResult> {
  const server = spawnChild(impl, { ...base, role: "server" });
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
    };
    for (let r = 0; r < rounds; r++) {
      for (const impl of (r % 2 === 0 ? ["ffi", "node"] : ["node", "ffi"]) as Impl[]) {
        results.sequential?.[impl].push(await run(impl, base, "handshake", 1));
        results.concurrent?.[impl].push(await run(impl, base, "handshake", 4));
        results.bulk?.[impl].push(await run(impl, base, "bulk", 1));
      }
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

    const s256 = rates.sign256 as number;
    const v256 = rates.verify256 as number;
    const d256 = rates.ecdh256 as number;
    const v384 = rates.verify384 as number;
    const c = crl ? 1 : 0;
    const tSide = 2 / s256 + 1 / d256 + (2 + c) / v256 + (1 + c) / v384;
    const bound = 1 / (2 * tSide);
    console.log(
      `\nopenssl speed: brainpoolP256r1 ${s256.toFixed(0)} sign/s, ${v256.toFixed(0)} verify/s, ` +
        `${d256.toFixed(0)} ECDH/s; brainpoolP384r1 ${v384.toFixed(0)} verify/s`,
    );
    console.log(
      `bound: t_side = 2/sign256 + 1/ecdh256 + ${2 + c}/verify256 + ${1 + c}/verify384 = ${(tSide * 1000).toFixed(2)} ms; ` +
        `1/(2 t_side) = ${bound.toFixed(0)} handshakes per CPU-second`,
    );
    console.log(
      `measured per CPU-second: ffi ${(1 / cpuPer(seq.ffi)).toFixed(0)} (${(100 / cpuPer(seq.ffi) / bound).toFixed(0)} % of the bound), ` +
        `node ${(1 / cpuPer(seq.node)).toFixed(0)} (${(100 / cpuPer(seq.node) / bound).toFixed(0)} %)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) {
  const config = JSON.parse(process.env.BENCH_CONFIG ?? "{}") as Config;
  if (config.role === "server") await ffiServer(config);
  else {
    console.log(JSON.stringify(await ffiClient(config)));
    process.exit(0);
  }
} else {
  await main();
}
