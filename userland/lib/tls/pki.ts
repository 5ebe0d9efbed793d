// A test PKI shaped like the SM-PKI, made with the `openssl` command-line tool: a root CA
// (brainpoolP384r1), the GWA, EMT and SMGW sub-CAs (brainpoolP256r1), and end-entity TLS,
// signature and encryption certificates (brainpoolP256r1) for the gateway, the GWA, EMTs, CLS
// devices, meters and consumers; a CRL per CA; a revoked, an expired and a wrong-key-usage
// certificate, and a foreign CA for negative tests. Generation is idempotent: what exists in the
// output directory is kept.
//
//   bun lib/tls/pki.ts OUTPUT-DIRECTORY
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export type Curve = "brainpoolP256r1" | "brainpoolP384r1" | "brainpoolP512r1";
export type CertificateUsage = "tls" | "signature" | "encryption";

export interface CaSpec {
  readonly name: string;
  /** The issuing CA; absent for a root. */
  readonly issuer?: string;
  readonly subject: Readonly<Record<"C" | "O" | "CN", string>>;
  readonly curve: Curve;
  readonly digest: "sha256" | "sha384";
}

export interface EntitySpec {
  readonly name: string;
  readonly issuer: string;
  readonly subject: Readonly<{ C: string; O: string; OU?: string; CN: string }>;
  readonly usages: readonly CertificateUsage[];
  /** Subject alternative names of the TLS certificate. */
  readonly dns?: readonly string[];
  readonly ip?: readonly string[];
  /** Further TLS certificates on these curves, as usage "tls-<curve>". */
  readonly extraTlsCurves?: readonly Curve[];
  /** A deliberately broken certificate for negative tests. */
  readonly defect?: "expired" | "wrong-key-usage";
  /** Revoked (reason keyCompromise) in its CA's CRL when the PKI is created. */
  readonly revoked?: boolean;
}

export interface CaFiles {
  readonly name: string;
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  readonly crl: string;
}

export interface IssuedCertificate {
  readonly key: string;
  readonly cert: string;
  /** The certificate followed by its issuing sub-CA: what a TLS endpoint presents. */
  readonly chain: string;
  /** The issuing CA's certificate. */
  readonly issuer: string;
  /** Subject DN in RFC 2253 order, as the TLS library reports peers. */
  readonly subject: string;
}

export interface TestPki {
  readonly dir: string;
  readonly root: CaFiles;
  readonly cas: Readonly<Record<string, CaFiles>>;
  /** The SM-PKI root certificate: the trust anchor. */
  readonly trustAnchor: string;
  /** The CRLs of the root and the SM-PKI sub-CAs in one PEM file. */
  readonly crlBundle: string;
  /** Names of the CAs whose CRLs the bundle holds (the root and the CAs below it). */
  readonly smPkiCas: readonly string[];
  /** Usage "tls", "signature", "encryption" or "tls-<curve>". */
  entity(name: string, usage?: string): IssuedCertificate;
}

export class PkiError extends Error {
  override readonly name = "PkiError";
}

const SMGW_HOSTS = { dns: ["localhost"], ip: ["127.0.0.1"] } as const;

export const DEFAULT_CAS: readonly CaSpec[] = [
  {
    name: "root",
    subject: { C: "DE", O: "SM-Test-PKI", CN: "SM-Test-Root-CA" },
    curve: "brainpoolP384r1",
    digest: "sha384",
  },
  {
    name: "gwa-sub-ca",
    issuer: "root",
    subject: { C: "DE", O: "SM-Test-PKI", CN: "SM-Test-GWA-CA" },
    curve: "brainpoolP256r1",
    digest: "sha256",
  },
  {
    name: "emt-sub-ca",
    issuer: "root",
    subject: { C: "DE", O: "SM-Test-PKI", CN: "SM-Test-EMT-CA" },
    curve: "brainpoolP256r1",
    digest: "sha256",
  },
  {
    name: "smgw-sub-ca",
    issuer: "root",
    subject: { C: "DE", O: "SM-Test-PKI", CN: "SM-Test-SMGW-CA" },
    curve: "brainpoolP256r1",
    digest: "sha256",
  },
  // Outside the SM-PKI: for "unknown CA" tests.
  {
    name: "foreign-root",
    subject: { C: "DE", O: "Foreign-PKI", CN: "Foreign-Root-CA" },
    curve: "brainpoolP384r1",
    digest: "sha384",
  },
];

const ALL: readonly CertificateUsage[] = ["tls", "signature", "encryption"];
const EXTRA: readonly Curve[] = ["brainpoolP384r1", "brainpoolP512r1"];

export const DEFAULT_ENTITIES: readonly EntitySpec[] = [
  {
    name: "smgw",
    issuer: "smgw-sub-ca",
    subject: { C: "DE", O: "SMGW-Test-Operator", CN: "smgw-1" },
    usages: ALL,
    ...SMGW_HOSTS,
    extraTlsCurves: EXTRA,
  },
  {
    name: "gwa",
    issuer: "gwa-sub-ca",
    subject: { C: "DE", O: "GWA-Test", CN: "gwa-1" },
    usages: ALL,
    ...SMGW_HOSTS,
    extraTlsCurves: EXTRA,
  },
  {
    name: "emt-1",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test-1", CN: "emt-1" },
    usages: ALL,
    ...SMGW_HOSTS,
  },
  {
    name: "emt-2",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test-2", CN: "emt-2" },
    usages: ALL,
    ...SMGW_HOSTS,
  },
  {
    name: "cls-1",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test-1", OU: "CLS", CN: "cls-1" },
    usages: ["tls"],
    ...SMGW_HOSTS,
  },
  {
    name: "meter-1",
    issuer: "smgw-sub-ca",
    subject: { C: "DE", O: "Meter-Test", OU: "LMN", CN: "meter-1" },
    usages: ["tls"],
    ...SMGW_HOSTS,
  },
  {
    name: "consumer-1",
    issuer: "smgw-sub-ca",
    subject: { C: "DE", O: "Consumer-Test", OU: "HAN", CN: "consumer-1" },
    usages: ["tls"],
    ...SMGW_HOSTS,
  },
  {
    name: "emt-revoked",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test-3", CN: "emt-revoked" },
    usages: ["tls"],
    ...SMGW_HOSTS,
    revoked: true,
  },
  {
    name: "emt-expired",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test-4", CN: "emt-expired" },
    usages: ["tls"],
    ...SMGW_HOSTS,
    defect: "expired",
  },
  {
    name: "emt-wrong-usage",
    issuer: "emt-sub-ca",
    subject: { C: "DE", O: "EMT-Test-5", CN: "emt-wrong-usage" },
    usages: ["tls"],
    ...SMGW_HOSTS,
    defect: "wrong-key-usage",
  },
  {
    name: "foreign-gwa",
    issuer: "foreign-root",
    subject: { C: "DE", O: "Foreign", CN: "gwa-1" },
    usages: ["tls"],
    ...SMGW_HOSTS,
  },
];

/** Leaves an unchanged file alone, so another process reading it never sees it half written. */
function writeIfChanged(file: string, content: string): void {
  if (existsSync(file) && readFileSync(file, "utf8") === content) return;
  writeFileSync(file, content);
}

function run(args: string[], what: string): string {
  const result = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new PkiError(`openssl ${args[0]} failed (${what}): ${result.stderr.toString().trim()}`);
  }
  return result.stdout.toString();
}

function subjectArgument(s: Readonly<{ C: string; O: string; OU?: string; CN: string }>): string {
  return `/C=${s.C}/O=${s.O}${s.OU ? `/OU=${s.OU}` : ""}/CN=${s.CN}`;
}

function rfc2253(s: Readonly<{ C: string; O: string; OU?: string; CN: string }>): string {
  return `CN=${s.CN},${s.OU ? `OU=${s.OU},` : ""}O=${s.O},C=${s.C}`;
}

function generateKey(file: string, curve: Curve): void {
  if (existsSync(file)) return;
  run(
    [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      `ec_paramgen_curve:${curve}`,
      "-pkeyopt",
      "ec_param_enc:named_curve",
      "-out",
      file,
    ],
    file,
  );
}

function caConfig(dir: string, digest: string): string {
  return [
    "[ ca ]",
    "default_ca = this_ca",
    "[ this_ca ]",
    `dir = ${dir}`,
    "database = $dir/index.txt",
    "new_certs_dir = $dir/issued",
    "serial = $dir/serial",
    "crlnumber = $dir/crlnumber",
    "certificate = $dir/cert.pem",
    "private_key = $dir/key.pem",
    `default_md = ${digest}`,
    "default_days = 365",
    "default_crl_days = 30",
    "policy = policy_any",
    "unique_subject = no",
    "preserve = yes",
    "email_in_dn = no",
    "copy_extensions = none",
    "[ policy_any ]",
    "countryName = optional",
    "organizationName = optional",
    "organizationalUnitName = optional",
    "commonName = supplied",
    "[ req ]",
    "distinguished_name = req_dn",
    "prompt = no",
    "[ req_dn ]",
    "CN = unused",
    "",
  ].join("\n");
}

interface ExtensionSet {
  readonly basicConstraints: string;
  readonly keyUsage: string;
  readonly extendedKeyUsage?: string;
  readonly subjectAltName?: string;
}

function extensionFile(file: string, ext: ExtensionSet, selfSigned: boolean): void {
  const lines = [
    "[ ext ]",
    `basicConstraints = ${ext.basicConstraints}`,
    `keyUsage = ${ext.keyUsage}`,
    "subjectKeyIdentifier = hash",
    selfSigned ? "" : "authorityKeyIdentifier = keyid:always",
  ];
  if (ext.extendedKeyUsage) lines.push(`extendedKeyUsage = ${ext.extendedKeyUsage}`);
  if (ext.subjectAltName) lines.push(`subjectAltName = ${ext.subjectAltName}`);
  writeFileSync(file, `${lines.filter((l) => l !== "").join("\n")}\n`);
}

/** Signs `csr` with the CA in `caDir` (or self-signs with `selfSignKey`). */
function issue(
  caDir: string,
  csr: string,
  out: string,
  ext: ExtensionSet,
  options: { selfSign?: boolean; days?: number; startDate?: string; endDate?: string } = {},
): void {
  const extFile = `${out}.ext`;
  extensionFile(extFile, ext, options.selfSign === true);
  const args = [
    "ca",
    "-batch",
    "-notext",
    "-config",
    path.join(caDir, "ca.cnf"),
    "-in",
    csr,
    "-out",
    out,
  ];
  args.push("-extfile", extFile, "-extensions", "ext");
  if (options.selfSign) args.push("-selfsign", "-keyfile", path.join(caDir, "key.pem"));
  if (options.startDate && options.endDate)
    args.push("-startdate", options.startDate, "-enddate", options.endDate);
  else args.push("-days", String(options.days ?? 365));
  run(args, out);
}

function request(key: string, subject: string, out: string, configFile: string): void {
  run(["req", "-new", "-config", configFile, "-key", key, "-subj", subject, "-out", out], out);
}

function setUpCaDirectory(dir: string, digest: string): void {
  mkdirSync(path.join(dir, "issued"), { recursive: true });
  if (!existsSync(path.join(dir, "index.txt"))) writeFileSync(path.join(dir, "index.txt"), "");
  if (!existsSync(path.join(dir, "serial"))) writeFileSync(path.join(dir, "serial"), "1000\n");
  if (!existsSync(path.join(dir, "crlnumber"))) writeFileSync(path.join(dir, "crlnumber"), "01\n");
  writeIfChanged(path.join(dir, "ca.cnf"), caConfig(dir, digest));
}

function generateCrl(ca: CaFiles): void {
  run(["ca", "-gencrl", "-config", path.join(ca.dir, "ca.cnf"), "-out", ca.crl], ca.crl);
}

function caFiles(dir: string, name: string): CaFiles {
  const caDir = path.join(dir, "ca", name);
  return {
    name,
    dir: caDir,
    cert: path.join(caDir, "cert.pem"),
    key: path.join(caDir, "key.pem"),
    crl: path.join(caDir, "crl.pem"),
  };
}

function createCa(dir: string, spec: CaSpec, cas: Map<string, CaFiles>): CaFiles {
  const ca = caFiles(dir, spec.name);
  setUpCaDirectory(ca.dir, spec.digest);
  generateKey(ca.key, spec.curve);
  if (!existsSync(ca.cert)) {
    const csr = path.join(ca.dir, "cert.csr");
    request(ca.key, subjectArgument(spec.subject), csr, path.join(ca.dir, "ca.cnf"));
    if (spec.issuer === undefined) {
      issue(
        ca.dir,
        csr,
        ca.cert,
        { basicConstraints: "critical, CA:TRUE", keyUsage: "critical, keyCertSign, cRLSign" },
        { selfSign: true, days: 7300 },
      );
    } else {
      const issuer = cas.get(spec.issuer);
      if (!issuer)
        throw new PkiError(`CA ${spec.name}: issuer ${spec.issuer} is not defined before it`);
      issue(
        issuer.dir,
        csr,
        ca.cert,
        {
          basicConstraints: "critical, CA:TRUE, pathlen:0",
          keyUsage: "critical, keyCertSign, cRLSign",
        },
        { days: 3650 },
      );
    }
  }
  return ca;
}

function usageExtensions(usage: CertificateUsage, spec: EntitySpec): ExtensionSet {
  const base = "critical, CA:FALSE";
  if (usage === "tls") {
    const names = [
      ...(spec.dns ?? []).map((n) => `DNS:${n}`),
      ...(spec.ip ?? []).map((n) => `IP:${n}`),
    ];
    const san = names.length > 0 ? names.join(", ") : undefined;
    const keyUsage =
      spec.defect === "wrong-key-usage" ? "critical, nonRepudiation" : "critical, digitalSignature";
    return {
      basicConstraints: base,
      keyUsage,
      extendedKeyUsage: "serverAuth, clientAuth",
      ...(san ? { subjectAltName: san } : {}),
    };
  }
  if (usage === "signature")
    return { basicConstraints: base, keyUsage: "critical, digitalSignature, nonRepudiation" };
  return { basicConstraints: base, keyUsage: "critical, keyAgreement" };
}

function isRevoked(ca: CaFiles, certFile: string): boolean {
  const serial = run(["x509", "-in", certFile, "-noout", "-serial"], certFile)
    .trim()
    .replace(/^serial=/, "");
  const index = readFileSync(path.join(ca.dir, "index.txt"), "utf8");
  return index
    .split("\n")
    .some(
      (line) =>
        line.startsWith("R\t") && line.split("\t")[3]?.toUpperCase() === serial.toUpperCase(),
    );
}

function entityFiles(dir: string, name: string, usage: string) {
  const base = path.join(dir, "entities", name);
  return {
    base,
    key: path.join(base, `${usage}.key.pem`),
    cert: path.join(base, `${usage}.cert.pem`),
    chain: path.join(base, `${usage}.chain.pem`),
    csr: path.join(base, `${usage}.csr`),
  };
}

function createEntityCertificate(
  dir: string,
  spec: EntitySpec,
  usage: CertificateUsage,
  curve: Curve,
  label: string,
  ca: CaFiles,
  caIsRoot: boolean,
): void {
  const f = entityFiles(dir, spec.name, label);
  mkdirSync(f.base, { recursive: true });
  generateKey(f.key, curve);
  if (!existsSync(f.cert)) {
    request(f.key, subjectArgument(spec.subject), f.csr, path.join(ca.dir, "ca.cnf"));
    const dates =
      spec.defect === "expired"
        ? { startDate: "20200101000000Z", endDate: "20210101000000Z" }
        : { days: 365 };
    issue(ca.dir, f.csr, f.cert, usageExtensions(usage, spec), dates);
  }
  if (!existsSync(f.chain)) {
    const parts = [readFileSync(f.cert, "utf8")];
    if (!caIsRoot) parts.push(readFileSync(ca.cert, "utf8"));
    writeFileSync(f.chain, parts.join(""));
  }
}

function writeCrlBundle(
  dir: string,
  cas: ReadonlyMap<string, CaFiles>,
  smPki: readonly string[],
): string {
  const bundle = path.join(dir, "crls.pem");
  writeIfChanged(
    bundle,
    smPki.map((name) => readFileSync((cas.get(name) as CaFiles).crl, "utf8")).join(""),
  );
  return bundle;
}

export interface CreateTestPkiOptions {
  readonly cas?: readonly CaSpec[];
  readonly entities?: readonly EntitySpec[];
}

/** Creates (or completes) the test PKI in `dir` and describes its files. */
export function createTestPki(dir: string, options: CreateTestPkiOptions = {}): TestPki {
  const caSpecs = options.cas ?? DEFAULT_CAS;
  const entitySpecs = options.entities ?? DEFAULT_ENTITIES;
  const out = path.resolve(dir);
  mkdirSync(out, { recursive: true });
  const cas = new Map<string, CaFiles>();
  for (const spec of caSpecs) cas.set(spec.name, createCa(out, spec, cas));
  const issuers = new Map(caSpecs.map((s) => [s.name, s]));
  const rootSpec = caSpecs.find((s) => s.issuer === undefined);
  if (!rootSpec) throw new PkiError("no root CA defined");

  for (const spec of entitySpecs) {
    const ca = cas.get(spec.issuer);
    if (!ca) throw new PkiError(`entity ${spec.name}: issuer ${spec.issuer} is not a defined CA`);
    const caIsRoot = issuers.get(spec.issuer)?.issuer === undefined;
    for (const usage of spec.usages)
      createEntityCertificate(out, spec, usage, "brainpoolP256r1", usage, ca, caIsRoot);
    for (const curve of spec.extraTlsCurves ?? [])
      createEntityCertificate(out, spec, "tls", curve, `tls-${curve}`, ca, caIsRoot);
    if (spec.revoked) {
      const cert = entityFiles(out, spec.name, "tls").cert;
      if (!isRevoked(ca, cert)) {
        run(
          [
            "ca",
            "-config",
            path.join(ca.dir, "ca.cnf"),
            "-revoke",
            cert,
            "-crl_reason",
            "keyCompromise",
          ],
          cert,
        );
        if (existsSync(ca.crl)) generateCrl(ca);
      }
    }
  }
  for (const ca of cas.values()) if (!existsSync(ca.crl)) generateCrl(ca);

  // The SM-PKI: the first root and every CA below it.
  const smPki = caSpecs
    .filter((s) => s.name === rootSpec.name || s.issuer === rootSpec.name)
    .map((s) => s.name);
  const crlBundle = writeCrlBundle(out, cas, smPki);
  const root = cas.get(rootSpec.name) as CaFiles;
  const subjects = new Map(entitySpecs.map((s) => [s.name, s]));
  return {
    dir: out,
    root,
    cas: Object.fromEntries(cas),
    trustAnchor: root.cert,
    crlBundle,
    smPkiCas: smPki,
    entity(name: string, usage = "tls"): IssuedCertificate {
      const spec = subjects.get(name);
      const f = entityFiles(out, name, usage);
      if (!spec || !existsSync(f.cert))
        throw new PkiError(`no ${usage} certificate for entity ${name}`);
      const issuer = (cas.get(spec.issuer) as CaFiles).cert;
      return { key: f.key, cert: f.cert, chain: f.chain, issuer, subject: rfc2253(spec.subject) };
    },
  };
}

/**
 * Revokes an entity's certificate in its CA's database, and regenerates that CA's CRL and the
 * CRL bundle. Idempotent.
 */
export function revokeCertificate(
  pki: TestPki,
  certFile: string,
  caName: string,
  reason = "keyCompromise",
): void {
  const ca = pki.cas[caName];
  if (!ca) throw new PkiError(`unknown CA ${caName}`);
  if (!isRevoked(ca, certFile)) {
    run(
      ["ca", "-config", path.join(ca.dir, "ca.cnf"), "-revoke", certFile, "-crl_reason", reason],
      certFile,
    );
  }
  generateCrl(ca);
  writeCrlBundle(pki.dir, new Map(Object.entries(pki.cas)), pki.smPkiCas);
}

if (import.meta.main) {
  const target = process.argv[2];
  if (!target) {
    console.error("usage: bun pki.ts OUTPUT-DIRECTORY");
    process.exit(2);
  }
  const pki = createTestPki(target);
  console.log(`test PKI in ${pki.dir}: trust anchor ${pki.trustAnchor}, CRLs ${pki.crlBundle}`);
}
