import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { CardModule, DEFAULT_CARD_SLOTS, parseSlots } from "./card/backend.ts";
import { isProduction, openSecurityModule, readSecmodConfig, SecmodConfigError } from "./config.ts";
import { InvalidArgumentError, KeyNotFoundError } from "./module.ts";
import { createSoftwareModule, SoftwareModuleRefused } from "./software.ts";
import { tempDir } from "./test-support.ts";
import { TpmModule } from "./tpm/backend.ts";

describe("security-module configuration", () => {
  test("no SMGW_SECMOD: no module", () => {
    expect(readSecmodConfig({}, "/state")).toEqual({ backend: "none", production: false });
    expect(openSecurityModule({ backend: "none", production: false }, () => {})).toBeUndefined();
  });

  test("card: PIN from the environment or a file, slots, reader", () => {
    const sel = readSecmodConfig(
      { SMGW_SECMOD: "card", SMGW_SECMOD_PIN: "1234", SMGW_SECMOD_READER: "Virtual" },
      "/state",
    );
    expect(sel).toEqual({
      backend: "card",
      production: false,
      pin: "1234",
      slots: DEFAULT_CARD_SLOTS,
      reader: "Virtual",
    });
    const dir = tempDir("config");
    try {
      const file = path.join(dir, "pin");
      fs.writeFileSync(file, "98765\n");
      const fromFile = readSecmodConfig(
        {
          SMGW_SECMOD: "card",
          SMGW_SECMOD_PIN_FILE: file,
          SMGW_SECMOD_KEYS: "tls-wan=0x02,storage-meter=17",
        },
        "/state",
      );
      expect(fromFile).toMatchObject({
        pin: "98765",
        slots: { "tls-wan": 2, "storage-meter": 17 },
      });
      expect(openSecurityModule(fromFile, () => {})).toBeInstanceOf(CardModule);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => readSecmodConfig({ SMGW_SECMOD: "card" }, "/s")).toThrow(/SMGW_SECMOD_PIN/);
    expect(() => readSecmodConfig({ SMGW_SECMOD: "card", SMGW_SECMOD_PIN: "12" }, "/s")).toThrow(
      /4…16/,
    );
    expect(() =>
      readSecmodConfig({ SMGW_SECMOD: "card", SMGW_SECMOD_PIN_FILE: "/nonexistent/pin" }, "/s"),
    ).toThrow(SecmodConfigError);
    expect(() =>
      readSecmodConfig(
        { SMGW_SECMOD: "card", SMGW_SECMOD_PIN: "1234", SMGW_SECMOD_KEYS: "x=99" },
        "/s",
      ),
    ).toThrow(/SMGW_SECMOD_KEYS/);
  });

  test("tpm: TCTI default and override; blobs under the state directory", () => {
    expect(readSecmodConfig({ SMGW_SECMOD: "tpm" }, "/state")).toEqual({
      backend: "tpm",
      production: false,
      tcti: "swtpm:host=127.0.0.1,port=2321",
      stateDir: "/state/tpm",
    });
    expect(
      readSecmodConfig({ SMGW_SECMOD: "tpm", SMGW_SECMOD_TCTI: "device:/dev/tpmrm0" }, "/s"),
    ).toMatchObject({ tcti: "device:/dev/tpmrm0" });
    const dir = tempDir("config");
    try {
      const m = openSecurityModule(
        { backend: "tpm", production: true, tcti: "swtpm:host=127.0.0.1,port=1", stateDir: dir },
        () => {},
      );
      expect(m).toBeInstanceOf(TpmModule);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("software: refused in production, warned about every time otherwise", () => {
    expect(() => readSecmodConfig({ SMGW_SECMOD: "software", SMGW_PRODUCTION: "1" }, "/s")).toThrow(
      /refused in production/,
    );
    expect(() => createSoftwareModule({ production: true, warn: () => {} })).toThrow(
      SoftwareModuleRefused,
    );
    const warnings: string[] = [];
    const sel = readSecmodConfig({ SMGW_SECMOD: "software" }, "/state");
    expect(sel).toEqual({
      backend: "software",
      production: false,
      stateFile: "/state/software-secmod.json",
    });
    createSoftwareModule({ production: false, warn: (m) => warnings.push(m) });
    createSoftwareModule({ production: false, warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/SOFTWARE SECURITY MODULE IN USE/);
  });

  test("bad values are named", () => {
    expect(() => readSecmodConfig({ SMGW_SECMOD: "hsm" }, "/s")).toThrow(/card, tpm or software/);
    expect(() => isProduction({ SMGW_PRODUCTION: "maybe" })).toThrow(/SMGW_PRODUCTION/);
    expect(isProduction({ SMGW_PRODUCTION: "true" })).toBe(true);
    expect(isProduction({ SMGW_PRODUCTION: "0" })).toBe(false);
  });
});

describe("card key slots", () => {
  test("parse name=reference lists", () => {
    expect(parseSlots("a=1, b=0x1f")).toEqual({ a: 1, b: 0x1f });
    expect(() => parseSlots("a=1,a=2")).toThrow(/twice/);
    expect(() => parseSlots("A=1")).toThrow(InvalidArgumentError);
    expect(() => parseSlots("a=0x10")).toThrow(/01…0F or 11…1F/);
  });

  test("a handle without a slot, or a slot of the other kind, is refused before the card", async () => {
    const m = createSoftwareModule({ production: false, warn: () => {} });
    await expect(m.sign("unknown", new Uint8Array(32))).rejects.toThrow(KeyNotFoundError);
    await expect(m.wrap("tls-wan", Uint8Array.of(1))).rejects.toThrow(
      /key pair, not a storage key/,
    );
    await expect(m.generateKeyPair("storage-meter", "brainpoolP256r1")).rejects.toThrow(
      /storage key, not a key pair/,
    );
    // An empty slot: the card answers "referenced data not found".
    await expect(m.publicKey("sign")).rejects.toThrow(KeyNotFoundError);
    await expect(m.unwrap("storage-meter", Uint8Array.of(1, 2))).rejects.toThrow(KeyNotFoundError);
  });
});
