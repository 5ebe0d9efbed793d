// Benchmark: what it costs per TLS handshake that the TCM's private key stays in the security
// module, against a key file, in one run.
//
//   userland/node_modules/.bin/bun bench/tcm-sign.ts [--seconds N]
//
// Full TLS 1.2 handshakes (TR-03116-3 profile, brainpoolP256r1, mutual authentication) between
// two in-memory sessions of this process: a file-key server (the EMT) and a client (the TCM)
// whose CertificateVerify signature comes from
//   1. a key file (OpenSSL signs inside the handshake): the anchor;
//   2. a callback key whose sign function signs with the same key in this process: the cost of
//      the mechanism itself (JSCallback into JavaScript, digest out, DER signature in);
//   3. a callback key whose sign function is the TCM's real path: a blocking crypto.sign round
//      trip over the TCM's own IFM socket to the crypto unit (software module) in another
//      process, through the real IFM broker, and back.
// Each handshake also verifies both chains with the CRLs, as the TCM does.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createLogger, ifmSocketPath } from "../userland/lib/daemon/index.ts";
import { loadPolicyFile } from "../userland/lib/policy/index.ts";
import { createSoftwareModule, EcKey } from "../userland/lib/secmod/index.ts";
import {
  createTlsContext,
  type KeySource,
  type TlsContext,
  TlsSession,
} from "../userland/lib/tls/index.ts";
import { credentialLayout, IfmLink, tcmProfile } from "../userland/units/tcm/index.ts";
import { provisionTcmCredentials } from "../userland/units/tcm/provision.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { seconds: { type: "string", default: "5" } },
});
const SECONDS = Number(values.seconds);
const REPO = path.resolve(import.meta.dir, "..");
const POLICY = path.join(REPO, "policy", "smgw.policy.yaml");

function handshake(client: TlsContext, server: TlsContext): void {
  const c = new TlsSession(client);
  const s = new TlsSession(server);
  try {
    const e = c.start();
    if (e) throw e;
    for (let i = 0; i < 20; i++) {
      const a = c.takeOutput();
      if (a) {
        const r = s.receive(a);
        if (r.error) throw r.error;
      }
      const b = s.takeOutput();
      if (b) {
        const r = c.receive(b);
        if (r.error) throw r.error;
      }
      if (!a && !b) break;
    }
    if (c.state !== "open" || s.state !== "open") {
      throw new Error(`handshake failed: ${c.state}/${s.state}`);
    }
  } finally {
    c.free();
    s.free();
  }
}

function measure(name: string, client: TlsContext, server: TlsContext) {
  for (let i = 0; i < 30; i++) handshake(client, server);
  const times: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    handshake(client, server);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  const r = {
    name,
    perSecond: (times.length / total) * 1000,
    meanMs: total / times.length,
    p99Ms: times[Math.floor(times.length * 0.99)] ?? Number.NaN,
  };
  console.log(
    `${name.padEnd(48)} ${r.perSecond.toFixed(0).padStart(6)} handshakes/s   mean ${r.meanMs.toFixed(2)} ms   p99 ${r.p99Ms.toFixed(2)} ms`,
  );
  return r;
}

function derOfPem(file: string): Uint8Array {
  return Buffer.from(
    readFileSync(file, "utf8")
      .replace(/-----[^-]+-----/g, "")
      .replace(/\s+/g, ""),
    "base64",
  );
}

const dir = mkdtempSync(path.join(tmpdir(), "smgw-bench-tcm-"));
let backend: ReturnType<typeof Bun.spawn> | undefined;
let link: IfmLink | undefined;
try {
  const policy = await loadPolicyFile(POLICY);
  const runDir = path.join(dir, "run");
  const cryptoState = path.join(dir, "crypto");
  const tcmState = path.join(dir, "tcm");
  mkdirSync(cryptoState, { recursive: true, mode: 0o700 });
  const module = createSoftwareModule({
    stateFile: path.join(cryptoState, "software-secmod.json"),
    production: false,
    warn: () => {},
  });
  const provisioned = await provisionTcmCredentials({
    policy,
    module,
    pkiDir: path.join(dir, "pki"),
    tcmStateDir: tcmState,
  });
  await module.close();
  const pki = provisioned.pki;
  const profile = tcmProfile();
  const common = { profile, ca: pki.trustAnchor, crl: pki.crlBundle };
  const emt = provisioned.peer("emt-supplier");
  const server = createTlsContext({
    role: "server",
    ...common,
    cert: emt.chain,
    key: { kind: "file", path: emt.key },
  });
  // A file-key gateway stand-in: the GWA's certificate and key (same curve, same PKI depth).
  const fileIdentity = provisioned.peer("gwa");
  const client = (key: KeySource, cert = fileIdentity.chain) =>
    createTlsContext({ role: "client", ...common, cert, key });

  console.log(`handshakes of ${SECONDS} s each, client signature by:`);
  const file = measure("1. key file", client({ kind: "file", path: fileIdentity.key }), server);

  const inProcess = EcKey.fromPrivateDer(derOfPem(fileIdentity.key), "brainpoolP256r1");
  const callback = measure(
    "2. callback, signing in this process",
    client({ kind: "callback", sign: (digest) => inProcess.signDigest(digest) }),
    server,
  );

  backend = Bun.spawn(
    [process.execPath, path.join(REPO, "userland", "units", "tcm", "testing", "backend.ts")],
    {
      env: {
        ...process.env,
        SMGW_POLICY: POLICY,
        SMGW_RUN_DIR: runDir,
        SMGW_STATE_DIR: cryptoState,
        SMGW_LOG_LEVEL: "error",
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = (backend.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  while (!out.includes("backend ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the backend did not start: ${out}`);
    out += new TextDecoder().decode(value);
  }
  void (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  link = new IfmLink({
    socketPath: ifmSocketPath(runDir, "tcm"),
    log: createLogger("tcm", { level: "error" }),
  });
  await link.start();
  const viaIfm = link;
  const module_ = measure(
    "3. callback, crypto.sign via IFM + crypto unit",
    client(
      { kind: "callback", sign: (digest, hash) => viaIfm.signDigest("tls-wan", hash, digest) },
      credentialLayout(tcmState).chain("tls-wan"),
    ),
    server,
  );
  const s = link.signStats();
  console.log(
    `\nratios against the key file: in-process callback ${(callback.meanMs / file.meanMs).toFixed(2)}x, ` +
      `via IFM + crypto unit ${(module_.meanMs / file.meanMs).toFixed(2)}x the time per handshake ` +
      `(${(file.perSecond / module_.perSecond).toFixed(2)}x fewer handshakes/s)`,
  );
  console.log(
    `crypto.sign round trip: mean ${s.signatures > 0 ? s.meanMs.toFixed(2) : "-"} ms over ${s.signatures} signatures, ` +
      `${s.failures} failures; the mechanism alone adds ${(callback.meanMs - file.meanMs).toFixed(3)} ms`,
  );
} finally {
  link?.close();
  backend?.kill();
  rmSync(dir, { recursive: true, force: true });
}
