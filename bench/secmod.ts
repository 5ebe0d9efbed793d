// Benchmark: ECDSA signatures over a digest through each security-module backend, against
// the same operation in-process, in one run, printed as a ratio.
//
//   userland/node_modules/.bin/bun bench/secmod.ts [--seconds N]
//
// Backends: the software module (the virtual card in this process), the virtual card through
// pcscd and vpcd, and swtpm (both as root; ci/services starts them). The in-process anchors:
// node:crypto (Bun's BoringSSL, P-256 only) and the system OpenSSL's libcrypto through
// bun:ffi (every curve; BoringSSL has no brainpool). Each backend is compared with libcrypto
// on the same curve, and P-256 also with node:crypto.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  CardModule,
  type Curve,
  createSoftwareModule,
  DEFAULT_CARD_SLOTS,
  EcKey,
  PcscTransport,
  type SecurityModule,
  TpmModule,
} from "../userland/lib/secmod/index.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { seconds: { type: "string", default: "3" } },
});
const SECONDS = Number(values.seconds);
const REPO = path.resolve(import.meta.dir, "..");
const STATE = process.env.SMGW_SERVICES_STATE ?? "/var/lib/smgw-services";
const digest = new Uint8Array(createHash("sha256").update("bench").digest());

async function rate(name: string, once: () => unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await once(); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    await once();
    n++;
  }
  const perSecond = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(44)} ${perSecond.toFixed(0).padStart(8)} signatures/s`);
  return perSecond;
}

function servicesUp(which: string): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync(path.join(REPO, "ci/services"), ["start", which], { encoding: "utf8" });
  if (r.status !== 0) console.log(`(${which} not available: ${r.stderr.trim()})`);
  return r.status === 0;
}

console.log(`ECDSA over a SHA-256 digest, ${SECONDS} s each, one caller, sequential\n`);

// In-process anchors.
const anchors = new Map<Curve, number>();
for (const curve of ["brainpoolP256r1", "prime256v1"] as const) {
  const key = EcKey.generate(curve);
  anchors.set(curve, await rate(`libcrypto in-process, ${curve}`, () => key.signDigest(digest)));
}
const nodeKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
const nodeRate = await rate("node:crypto in-process, prime256v1", () =>
  sign(null, digest, nodeKey),
);

const rows: { name: string; curve: Curve; perSecond: number }[] = [];
async function backend(name: string, m: SecurityModule, curve: Curve, key: string) {
  await m.generateKeyPair(key, curve);
  rows.push({ name, curve, perSecond: await rate(`${name}, ${curve}`, () => m.sign(key, digest)) });
  await m.close();
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "smgw-bench-secmod-"));
try {
  for (const curve of ["brainpoolP256r1", "prime256v1"] as const) {
    const soft = createSoftwareModule({ production: false, warn: () => {} });
    await backend("software module", soft, curve, "test-a");
  }
  if (servicesUp("vcard")) {
    const pin = fs.readFileSync(path.join(STATE, "vcard.pin"), "utf8").trim();
    const card = new CardModule(new PcscTransport(), { pin, slots: DEFAULT_CARD_SLOTS });
    await backend("virtual card via pcscd+vpcd", card, "brainpoolP256r1", "test-a");
  }
  if (servicesUp("swtpm")) {
    await backend("swtpm via tpm2-tss", new TpmModule({ stateDir: tmp }), "prime256v1", "test-a");
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

console.log("\nratio = backend / in-process on the same curve");
for (const r of rows) {
  const anchor = anchors.get(r.curve) ?? Number.NaN;
  let line = `${`${r.name}, ${r.curve}`.padEnd(44)} ${(r.perSecond / anchor).toFixed(3)}× libcrypto`;
  if (r.curve === "prime256v1") line += `   ${(r.perSecond / nodeRate).toFixed(3)}× node:crypto`;
  console.log(line);
}
