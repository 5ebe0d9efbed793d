// Shared fixtures for the TLS tests: one test PKI per process, helpers around the openssl
// command-line tool as an independent peer.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";
import {
  createTlsContext,
  type TlsContext,
  type TlsContextOptions,
  type TlsRole,
} from "./context.ts";
import { createTestPki, DEFAULT_CAS, DEFAULT_ENTITIES, type TestPki } from "./pki.ts";
import { type TlsProfile, tr03116Profile } from "./profile.ts";

let pki: TestPki | undefined;
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/**
 * The default test PKI, shared by all test files and runs: kept in one directory under the
 * system temp directory, named after a hash of the PKI layout, made afresh when older than a
 * week. A new one is generated aside and renamed into place, so parallel runs do not collide.
 */
export function testPki(): TestPki {
  if (pki) return pki;
  const layout = createHash("sha256")
    .update(JSON.stringify([DEFAULT_CAS, DEFAULT_ENTITIES]))
    .digest("hex")
    .slice(0, 12);
  const dir = path.join(tmpdir(), `smgw-tls-test-pki-${layout}`);
  const fresh = existsSync(dir) && Date.now() - statSync(dir).mtimeMs < MAX_AGE_MS;
  if (!fresh) {
    const work = mkdtempSync(path.join(tmpdir(), "smgw-tls-pki-"));
    try {
      createTestPki(work);
      rmSync(dir, { recursive: true, force: true });
      renameSync(work, dir);
    } catch {
      // Another run won the rename; its PKI is as good as ours.
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  pki = createTestPki(dir);
  return pki;
}

export const PROFILE: TlsProfile = tr03116Profile();

/** Context fields for entity `name` (usage "tls" or "tls-<curve>") of the test PKI. */
export type EndpointFields = Omit<TlsContextOptions, "role">;

export function endpoint(name: string, usage = "tls", withCrl = true): EndpointFields {
  const p = testPki();
  const e = p.entity(name, usage);
  return {
    profile: PROFILE,
    ca: p.trustAnchor,
    cert: e.chain,
    key: { kind: "file", path: e.key },
    ...(withCrl ? { crl: p.crlBundle } : {}),
  };
}

export function context(
  role: TlsRole,
  name: string,
  usage = "tls",
  profile = PROFILE,
  withCrl = true,
): TlsContext {
  const e = endpoint(name, usage, withCrl);
  return createTlsContext({ role, ...e, profile });
}

export interface OpenSslRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `openssl args`, feeding `input`, with a time limit. */
export async function openssl(
  args: string[],
  input = "",
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<OpenSslRun> {
  const proc = Bun.spawn(["openssl", ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  const timeoutMs = options.timeoutMs ?? 10_000;
  proc.stdin.write(input);
  await proc.stdin.end();
  const timer = setTimeout(() => proc.kill(), timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

export interface OpenSslServer {
  port: number;
  proc: Subprocess<"pipe", "pipe", "pipe">;
  output(): Promise<string>;
  stop(): void;
}

/** Starts `openssl s_server` on an ephemeral loopback port and waits for its ACCEPT line. */
export async function startOpenSslServer(args: string[]): Promise<OpenSslServer> {
  const proc = Bun.spawn(["openssl", "s_server", "-accept", "127.0.0.1:0", ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (!/ACCEPT [^:]+:(\d+)/.test(text)) {
    if (Date.now() > deadline) throw new Error(`s_server did not start: ${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`s_server ended: ${text}${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
  const port = Number(/ACCEPT [^:]+:(\d+)/.exec(text)?.[1]);
  return {
    port,
    proc,
    async output() {
      let rest = text;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += new TextDecoder().decode(value);
      }
      return rest + (await new Response(proc.stderr).text());
    },
    stop() {
      proc.kill();
    },
  };
}

/** s_client arguments presenting entity `name` and trusting the test root. */
export function clientIdentityArgs(name: string | null, usage = "tls"): string[] {
  const p = testPki();
  const args = ["-CAfile", p.trustAnchor];
  if (name !== null) {
    const e = p.entity(name, usage);
    args.push("-cert", e.cert, "-cert_chain", e.issuer, "-key", e.key);
  }
  return args;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
