// `smgw image build`: the Debian test image. A cached Debian root (mmdebstrap, keyed by the
// package list), the gateway's executable, policy and generated files on top, the SELinux
// module installed and every file labelled on the build host, then an ext4 image made
// without a loop mount, and the kernel and initrd beside it for a direct boot.
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { loadPolicyFile, type Policy } from "@smgw/policy";
import { dataVolumeConf, networkFiles, portsLocal, readyMarkerUnit } from "./files.ts";
import { defaultInputDirs, findInputs, type InputDirs, type Inputs } from "./inputs.ts";
import { APPLIANCE } from "./layout.ts";
import { requireRoot, requireTools, run, runLogged } from "./sh.ts";

export interface BuildOptions {
  repoRoot: string;
  policyFile: string;
  /** The built executable; default: build it as host mode does. */
  binary?: string;
  inputDirs?: InputDirs;
  /** Output and cache folder (default: image/build under the repository). */
  buildDir?: string;
  out: (line: string) => void;
}

export interface BuiltImage {
  dir: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  credentials: string;
  manifest: string;
}

export interface Manifest {
  kernel: string;
  initrd: string;
  rootfs: string;
  built: string;
  baseKey: string;
  policySha256: string;
  binarySha256: string;
  seconds: Record<string, number>;
}

export const BUILD_TOOLS = [
  "mmdebstrap",
  "tar",
  "semodule",
  "setfiles",
  "mkfs.ext4",
  "systemd-sysusers",
  "systemd-tmpfiles",
  "systemctl",
  "getfattr",
] as const;

export function defaultBuildDir(repoRoot: string): string {
  return path.join(repoRoot, "image", "build");
}

export function imagePaths(buildDir: string): BuiltImage {
  const dir = path.join(buildDir, "debian");
  return {
    dir,
    kernel: path.join(dir, "vmlinuz"),
    initrd: path.join(dir, "initrd.img"),
    rootfs: path.join(dir, "rootfs.ext4"),
    credentials: path.join(dir, "credentials.txt"),
    manifest: path.join(dir, "manifest.json"),
  };
}

/** The package list of image/debian/packages: one a line, # comments. */
export function parsePackageList(text: string): string[] {
  const names = text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
  for (const n of names) {
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(n)) throw new Error(`"${n}" is not a Debian package name`);
  }
  return [...new Set(names)].sort();
}

export interface BaseSpec {
  suite: string;
  arch: string;
  variant: string;
  packages: string[];
  /** The build machine's apt source files, by content: a new mirror state is a new base. */
  sources: { file: string; text: string }[];
}

export function baseKey(spec: BaseSpec): string {
  return createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 16);
}

/** The build machine's own apt sources: mmdebstrap copies them, so no mirror is named here. */
export function hostAptSources(): { file: string; text: string }[] {
  const files: string[] = [];
  if (existsSync("/etc/apt/sources.list")) files.push("/etc/apt/sources.list");
  const d = "/etc/apt/sources.list.d";
  if (existsSync(d)) {
    for (const n of readdirSync(d).sort()) {
      if (n.endsWith(".list") || n.endsWith(".sources")) files.push(path.join(d, n));
    }
  }
  return files
    .map((file) => ({ file, text: readFileSync(file, "utf8") }))
    .filter((s) => s.text.split("\n").some((l) => /^\s*(deb|Types:|URIs:)/.test(l)));
}

export function hostSuite(): string {
  const osRelease = readFileSync("/etc/os-release", "utf8");
  const m = /^VERSION_CODENAME=(\w+)/m.exec(osRelease);
  if (!m?.[1]) throw new Error("cannot tell the Debian release of this machine (/etc/os-release)");
  return m[1];
}

function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The base root file system as a tarball, made once per package list and apt state. */
export async function ensureBase(
  cacheDir: string,
  packages: string[],
  out: (l: string) => void,
): Promise<{ tarball: string; key: string; built: boolean }> {
  const spec: BaseSpec = {
    suite: hostSuite(),
    arch: "amd64",
    variant: "apt",
    packages,
    sources: hostAptSources(),
  };
  if (spec.sources.length === 0) throw new Error("this machine has no apt sources to build from");
  const key = baseKey(spec);
  const tarball = path.join(cacheDir, `base-${spec.suite}-${key}.tar`);
  if (existsSync(tarball)) return { tarball, key, built: false };
  mkdirSync(cacheDir, { recursive: true });
  out(`building the Debian ${spec.suite} base (mmdebstrap, ${packages.length} packages) ...`);
  const tmp = `${tarball}.tmp`;
  rmSync(tmp, { force: true });
  await runLogged(
    [
      "mmdebstrap",
      `--variant=${spec.variant}`,
      `--arch=${spec.arch}`,
      `--include=${packages.join(",")}`,
      "--format=tar",
      spec.suite,
      tmp,
      ...spec.sources.map((s) => s.file),
    ],
    path.join(cacheDir, `base-${key}.log`),
  );
  renameSync(tmp, tarball);
  // Older bases of other package lists are dropped: each is most of a gigabyte.
  for (const n of readdirSync(cacheDir)) {
    if (n.startsWith("base-") && n.endsWith(".tar") && n !== path.basename(tarball)) {
      rmSync(path.join(cacheDir, n), { force: true });
    }
  }
  return { tarball, key, built: true };
}

function idsOf(root: string, user: string): { uid: number; gid: number } {
  const line = readFileSync(path.join(root, "etc/passwd"), "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  const f = line?.split(":");
  if (!f || f.length < 4) throw new Error(`user ${user} missing in the image (sysusers)`);
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function install(src: string, dst: string, mode: number): void {
  mkdirSync(path.dirname(dst), { recursive: true });
  copyFileSync(src, dst);
  chmodSync(dst, mode);
  chownSync(dst, 0, 0);
}

function write(dst: string, text: string, mode = 0o644): void {
  mkdirSync(path.dirname(dst), { recursive: true });
  writeFileSync(dst, text);
  chmodSync(dst, mode);
}

/** HAN accounts: passwords made once and kept for the tests, argon2id hashes for the display. */
async function installAccounts(
  root: string,
  policy: Policy,
  credentialsFile: string,
): Promise<void> {
  const known = new Map<string, string>();
  if (existsSync(credentialsFile)) {
    for (const line of readFileSync(credentialsFile, "utf8").split("\n")) {
      const m = /^([a-z][a-z0-9-]*)\s+(\S+)\s+(\S+)$/.exec(line.trim());
      if (m?.[1] && m[3]) known.set(m[1], m[3]);
    }
  }
  const accounts = Object.values(policy.endpoints)
    .filter((e) => e.role === "consumer" || e.role === "service-technician")
    .map((e) => ({ name: e.name, role: e.role, password: known.get(e.name) ?? randomPassword() }));
  writeFileSync(
    credentialsFile,
    `# HAN accounts of the test image: name role password\n${accounts.map((a) => `${a.name} ${a.role} ${a.password}`).join("\n")}\n`,
    { mode: 0o600 },
  );
  const hashed: Record<string, { role: string; passwordHash: string }> = {};
  for (const a of accounts) {
    hashed[a.name] = {
      role: a.role,
      passwordHash: await Bun.password.hash(a.password, { algorithm: "argon2id" }),
    };
  }
  const dir = path.join(root, APPLIANCE.stateRoot.slice(1), "display");
  const file = path.join(dir, "accounts.json");
  write(file, JSON.stringify(hashed, null, 2), 0o600);
  const ids = idsOf(root, "smgw-display");
  chownSync(file, ids.uid, ids.gid);
}

function randomPassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(14));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

function duBytes(dir: string): number {
  return Number(run(["du", "-sb", "--", dir]).split(/\s/)[0]);
}

function newest(dir: string, prefix: string): string {
  const names = readdirSync(dir)
    .filter((n) => n.startsWith(prefix))
    .sort();
  const last = names.at(-1);
  if (!last) throw new Error(`no ${prefix}* in ${dir}`);
  return path.join(dir, last);
}

/** Everything from the policy and the project into the root tree (before labelling). */
async function populate(
  root: string,
  o: BuildOptions,
  inputs: Inputs,
  policy: Policy,
  binary: string,
  img: BuiltImage,
): Promise<void> {
  const repo = o.repoRoot;
  // Shared image parts, then the test image's own.
  cpSync(path.join(repo, "image/common/rootfs"), root, { recursive: true });
  cpSync(path.join(repo, "image/debian/rootfs"), root, { recursive: true });
  const r = (p: string) => path.join(root, p.slice(1));

  install(binary, r(APPLIANCE.binary), 0o755);
  install(o.policyFile, r(APPLIANCE.policy), 0o644);
  // The profiles' tariff files, at the same place relative to the policy.
  for (const p of Object.values(policy.profiles)) {
    if (p.tariff === undefined) continue;
    install(
      path.join(path.dirname(o.policyFile), p.tariff),
      r(path.join(path.dirname(APPLIANCE.policy), p.tariff)),
      0o644,
    );
  }
  for (const u of inputs.units) install(u, r(`${APPLIANCE.unitDir}/${path.basename(u)}`), 0o644);
  install(inputs.sysusers, r(APPLIANCE.sysusers), 0o644);
  install(inputs.tmpfiles, r(APPLIANCE.tmpfiles), 0o644);
  install(inputs.nftables, r(APPLIANCE.nftables), 0o644);
  for (const [name, text] of Object.entries(networkFiles(policy))) {
    write(r(`${APPLIANCE.networkDir}/${name}`), text);
  }
  write(r(APPLIANCE.dataVolumeConf), dataVolumeConf());
  write(r("/etc/systemd/system/smgw-test-ready.service"), readyMarkerUnit());
  write(r("/etc/hostname"), "smgw\n");
  write(r("/etc/hosts"), "127.0.0.1 localhost\n127.0.1.1 smgw\n");
  write(r("/etc/fstab"), `${"/dev/vda"} / ext4 rw,relatime 0 1\n`);

  // The units' users and directories exist in the image, so files can belong to them.
  run(["systemd-sysusers", `--root=${root}`]);
  run(["systemd-tmpfiles", `--root=${root}`, "--create", r(APPLIANCE.tmpfiles)]);
  await installAccounts(root, policy, img.credentials);
  run([
    "systemctl",
    `--root=${root}`,
    "enable",
    "smgw.target",
    "nftables.service",
    "systemd-networkd.service",
    "auditd.service",
    "smgw-test-ready.service",
  ]);
  // Timers that would download or scrub in the middle of a test run.
  run([
    "systemctl",
    `--root=${root}`,
    "mask",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
  ]);
}

/** The generated module and the image's own, into the image's policy store; then labels. */
function installSelinux(root: string, repo: string, inputs: Inputs): void {
  const type = APPLIANCE.selinuxType;
  const active = path.join(root, "var/lib/selinux", type, "active");
  if (!existsSync(active)) throw new Error(`the image has no SELinux policy store (${active})`);
  const module = readFileSync(inputs.selinuxModule, "utf8");
  const fc = readFileSync(inputs.fileContexts, "utf8");
  // Local records of the store, merged on the next commit: port labels (which a module cannot
  // take from the base policy) and, where the module carries no filecon, the file contexts.
  write(path.join(active, "ports.local"), portsLocal(readFileSync(inputs.selinuxPorts, "utf8")));
  if (!module.includes("(filecon ")) write(path.join(active, "file_contexts.local"), fc);
  const moduleDir = path.join(root, "tmp", "smgw-selinux");
  mkdirSync(moduleDir, { recursive: true });
  // semodule names a module after its file.
  copyFileSync(inputs.selinuxModule, path.join(moduleDir, "smgw.cil"));
  copyFileSync(
    path.join(repo, "image/common/selinux/smgw_image.cil"),
    path.join(moduleDir, "smgw_image.cil"),
  );
  run(
    [
      "semodule",
      "-p",
      root,
      "-s",
      type,
      "-i",
      path.join(moduleDir, "smgw.cil"),
      "-i",
      path.join(moduleDir, "smgw_image.cil"),
    ],
    { tail: 4000 },
  );
  rmSync(moduleDir, { recursive: true, force: true });
  const binaryPolicy = newest(path.join(root, "etc/selinux", type, "policy"), "policy.");
  const contexts = path.join(root, "etc/selinux", type, "contexts/files/file_contexts");
  run(["setfiles", "-m", "-F", "-r", root, "-c", binaryPolicy, contexts, root], { tail: 4000 });
  // The executable's label is what every unit's entrypoint check rests on.
  const want = fileContextOf(fc, APPLIANCE.binary);
  const got = run([
    "getfattr",
    "--only-values",
    "-n",
    "security.selinux",
    path.join(root, APPLIANCE.binary.slice(1)),
  ])
    .replace(/\0$/, "")
    .trim();
  if (want && got.replace(/\0/g, "") !== want) {
    throw new Error(`${APPLIANCE.binary} is labelled ${got}, the file contexts say ${want}`);
  }
}

/** The context file_contexts gives an exact path (the line whose pattern is that path). */
export function fileContextOf(fileContexts: string, file: string): string | undefined {
  const escaped = file.replaceAll(".", "\\.");
  for (const line of fileContexts.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === escaped || f[0] === file) return f.at(-1);
  }
  return undefined;
}

export async function buildImage(o: BuildOptions): Promise<BuiltImage> {
  requireRoot("smgw image build");
  requireTools(BUILD_TOOLS, "smgw image build");
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const step = (name: string) => {
    const now = performance.now();
    seconds[name] = Math.round((now - t) / 100) / 10;
    o.out(`  ${name}: ${seconds[name]} s`);
    t = now;
  };

  const inputs = findInputs(o.inputDirs ?? defaultInputDirs(o.repoRoot));
  const policy = await loadPolicyFile(o.policyFile);
  const buildDir = o.buildDir ?? defaultBuildDir(o.repoRoot);
  const img = imagePaths(buildDir);
  mkdirSync(img.dir, { recursive: true });
  let binary = o.binary;
  if (!binary) {
    const { buildBinary } = await import("@smgw/hostmode");
    binary = buildBinary(o.repoRoot, o.out);
  }
  step("executable");

  const packages = parsePackageList(
    readFileSync(path.join(o.repoRoot, "image/debian/packages"), "utf8"),
  );
  const base = await ensureBase(path.join(buildDir, "cache"), packages, o.out);
  step(base.built ? "base (mmdebstrap)" : "base (cached)");

  const root = path.join(buildDir, "rootfs");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  run(["tar", "-C", root, "--numeric-owner", "-xpf", base.tarball]);
  step("unpack");

  await populate(root, o, inputs, policy, binary, img);
  step("install");

  installSelinux(root, o.repoRoot, inputs);
  step("selinux");

  copyFileSync(newest(path.join(root, "boot"), "vmlinuz-"), img.kernel);
  copyFileSync(newest(path.join(root, "boot"), "initrd.img-"), img.initrd);
  // Room for logs and the journal; the data volume is a disk of its own.
  const size = Math.ceil((duBytes(root) * 1.2 + 384 * 2 ** 20) / 2 ** 20);
  rmSync(`${img.rootfs}.tmp`, { force: true });
  run(["mkfs.ext4", "-q", "-F", "-L", "smgw-root", "-d", root, `${img.rootfs}.tmp`, `${size}M`]);
  renameSync(`${img.rootfs}.tmp`, img.rootfs);
  rmSync(root, { recursive: true, force: true });
  step("ext4");

  const manifest: Manifest = {
    kernel: path.basename(img.kernel),
    initrd: path.basename(img.initrd),
    rootfs: path.basename(img.rootfs),
    built: new Date().toISOString(),
    baseKey: base.key,
    policySha256: sha256File(o.policyFile),
    binarySha256: sha256File(binary),
    seconds,
  };
  writeFileSync(img.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  o.out(
    `image ready: ${img.rootfs} (${Math.round(statSync(img.rootfs).size / 2 ** 20)} MiB), kernel and initrd beside it`,
  );
  return img;
}
