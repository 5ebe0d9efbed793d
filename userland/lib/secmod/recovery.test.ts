// Recovery of the card and TPM backends from a misbehaving card, a removed or killed card, a
// restarted pcscd and a stopped or restarted swtpm: each failure gives a named error, and the
// same backend instance works again once the module is back. Needs root (ci/services).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { CardModule, DEFAULT_CARD_SLOTS } from "./card/backend.ts";
import { PcscTransport } from "./card/pcsc.ts";
import { ProtocolError, RefusedError, type SecurityModule, UnavailableError } from "./module.ts";
import {
  CARD_CONTROL,
  cardPin,
  eventually,
  opensslVerify,
  services,
  servicesUnavailable,
  tempDir,
} from "./test-support.ts";
import { TpmModule } from "./tpm/backend.ts";
import { parse2b, sealedPublicTemplate, sensitiveCreate } from "./tpm/marshal.ts";
import { TssContext, TssError } from "./tpm/tss.ts";
import { sendControl } from "./vcard/control.ts";

const digest = new Uint8Array(createHash("sha256").update("recovery").digest());

async function signs(m: SecurityModule): Promise<void> {
  const pub = await m.publicKey("test-a");
  expect(opensslVerify(pub.pem, digest, await m.sign("test-a", digest))).toBe(true);
}

const cardSkip = servicesUnavailable("card");
const cardDescribe = cardSkip ? describe.skip : describe;
if (cardSkip) console.warn(`secmod card recovery tests skipped: ${cardSkip}`);

cardDescribe("card recovery", () => {
  let m: CardModule;
  beforeAll(async () => {
    services("start", "vcard");
    m = new CardModule(new PcscTransport(), { pin: cardPin(), slots: DEFAULT_CARD_SLOTS });
    await m.generateKeyPair("test-a", "brainpoolP256r1");
  });
  afterAll(async () => {
    await sendControl(CARD_CONTROL, { cmd: "misbehave", mode: "none", count: 0 }).catch(() => {});
    services("start", "vcard");
    await m?.close();
  });

  for (const mode of ["truncate", "garbage", "bad-sw"] as const) {
    test(`a ${mode} answer is a ProtocolError, and the next call works`, async () => {
      await signs(m);
      expect(await sendControl(CARD_CONTROL, { cmd: "misbehave", mode, count: 1 })).toEqual({
        ok: true,
      });
      await expect(m.sign("test-a", digest)).rejects.toThrow(ProtocolError);
      await signs(m);
    });
  }

  test("a garbled signature (right status, wrong length) is a ProtocolError", async () => {
    // Only the answer to PSO (INS 2A), the signature, is garbage.
    await sendControl(CARD_CONTROL, { cmd: "misbehave", mode: "garbage", count: 1, ins: 0x2a });
    await expect(m.sign("test-a", digest)).rejects.toThrow(ProtocolError);
    await signs(m);
  });

  test("a card taken out of the reader: UnavailableError, then it works when back", async () => {
    await signs(m);
    await sendControl(CARD_CONTROL, { cmd: "remove", ms: 1500 });
    await Bun.sleep(300);
    const err = await m.sign("test-a", digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    await eventually(() => signs(m));
  });

  test("the card process killed and restarted", async () => {
    await signs(m);
    services("stop", "vcard");
    const err = await m.sign("test-a", digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/sign with test-a/);
    services("start", "vcard");
    await eventually(() => signs(m));
  });

  test("pcscd restarted: the next call reconnects by itself", async () => {
    await signs(m);
    services("restart", "pcscd");
    // ci/services returns once the card is back in the new pcscd's reader; the first call
    // finds its context dead, drops it and succeeds on a new one.
    await signs(m);
  });

  test("a wrong PIN is tried once only, and the right one resets the retry counter", async () => {
    const wrong = new CardModule(new PcscTransport(), {
      pin: "0000000",
      slots: DEFAULT_CARD_SLOTS,
    });
    await expect(wrong.sign("test-a", digest)).rejects.toThrow(RefusedError);
    const after = await sendControl(CARD_CONTROL, { cmd: "status" });
    expect(after.pinTriesLeft).toBe(2);
    // Refused again without presenting the PIN a second time.
    await expect(wrong.sign("test-a", digest)).rejects.toThrow(/configured PIN was refused/);
    expect((await sendControl(CARD_CONTROL, { cmd: "status" })).pinTriesLeft).toBe(2);
    await wrong.close();
    const right = new CardModule(new PcscTransport(), {
      pin: cardPin(),
      slots: DEFAULT_CARD_SLOTS,
    });
    await signs(right);
    expect((await sendControl(CARD_CONTROL, { cmd: "status" })).pinTriesLeft).toBe(3);
    await right.close();
  });
});

const tpmSkip = servicesUnavailable("tpm");
const tpmDescribe = tpmSkip ? describe.skip : describe;
if (tpmSkip) console.warn(`secmod TPM recovery tests skipped: ${tpmSkip}`);

tpmDescribe("TPM recovery", () => {
  const dir = tempDir("tpm-recovery");
  let m: TpmModule;
  beforeAll(async () => {
    services("start", "swtpm");
    m = new TpmModule({ stateDir: dir });
    await m.generateKeyPair("test-a", "prime256v1");
  });
  afterAll(async () => {
    services("start", "swtpm");
    await m?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("swtpm stopped: UnavailableError; started again: the same instance works", async () => {
    await signs(m);
    services("stop", "swtpm");
    const err = await m.sign("test-a", digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/TPM not reachable/);
    services("start", "swtpm");
    await eventually(() => signs(m), 5000);
  });

  test("swtpm restarted between calls: objects reloaded without an error", async () => {
    await signs(m);
    const wrapped = await (async () => {
      await m.generateStorageKey("test-storage");
      return m.wrap("test-storage", Uint8Array.of(5, 6));
    })();
    services("restart", "swtpm");
    expect(await m.unwrap("test-storage", wrapped)).toEqual(Uint8Array.of(5, 6));
    await signs(m);
  });

  test("dictionary-attack lockout: named error; the gateway's keys (noDA) still work", async () => {
    // swtpm holds three transient objects: let the module give back its two first.
    await m.close();
    const c = TssContext.open("swtpm:host=127.0.0.1,port=2321");
    let item = 0;
    let primary = 0;
    try {
      // Unclean swtpm stops count as failed tries (earlier tests stop it): start from zero.
      c.dictionaryAttackLockReset();
      c.dictionaryAttackParameters(1, 1000, 0);
      const { eccPublicTemplate } = await import("./tpm/marshal.ts");
      primary = c.createPrimary(eccPublicTemplate("storage")).handle;
      const auth = new TextEncoder().encode("right");
      const sealed = c.create(
        primary,
        sensitiveCreate(Uint8Array.of(1, 2, 3), auth),
        sealedPublicTemplate(true),
      );
      item = c.load(primary, sealed.priv, sealed.pub);
      c.flush(primary);
      primary = 0;
      c.setAuth(item, new TextEncoder().encode("wrong"));
      const fail = (() => {
        try {
          c.unseal(item);
        } catch (e) {
          return e;
        }
      })();
      expect(fail).toBeInstanceOf(TssError);
      expect((fail as TssError).kind).toBe("auth");
      c.setAuth(item, auth);
      const locked = (() => {
        try {
          c.unseal(item);
        } catch (e) {
          return e;
        }
      })();
      expect((locked as TssError).kind).toBe("lockout");
      // The gateway's own objects carry noDA: signing goes on during a lockout.
      await signs(m);
      c.dictionaryAttackLockReset();
      expect(parse2b(c.unseal(item), "TPM2B_SENSITIVE_DATA")).toEqual(Uint8Array.of(1, 2, 3));
    } finally {
      // libtpms' defaults: 3 tries, 1000 s recovery, 1000 s lockout recovery.
      c.dictionaryAttackLockReset();
      c.dictionaryAttackParameters(3, 1000, 1000);
      if (item) c.flush(item);
      if (primary) c.flush(primary);
      c.close();
    }
  });
});
