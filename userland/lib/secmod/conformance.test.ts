// One test suite, run against every backend: the software module (always), the virtual card
// through pcscd and vpcd, and swtpm (both as root, started by ci/services). OpenSSL's command
// line checks signatures and key agreement independently of the code under test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CardModule, DEFAULT_CARD_SLOTS } from "./card/backend.ts";
import { PcscTransport } from "./card/pcsc.ts";
import {
  type Curve,
  InvalidArgumentError,
  KeyNotFoundError,
  type SecurityModule,
  WrapIntegrityError,
} from "./module.ts";
import { createSoftwareModule } from "./software.ts";
import {
  cardPin,
  opensslCertificate,
  opensslPeer,
  opensslVerify,
  services,
  servicesUnavailable,
  tempDir,
} from "./test-support.ts";
import { TpmModule } from "./tpm/backend.ts";

/** The counter tests may move; the gateway's named counters use 0…6. */
const TEST_COUNTER = 15;

interface Backend {
  name: string;
  curves: Curve[];
  skip?: string;
  open(): SecurityModule;
  /** Restart the service behind the module (card process, swtpm), if there is one. */
  restartService?(): void;
}

const softwareDir = tempDir("software");
const tpmDir = tempDir("tpm");
const quiet = () => {};

const backends: Backend[] = [
  {
    name: "software",
    curves: ["brainpoolP256r1", "brainpoolP384r1", "prime256v1"],
    open: () =>
      createSoftwareModule({
        stateFile: path.join(softwareDir, "state.json"),
        production: false,
        warn: quiet,
      }),
  },
  {
    name: "card (pcscd + vpcd)",
    curves: ["brainpoolP256r1", "brainpoolP384r1"],
    ...(servicesUnavailable("card") ? { skip: servicesUnavailable("card") } : {}),
    open: () => new CardModule(new PcscTransport(), { pin: cardPin(), slots: DEFAULT_CARD_SLOTS }),
    restartService: () => services("restart", "vcard"),
  },
  {
    name: "tpm (swtpm)",
    curves: ["prime256v1"],
    ...(servicesUnavailable("tpm") ? { skip: servicesUnavailable("tpm") } : {}),
    open: () => new TpmModule({ stateDir: tpmDir }),
    restartService: () => services("restart", "swtpm"),
  },
];

afterAll(() => {
  fs.rmSync(softwareDir, { recursive: true, force: true });
  fs.rmSync(tpmDir, { recursive: true, force: true });
});

const sha256 = (s: string) => new Uint8Array(createHash("sha256").update(s).digest());
const sha384 = (s: string) => new Uint8Array(createHash("sha384").update(s).digest());

for (const b of backends) {
  if (b.skip) {
    // In CI (root, ci/services started) every backend must be there: a missing one fails.
    if (process.env.CI) {
      test(`security module: ${b.name} is available in CI`, () => {
        throw new Error(`${b.name} unavailable: ${b.skip}`);
      });
      continue;
    }
    describe.skip(`security module: ${b.name}`, () => {
      test(`skipped: ${b.skip}`, () => {});
    });
    console.warn(`secmod conformance on ${b.name} skipped: ${b.skip}`);
    continue;
  }
  describe(`security module: ${b.name}`, () => {
    let m: SecurityModule;
    beforeAll(async () => {
      if (b.name !== "software") services("start", b.name.startsWith("card") ? "vcard" : "swtpm");
      m = b.open();
      await m.generateKeyPair("test-a", b.curves[0] as Curve);
      await m.generateStorageKey("test-storage");
      await m.generateStorageKey("test-storage-b");
    });
    afterAll(async () => {
      await m?.close();
    });

    test("describes itself", async () => {
      const info = await m.info();
      expect(info.curves).toEqual(expect.arrayContaining(b.curves));
      expect(info.description.length).toBeGreaterThan(0);
    });

    for (const curve of b.curves) {
      test(`${curve}: a signature over a digest verifies with openssl`, async () => {
        const pub = await m.generateKeyPair("test-b", curve);
        expect(pub.curve).toBe(curve);
        expect(pub.pem).toContain("BEGIN PUBLIC KEY");
        expect(await m.publicKey("test-b")).toEqual(pub);
        for (const digest of [sha256("meter data"), sha384("meter data")]) {
          const sig = await m.sign("test-b", digest);
          expect(opensslVerify(pub.pem, digest, sig)).toBe(true);
          const other = digest.slice();
          other[0] = (other[0] ?? 0) ^ 1;
          expect(opensslVerify(pub.pem, other, sig)).toBe(false);
        }
      });

      test(`${curve}: ECDH agrees with an openssl peer`, async () => {
        const pub = await m.generateKeyPair("test-b", curve);
        const peer = opensslPeer(curve, pub.pem);
        const secret = await m.agree("test-b", peer.spki);
        expect(Buffer.from(secret).toString("hex")).toBe(Buffer.from(peer.secret).toString("hex"));
        // The bare point gives the same secret as the SPKI.
        const point = peer.spki.slice(peer.spki.length - pub.point.length);
        expect(await m.agree("test-b", point)).toEqual(secret);
      });
    }

    test("signature from the first key verifies against its stored public key", async () => {
      const pub = await m.publicKey("test-a");
      const d = sha256("again");
      expect(opensslVerify(pub.pem, d, await m.sign("test-a", d))).toBe(true);
    });

    test("random bytes: the length asked, not constant", async () => {
      for (const n of [1, 32, 64, 65, 300]) {
        const r = await m.random(n);
        expect(r.length).toBe(n);
      }
      const a = await m.random(32);
      const b2 = await m.random(32);
      expect(a).not.toEqual(b2);
      expect(new Set(a).size).toBeGreaterThan(8);
      await expect(m.random(0)).rejects.toThrow(InvalidArgumentError);
      await expect(m.random(4097)).rejects.toThrow(InvalidArgumentError);
    });

    test("unwrap(wrap(k)) = k, and a changed wrap is refused", async () => {
      for (const k of [
        Uint8Array.of(7),
        new Uint8Array(32).fill(0xa5),
        new Uint8Array(64).fill(1),
      ]) {
        const w = await m.wrap("test-storage", k);
        expect(await m.unwrap("test-storage", w)).toEqual(k);
      }
      const key = new Uint8Array(32).map((_, i) => i);
      const w = await m.wrap("test-storage", key);
      for (const pos of [0, 5, Math.floor(w.length / 2), w.length - 1]) {
        const bad = w.slice();
        bad[pos] = (bad[pos] ?? 0) ^ 0x01;
        await expect(m.unwrap("test-storage", bad)).rejects.toThrow(WrapIntegrityError);
      }
      await expect(m.unwrap("test-storage", w.slice(0, w.length - 3))).rejects.toThrow(
        WrapIntegrityError,
      );
      // Another storage key does not open it.
      await expect(m.unwrap("test-storage-b", w)).rejects.toThrow(WrapIntegrityError);
      await expect(m.wrap("test-storage", new Uint8Array(0))).rejects.toThrow(InvalidArgumentError);
      await expect(m.wrap("test-storage", new Uint8Array(65))).rejects.toThrow(
        InvalidArgumentError,
      );
    });

    test("the counter only goes up, by one per increment", async () => {
      const start = await m.readCounter(TEST_COUNTER);
      const first = await m.incrementCounter(TEST_COUNTER);
      expect(first).toBeGreaterThan(start);
      const second = await m.incrementCounter(TEST_COUNTER);
      expect(second).toBe(first + 1n);
      expect(await m.readCounter(TEST_COUNTER)).toBe(second);
      await expect(m.readCounter(16)).rejects.toThrow(InvalidArgumentError);
      await expect(m.incrementCounter(-1)).rejects.toThrow(InvalidArgumentError);
    });

    test("a stored certificate reads back", async () => {
      await m.generateKeyPair("test-b", b.curves[0] as Curve);
      expect(await m.certificate("test-b")).toBeUndefined();
      const cert = opensslCertificate();
      await m.storeCertificate("test-b", cert);
      expect(await m.certificate("test-b")).toEqual(cert);
      await expect(m.storeCertificate("test-b", Uint8Array.of(1, 2, 3))).rejects.toThrow(
        InvalidArgumentError,
      );
    });

    test("bad arguments are refused with named errors", async () => {
      await expect(m.sign("test-a", new Uint8Array(10))).rejects.toThrow(InvalidArgumentError);
      await expect(m.sign("Not A Handle", sha256("x"))).rejects.toThrow(InvalidArgumentError);
      await expect(m.agree("test-a", Uint8Array.of(4, 1, 2))).rejects.toThrow(InvalidArgumentError);
      const pub = await m.publicKey("test-a");
      const offCurve = pub.point.slice();
      offCurve[offCurve.length - 1] = (offCurve[offCurve.length - 1] ?? 0) ^ 1;
      await expect(m.agree("test-a", offCurve)).rejects.toThrow(InvalidArgumentError);
      await expect(m.unwrap("test-storage", new Uint8Array(0))).rejects.toThrow(WrapIntegrityError);
    });

    test("a key that was never made is reported as missing", async () => {
      const missing = b.name.startsWith("tpm") ? "never-made" : "sign";
      if (b.name !== "tpm (swtpm)") {
        // On a card the slot exists but may be empty; use a handle without a slot too.
        await expect(m.publicKey("no-such-slot")).rejects.toThrow(KeyNotFoundError);
      } else {
        await expect(m.publicKey(missing)).rejects.toThrow(KeyNotFoundError);
        await expect(m.unwrap("no-storage", Uint8Array.of(1))).rejects.toThrow(KeyNotFoundError);
      }
    });

    test("keys and counters survive a new backend instance", async () => {
      const pub = await m.publicKey("test-a");
      const wrapped = await m.wrap("test-storage", Uint8Array.of(1, 2, 3));
      const count = await m.incrementCounter(TEST_COUNTER);
      await m.close();
      m = b.open();
      expect(await m.publicKey("test-a")).toEqual(pub);
      expect(await m.unwrap("test-storage", wrapped)).toEqual(Uint8Array.of(1, 2, 3));
      expect(await m.readCounter(TEST_COUNTER)).toBe(count);
      const d = sha256("after reopen");
      expect(opensslVerify(pub.pem, d, await m.sign("test-a", d))).toBe(true);
    });

    if (b.restartService) {
      test("keys and counters survive a restart of the service, same backend instance", async () => {
        const pub = await m.publicKey("test-a");
        const wrapped = await m.wrap("test-storage", Uint8Array.of(9, 9));
        const count = await m.incrementCounter(TEST_COUNTER);
        b.restartService?.();
        expect(await m.readCounter(TEST_COUNTER)).toBe(count);
        expect(await m.incrementCounter(TEST_COUNTER)).toBe(count + 1n);
        expect(await m.unwrap("test-storage", wrapped)).toEqual(Uint8Array.of(9, 9));
        const d = sha256("after restart");
        expect(opensslVerify(pub.pem, d, await m.sign("test-a", d))).toBe(true);
      });
    }
  });
}
