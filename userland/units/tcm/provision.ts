// Test credentials for the TCM, as a gateway's personalisation would leave them: the TLS key
// pairs are generated inside the security module (never outside it), a test SM-PKI issues each
// one a certificate for the module's public key, and the TCM's credentials directory receives
// certificates and trust anchors only. The same PKI issues the policy's TLS endpoints (GWA,
// EMTs, CLS devices) the certificates their subjects name, for simulated peers.
//
// Used by host mode's setup (as root, before the units start) and by the tests.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Policy } from "@smgw/policy";
import { type Curve, KeyNotFoundError, type SecurityModule } from "@smgw/secmod";
import {
  createTestPki,
  DEFAULT_CAS,
  type EntitySpec,
  type IssuedCertificate,
  PkiError,
  type TestPki,
} from "@smgw/tls";
import { credentialLayout, HAN_CLIENTS_ANCHOR, TCM_KEYS, type TcmKey } from "./credentials.ts";

/** The sub-CA of the test PKI that issues each role's certificates. */
const ISSUER_OF_ROLE: Record<string, string> = {
  gwa: "gwa-sub-ca",
  emt: "emt-sub-ca",
  cls: "emt-sub-ca",
  consumer: "smgw-sub-ca",
};

/** The gateway's own certificates: one per module key, told apart by OU. */
const GATEWAY_OU: Record<TcmKey, string> = { "tls-wan": "WAN", "tls-han": "HAN", "tls-cls": "CLS" };

export interface ProvisionOptions {
  policy: Policy;
  /** The security module (opened by the caller, who also closes it). */
  module: SecurityModule;
  /** Where the test PKI lives, CA keys and the simulated peers' keys included: never the TCM's. */
  pkiDir: string;
  /** The TCM's state directory; its credentials/ subdirectory is (re)written. */
  tcmStateDir: string;
  /** The gateway's name in its certificates. Default "smgw-1". */
  gatewayName?: string;
  /** Curve of keys the module generates. Default brainpoolP256r1. */
  curve?: Curve;
  /** More certificates from the same PKI (tests: impostors, expired ones). */
  extraEntities?: readonly EntitySpec[];
  log?: (line: string) => void;
}

export interface Provisioned {
  pki: TestPki;
  /** Each module key's certificate subject (RFC 2253). */
  gateway: Record<TcmKey, string>;
  /** Certificates for simulated peers, by endpoint (or extra entity) name. */
  peer(name: string): IssuedCertificate;
}

/** Splits "CN=x,OU=y,O=z,C=DE" into the parts the test PKI takes; throws when it cannot. */
export function subjectParts(subject: string): { C: string; O: string; OU?: string; CN: string } {
  const parts = new Map<string, string>();
  for (const piece of subject.split(",")) {
    // No "/" either: openssl's -subj argument separates attributes with it.
    const m = /^(CN|OU|O|C)=([^=+\\"<>;#/]+)$/.exec(piece.trim());
    if (!m?.[1] || !m[2] || parts.has(m[1])) {
      throw new PkiError(`cannot issue a test certificate for subject "${subject}"`);
    }
    parts.set(m[1], m[2]);
  }
  const CN = parts.get("CN");
  const O = parts.get("O");
  const C = parts.get("C");
  const OU = parts.get("OU");
  if (!CN || !O || !C) {
    throw new PkiError(`subject "${subject}" needs CN, O and C for the test PKI`);
  }
  const rebuilt = `CN=${CN},${OU ? `OU=${OU},` : ""}O=${O},C=${C}`;
  if (rebuilt !== subject) {
    throw new PkiError(`subject "${subject}" must be written in the order CN, OU, O, C`);
  }
  return { C, O, CN, ...(OU ? { OU } : {}) };
}

/** Test PKI entities for the policy's TLS endpoints and its consumers. */
export function policyEntities(policy: Policy): EntitySpec[] {
  const out: EntitySpec[] = [];
  for (const e of Object.values(policy.endpoints)) {
    const issuer = ISSUER_OF_ROLE[e.role];
    if (!issuer) continue;
    if (e.credential.kind === "tls-certificate") {
      out.push({
        name: e.name,
        issuer,
        subject: subjectParts(e.credential.subject),
        usages: ["tls"],
        ip: e.addresses,
      });
    } else if (e.role === "consumer") {
      // A client certificate a consumer may use at the display instead of a password.
      out.push({
        name: e.name,
        issuer,
        subject: { C: "DE", O: "Consumer-Test", CN: e.name },
        usages: ["tls"],
      });
    }
  }
  return out;
}

function openssl(args: string[], what: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new PkiError(`openssl ${args[0]} failed (${what}): ${r.stderr.toString().trim()}`);
  }
}

function spkiOfCertificate(file: string): string | undefined {
  const r = Bun.spawnSync(["openssl", "x509", "-in", file, "-noout", "-pubkey"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return r.exitCode === 0 ? r.stdout.toString().trim() : undefined;
}

function stillValid(file: string, seconds: number): boolean {
  const r = Bun.spawnSync(
    ["openssl", "x509", "-in", file, "-noout", "-checkend", String(seconds)],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  return r.exitCode === 0;
}

/**
 * Issues a TLS certificate for a public key held elsewhere (`openssl x509 -new -force_pubkey`):
 * no private key of the subject is needed, or exists, outside the module.
 */
export function issueForPublicKey(
  pki: TestPki,
  ca: string,
  subject: { C: string; O: string; OU?: string; CN: string },
  publicKeyPem: string,
  out: string,
  usage: "tls" | "signature" = "tls",
): void {
  const issuer = pki.cas[ca];
  if (!issuer) throw new PkiError(`unknown CA ${ca}`);
  const work = mkdtempSync(path.join(tmpdir(), "smgw-tcm-issue-"));
  try {
    const pub = path.join(work, "public.pem");
    const ext = path.join(work, "ext.cnf");
    writeFileSync(pub, publicKeyPem);
    writeFileSync(
      ext,
      [
        "[ ext ]",
        "basicConstraints = critical, CA:FALSE",
        ...(usage === "tls"
          ? ["keyUsage = critical, digitalSignature", "extendedKeyUsage = serverAuth, clientAuth"]
          : ["keyUsage = critical, digitalSignature, nonRepudiation"]),
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid:always",
        "",
      ].join("\n"),
    );
    const serial = `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex")}`;
    openssl(
      [
        "x509",
        "-new",
        "-subj",
        `/C=${subject.C}/O=${subject.O}${subject.OU ? `/OU=${subject.OU}` : ""}/CN=${subject.CN}`,
        "-force_pubkey",
        pub,
        "-CA",
        issuer.cert,
        "-CAkey",
        issuer.key,
        "-days",
        "365",
        "-set_serial",
        serial,
        "-sha256",
        "-extfile",
        ext,
        "-extensions",
        "ext",
        "-out",
        out,
      ],
      out,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Generates what is missing: module keys, their certificates, anchors, CRLs, peer certificates. */
export async function provisionTcmCredentials(o: ProvisionOptions): Promise<Provisioned> {
  const log = o.log ?? (() => {});
  const entities = [...policyEntities(o.policy), ...(o.extraEntities ?? [])];
  const pki = createTestPki(o.pkiDir, { cas: DEFAULT_CAS, entities });
  const layout = credentialLayout(o.tcmStateDir);
  mkdirSync(path.join(layout.dir, "anchors"), { recursive: true });
  const gatewayName = o.gatewayName ?? "smgw-1";
  const gateway = {} as Record<TcmKey, string>;
  for (const key of TCM_KEYS) {
    let pem: string;
    try {
      pem = (await o.module.publicKey(key)).pem;
    } catch (e) {
      if (!(e instanceof KeyNotFoundError)) throw e;
      pem = (await o.module.generateKeyPair(key, o.curve ?? "brainpoolP256r1")).pem;
      log(`generated ${key} in the security module`);
    }
    const subject = { C: "DE", O: "SMGW-Test-Operator", OU: GATEWAY_OU[key], CN: gatewayName };
    gateway[key] = `CN=${subject.CN},OU=${subject.OU},O=${subject.O},C=${subject.C}`;
    const chain = layout.chain(key);
    const current =
      existsSync(chain) &&
      spkiOfCertificate(chain) === pem.trim() &&
      stillValid(chain, 30 * 24 * 3600) &&
      readFileSync(chain, "utf8").includes("BEGIN CERTIFICATE");
    if (current) continue;
    const cert = `${chain}.new`;
    issueForPublicKey(pki, "smgw-sub-ca", subject, pem, cert);
    const subCa = readFileSync((pki.cas["smgw-sub-ca"] as { cert: string }).cert, "utf8");
    writeFileSync(chain, readFileSync(cert, "utf8") + subCa);
    rmSync(cert, { force: true });
    try {
      const der = Buffer.from(
        readFileSync(chain, "utf8")
          .split("-----END CERTIFICATE-----")[0]
          ?.replace(/-----BEGIN CERTIFICATE-----|\s+/g, "") ?? "",
        "base64",
      );
      await o.module.storeCertificate(key, der);
    } catch {
      // Keeping a copy in the module is a convenience; the TCM reads its chain file.
    }
    log(`issued the ${key} certificate for the module's key`);
  }
  const issuers = new Set<string>();
  for (const e of Object.values(o.policy.endpoints)) {
    if (e.credential.kind === "tls-certificate") issuers.add(e.credential.issuer);
  }
  // The policy names one anchor for all its endpoints here; the test PKI has one root.
  for (const issuer of issuers) copyFileSync(pki.trustAnchor, layout.anchor(issuer));
  copyFileSync(pki.trustAnchor, layout.anchor(HAN_CLIENTS_ANCHOR));
  copyFileSync(pki.crlBundle, layout.crls);
  return { pki, gateway, peer: (name) => pki.entity(name) };
}

/** Where the meter domain finds the certificate chain of the gateway's signature key. */
export function signatureChainFile(meterStateDir: string): string {
  return path.join(meterStateDir, "credentials", "sign.chain.pem");
}

/**
 * The gateway's signature key ("sign", SM-PKI SIG certificate): generated in the security module
 * if missing, certified by the test PKI's gateway sub-CA, the chain written for the meter domain,
 * which signs its deliveries with it (crypto.sign). Returns the certificate's subject.
 */
export async function provisionGatewaySignature(o: {
  module: SecurityModule;
  pki: TestPki;
  meterStateDir: string;
  gatewayName?: string;
  curve?: Curve;
  log?: (line: string) => void;
}): Promise<string> {
  let pem: string;
  try {
    pem = (await o.module.publicKey("sign")).pem;
  } catch (e) {
    if (!(e instanceof KeyNotFoundError)) throw e;
    pem = (await o.module.generateKeyPair("sign", o.curve ?? "brainpoolP256r1")).pem;
    o.log?.("generated the signature key in the security module");
  }
  const subject = { C: "DE", O: "SMGW-Test-Operator", OU: "SIG", CN: o.gatewayName ?? "smgw-1" };
  const chain = signatureChainFile(o.meterStateDir);
  mkdirSync(path.dirname(chain), { recursive: true });
  const current =
    existsSync(chain) &&
    spkiOfCertificate(chain) === pem.trim() &&
    stillValid(chain, 30 * 24 * 3600);
  if (!current) {
    const cert = `${chain}.new`;
    issueForPublicKey(o.pki, "smgw-sub-ca", subject, pem, cert, "signature");
    const subCa = readFileSync((o.pki.cas["smgw-sub-ca"] as { cert: string }).cert, "utf8");
    writeFileSync(chain, readFileSync(cert, "utf8") + subCa);
    rmSync(cert, { force: true });
    o.log?.("issued the signature certificate for the module's key");
  }
  return `CN=${subject.CN},OU=${subject.OU},O=${subject.O},C=${subject.C}`;
}
