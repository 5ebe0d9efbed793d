// Test helpers: keys and self-signed certificates made with the openssl CLI in a temporary
// directory, and a sign callback backed by `openssl pkeyutl` (Bun's node:crypto cannot use
// brainpool keys). A missing openssl throws: the interop tests must fail, not skip.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Runs openssl; throws with its stderr when it fails. Returns stdout. */
export function openssl(args: readonly string[], stdin?: Uint8Array): Uint8Array {
  const result = Bun.spawnSync(["openssl", ...args], {
    stdin: stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed (${result.exitCode}): ${result.stderr}`);
  }
  return new Uint8Array(result.stdout);
}

/** Exit code and stderr of an openssl run that may fail. */
export function opensslStatus(args: readonly string[]): { code: number; stderr: string } {
  const result = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode ?? -1, stderr: result.stderr.toString() };
}

export interface TestSigner {
  readonly curve: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly certDer: Uint8Array;
  /** ECDSA over a digest with this key (DER signature), through `openssl pkeyutl`. */
  sign(digest: Uint8Array): Promise<Uint8Array>;
}

/** A scratch directory for one test file; `cleanup` removes it. */
export function scratch(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "smgw-cms-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A signer over a key file and its certificate: openssl signs, as a security module would. */
function signerOf(curve: TestSigner["curve"], keyPem: string, certPem: string): TestSigner {
  return {
    curve,
    keyPem,
    certPem,
    certDer: openssl(["x509", "-in", certPem, "-outform", "DER"]),
    sign: async (digest) => openssl(["pkeyutl", "-sign", "-inkey", keyPem], digest),
  };
}

/** A key on `curve` and a self-signed certificate for it. */
export function makeSigner(
  dir: string,
  name: string,
  curve: string,
  options: { subject?: string; serial?: number } = {},
): TestSigner {
  const keyPem = join(dir, `${name}.key.pem`);
  const certPem = join(dir, `${name}.cert.pem`);
  openssl(["ecparam", "-name", curve, "-genkey", "-noout", "-out", keyPem]);
  openssl([
    "req",
    "-new",
    "-x509",
    "-key",
    keyPem,
    "-subj",
    options.subject ?? `/C=DE/O=SMGW Test/CN=${name}`,
    "-set_serial",
    String(options.serial ?? 0x1234567),
    "-days",
    "30",
    "-out",
    certPem,
  ]);
  return signerOf(curve, keyPem, certPem);
}

/** Writes bytes to a file in `dir` and returns its path. */
export function writeFile(dir: string, name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

export function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** r || s from a DER ECDSA signature, each half left-padded to `fieldBytes` (independent of ecdsa.ts). */
export function derToRaw(der: Uint8Array, fieldBytes: number): Uint8Array {
  // 30 len [81 len] 02 rlen r 02 slen s: short signatures use one length octet, P-521 two.
  let at = der[1] === 0x81 ? 3 : 2;
  const half = (): Uint8Array => {
    if (der[at] !== 0x02) throw new Error("not a DER ECDSA signature");
    const length = der[at + 1] ?? 0;
    const value = der.subarray(at + 2, at + 2 + length);
    at += 2 + length;
    const trimmed = value[0] === 0 ? value.subarray(1) : value;
    const out = new Uint8Array(fieldBytes);
    out.set(trimmed, fieldBytes - trimmed.length);
    return out;
  };
  const r = half();
  const s = half();
  const raw = new Uint8Array(2 * fieldBytes);
  raw.set(r);
  raw.set(s, fieldBytes);
  return raw;
}

/** The first offset of `needle` in `haystack`, or -1. */
export function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack).indexOf(Buffer.from(needle));
}

/** A certificate for a new key on `curve`, issued by `ca` (openssl x509 -req). */
export function makeIssued(
  dir: string,
  name: string,
  curve: string,
  ca: TestSigner,
  serial: number,
): TestSigner {
  const keyPem = join(dir, `${name}.key.pem`);
  const csr = join(dir, `${name}.csr`);
  const certPem = join(dir, `${name}.cert.pem`);
  openssl(["ecparam", "-name", curve, "-genkey", "-noout", "-out", keyPem]);
  openssl(["req", "-new", "-key", keyPem, "-subj", `/C=DE/O=SMGW Test/CN=${name}`, "-out", csr]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.certPem,
    "-CAkey",
    ca.keyPem,
    "-set_serial",
    String(serial),
    "-days",
    "30",
    "-out",
    certPem,
  ]);
  return signerOf(curve, keyPem, certPem);
}
