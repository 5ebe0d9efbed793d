// Helpers for the security-module tests: the services started by ci/services, OpenSSL's
// command line as the independent verifier, temporary directories.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dir, "../../..");
export const SERVICES_SCRIPT = path.join(REPO_ROOT, "ci/services");
export const SERVICES_RUN = process.env.SMGW_SERVICES_RUN ?? "/run/smgw-services";
export const SERVICES_STATE = process.env.SMGW_SERVICES_STATE ?? "/var/lib/smgw-services";

function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Why the services cannot run here, or undefined when they can. */
export function servicesUnavailable(needs: "card" | "tpm"): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (ci/services starts pcscd, the card and swtpm)";
  if (needs === "card" && (!hasCommand("pcscd") || !fs.existsSync("/etc/reader.conf.d/vpcd"))) {
    return "pcscd or vsmartcard-vpcd not installed";
  }
  if (needs === "tpm" && !hasCommand("swtpm")) return "swtpm not installed";
  return undefined;
}

/** Run ci/services with arguments; throws with its output when it fails. */
export function services(...args: string[]): string {
  const r = spawnSync(SERVICES_SCRIPT, args, { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) {
    throw new Error(`ci/services ${args.join(" ")} failed: ${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

export function cardPin(): string {
  return fs.readFileSync(path.join(SERVICES_STATE, "vcard.pin"), "utf8").trim();
}

export const CARD_CONTROL = path.join(SERVICES_RUN, "vcard.ctl");

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `smgw-${prefix}-`));
}

function openssl(args: string[], dir: string): { ok: boolean; out: string } {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** Verify an ECDSA signature over a digest with `openssl pkeyutl -verify`. */
export function opensslVerify(pem: string, digest: Uint8Array, signature: Uint8Array): boolean {
  const dir = tempDir("verify");
  try {
    fs.writeFileSync(path.join(dir, "pub.pem"), pem);
    fs.writeFileSync(path.join(dir, "digest.bin"), digest);
    fs.writeFileSync(path.join(dir, "sig.der"), signature);
    const r = openssl(
      [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-in",
        "digest.bin",
        "-sigfile",
        "sig.der",
      ],
      dir,
    );
    return r.ok && r.out.includes("Signature Verified Successfully");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A peer key made by OpenSSL: its SPKI (DER) and the secret it derives with `ourPem`. */
export function opensslPeer(
  curve: string,
  ourPem: string,
): { spki: Uint8Array; secret: Uint8Array } {
  const dir = tempDir("ecdh");
  try {
    fs.writeFileSync(path.join(dir, "ours.pem"), ourPem);
    const steps = [
      ["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`, "-out", "peer.pem"],
      ["pkey", "-in", "peer.pem", "-pubout", "-outform", "DER", "-out", "peer.der"],
      ["pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", "ours.pem", "-out", "z.bin"],
    ];
    for (const s of steps) {
      const r = openssl(s, dir);
      if (!r.ok) throw new Error(`openssl ${s[0]}: ${r.out}`);
    }
    return {
      spki: new Uint8Array(fs.readFileSync(path.join(dir, "peer.der"))),
      secret: new Uint8Array(fs.readFileSync(path.join(dir, "z.bin"))),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed test certificate (DER) for an unrelated throwaway key. */
export function opensslCertificate(): Uint8Array {
  const dir = tempDir("cert");
  try {
    const r = openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "k.pem",
        "-subj",
        "/CN=secmod test",
        "-days",
        "1",
        "-outform",
        "DER",
        "-out",
        "c.der",
      ],
      dir,
    );
    if (!r.ok) throw new Error(`openssl req: ${r.out}`);
    return new Uint8Array(fs.readFileSync(path.join(dir, "c.der")));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Poll `f` until it resolves, for at most `ms`; the last error when it never does. */
export async function eventually<T>(f: () => Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await Bun.sleep(100);
    }
  }
}
