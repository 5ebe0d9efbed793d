// The meters' AES keys at rest: imported from a key file, sealed with AES-256-GCM under a data
// key the (software) security module wraps, the import deleted; reopened at every start. Every
// damaged or foreign file is a MeterKeyError naming the file and what is wrong with it.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "@smgw/daemon";
import { createSoftwareModule } from "@smgw/secmod";
import { CryptoService } from "@smgw/unit-crypto/service.ts";
import { type KeyWrapper, loadMeterKeys, MeterKeyError } from "./keys.ts";

/**
 * The wrapper the meter domain uses (crypto.wrap / crypto.unwrap under "meter-keys"), here
 * straight into the crypto unit's service over its own in-memory software security module.
 */
function softwareWrapper(): KeyWrapper {
  const module = createSoftwareModule({ production: false, warn: () => {} });
  const crypto = new CryptoService(module, createLogger("crypto", { write: () => {} }));
  return {
    wrap: async (data) =>
      Buffer.from(
        (
          await crypto.wrap(
            { domain: "meter-keys", dataKey: Buffer.from(data).toString("hex") },
            "meter",
          )
        ).wrapped,
        "hex",
      ),
    unwrap: async (wrapped) =>
      Buffer.from(
        (
          await crypto.unwrap(
            { domain: "meter-keys", wrapped: Buffer.from(wrapped).toString("hex") },
            "meter",
          )
        ).dataKey,
        "hex",
      ),
  };
}

let wrapper: KeyWrapper;
let other: KeyWrapper;
beforeAll(async () => {
  wrapper = softwareWrapper();
  other = softwareWrapper();
  // The other gateway has a "meter-keys" storage key of its own.
  await other.wrap(new Uint8Array(32));
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDir(): { dir: string; sealed: string; importFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-meter-keys-"));
  dirs.push(dir);
  return {
    dir,
    sealed: path.join(dir, "meter-keys.sealed"),
    importFile: path.join(dir, "meter-keys.import.json"),
  };
}

const K1 = "00112233445566778899aabbccddeeff";
const K2 = "ffeeddccbbaa99887766554433221100";
const K3 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

const hexOf = (m: Map<string, Uint8Array>) =>
  Object.fromEntries([...m].map(([n, k]) => [n, Buffer.from(k).toString("hex")]));

/** The MeterKeyError `p` rejects with; fails the test on anything else. */
async function keyError(p: Promise<unknown>): Promise<MeterKeyError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof MeterKeyError)) {
    throw new Error(`expected a MeterKeyError, got ${e instanceof Error ? e.stack : String(e)}`);
  }
  return e;
}

/** A state directory with K1 for wmbus-1 and K2 for wmbus-2 sealed under `wrapper`. */
async function sealedState() {
  const s = stateDir();
  writeFileSync(s.importFile, JSON.stringify({ "wmbus-1": K1, "wmbus-2": K2 }));
  await loadMeterKeys(s.dir, wrapper);
  return s;
}

describe("import and reopen", () => {
  test("no files: no keys, nothing written", async () => {
    const s = stateDir();
    expect((await loadMeterKeys(s.dir, wrapper)).size).toBe(0);
    expect(readdirSync(s.dir)).toEqual([]);
  });

  test("an import is sealed (mode 0600, no key in clear) and deleted; the keys are the same", async () => {
    const s = stateDir();
    // Upper-case hex is accepted and means the same bytes.
    writeFileSync(s.importFile, JSON.stringify({ "wmbus-1": K1.toUpperCase(), "wmbus-2": K2 }));
    const keys = await loadMeterKeys(s.dir, wrapper);
    expect(hexOf(keys)).toEqual({ "wmbus-1": K1, "wmbus-2": K2 });
    for (const k of keys.values()) expect(k).toBeInstanceOf(Uint8Array);
    expect(existsSync(s.importFile)).toBe(false);
    expect(statSync(s.sealed).mode & 0o777).toBe(0o600);
    expect(readdirSync(s.dir)).toEqual(["meter-keys.sealed"]);
    const text = readFileSync(s.sealed, "utf8");
    const sealed = JSON.parse(text);
    expect(Object.keys(sealed).sort()).toEqual(["ciphertext", "iv", "tag", "wrappedKey"]);
    expect(sealed.iv).toMatch(/^[0-9a-f]{24}$/);
    expect(sealed.tag).toMatch(/^[0-9a-f]{32}$/);
    for (const clear of [K1, K2, K1.toUpperCase(), "wmbus-1"]) expect(text).not.toContain(clear);
  });

  test("reopened without an import, the same keys come back and the file is not rewritten", async () => {
    const s = await sealedState();
    const before = readFileSync(s.sealed);
    const mtime = statSync(s.sealed).mtimeMs;
    for (let i = 0; i < 2; i++) {
      expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual({ "wmbus-1": K1, "wmbus-2": K2 });
    }
    expect(Buffer.compare(readFileSync(s.sealed), before)).toBe(0);
    expect(statSync(s.sealed).mtimeMs).toBe(mtime);
  });

  test("a second import is merged over the sealed keys, sealed anew under a fresh data key", async () => {
    const s = await sealedState();
    const first = JSON.parse(readFileSync(s.sealed, "utf8"));
    writeFileSync(s.importFile, JSON.stringify({ "wmbus-2": K3, "wmbus-3": K1 }));
    const merged = { "wmbus-1": K1, "wmbus-2": K3, "wmbus-3": K1 };
    expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual(merged);
    expect(existsSync(s.importFile)).toBe(false);
    const second = JSON.parse(readFileSync(s.sealed, "utf8"));
    expect(second.wrappedKey).not.toBe(first.wrappedKey);
    expect(second.iv).not.toBe(first.iv);
    expect(statSync(s.sealed).mode & 0o777).toBe(0o600);
    expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual(merged);
  });

  test("an empty import changes no key but seals anew", async () => {
    const s = await sealedState();
    writeFileSync(s.importFile, "{}");
    expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual({ "wmbus-1": K1, "wmbus-2": K2 });
    expect(existsSync(s.importFile)).toBe(false);
  });
});

describe("a damaged or foreign sealed file", () => {
  const fields = ["wrappedKey", "iv", "ciphertext", "tag"] as const;

  for (const field of fields) {
    for (const where of ["first", "last"] as const) {
      test(`${field} with its ${where} byte changed: refused, naming the file`, async () => {
        const s = await sealedState();
        const sealed = JSON.parse(readFileSync(s.sealed, "utf8"));
        const bytes = Buffer.from(sealed[field], "hex");
        const at = where === "first" ? 0 : bytes.length - 1;
        bytes.writeUInt8((bytes[at] as number) ^ 0x01, at);
        sealed[field] = bytes.toString("hex");
        writeFileSync(s.sealed, JSON.stringify(sealed));
        const e = await keyError(loadMeterKeys(s.dir, wrapper));
        expect(e.message).toStartWith(`${s.sealed}: `);
        expect(e.message).toMatch(
          field === "wrappedKey" ? /data key does not unwrap/ : /keys do not decrypt/,
        );
      });
    }
  }

  for (const field of fields) {
    test(`${field} cut short by a byte: refused`, async () => {
      const s = await sealedState();
      const sealed = JSON.parse(readFileSync(s.sealed, "utf8"));
      sealed[field] = sealed[field].slice(0, -2);
      writeFileSync(s.sealed, JSON.stringify(sealed));
      const e = await keyError(loadMeterKeys(s.dir, wrapper));
      expect(e.message).toStartWith(`${s.sealed}: `);
    });
  }

  test("a file sealed under another gateway's security module is refused", async () => {
    const s = await sealedState();
    const e = await keyError(loadMeterKeys(s.dir, other));
    expect(e.message).toStartWith(`${s.sealed}: the data key does not unwrap`);
  });

  test("fields swapped in from another sealed file are refused", async () => {
    const a = await sealedState();
    const b = await sealedState();
    const sa = JSON.parse(readFileSync(a.sealed, "utf8"));
    const sb = JSON.parse(readFileSync(b.sealed, "utf8"));
    for (const field of fields) {
      writeFileSync(a.sealed, JSON.stringify({ ...sa, [field]: sb[field] }));
      const e = await keyError(loadMeterKeys(a.dir, wrapper));
      expect(e.message).toStartWith(`${a.sealed}: `);
    }
  });

  const notJson: [string, string][] = [
    ["empty", ""],
    ["cut short", '{"wrappedKey":"00'],
    ["text", "meter keys"],
  ];
  for (const [name, text] of notJson) {
    test(`not JSON (${name}): refused`, async () => {
      const s = stateDir();
      writeFileSync(s.sealed, text);
      const e = await keyError(loadMeterKeys(s.dir, wrapper));
      expect(e.message).toStartWith(`${s.sealed}: not JSON (`);
    });
  }

  for (const text of ["null", "[]", '"sealed"', "42", "true"]) {
    test(`JSON that is not an object (${text}): refused`, async () => {
      const s = stateDir();
      writeFileSync(s.sealed, text);
      const e = await keyError(loadMeterKeys(s.dir, wrapper));
      expect(e.message).toBe(`${s.sealed}: expected an object of wrappedKey, iv, ciphertext, tag`);
    });
  }

  test("an object without the fields: the first missing one is named", async () => {
    const s = stateDir();
    writeFileSync(s.sealed, "{}");
    expect((await keyError(loadMeterKeys(s.dir, wrapper))).message).toBe(
      `${s.sealed}: wrappedKey is not hex`,
    );
  });

  test("a security module that cannot unwrap: the cause is in the message", async () => {
    const s = await sealedState();
    const down: KeyWrapper = {
      wrap: (d) => wrapper.wrap(d),
      unwrap: async () => {
        throw new Error("unavailable: crypto unit not reachable");
      },
    };
    const e = await keyError(loadMeterKeys(s.dir, down));
    expect(e.message).toStartWith(`${s.sealed}: the data key does not unwrap`);
    expect(e.message).toEndWith("unavailable: crypto unit not reachable");
  });

  test("the decrypted keys are checked like an import", async () => {
    // Sealed correctly, but what was sealed is not a key file.
    const s = await sealedState();
    for (const [plain, problem] of [
      ["not json", "not JSON ("],
      [JSON.stringify({ "wmbus-1": "00" }), "the key of wmbus-1 is not 16 bytes of hex"],
    ] as const) {
      const dataKey = randomBytes(32);
      const iv = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", dataKey, iv);
      const ciphertext = Buffer.concat([c.update(plain), c.final()]);
      writeFileSync(
        s.sealed,
        JSON.stringify({
          wrappedKey: Buffer.from(await wrapper.wrap(dataKey)).toString("hex"),
          iv: iv.toString("hex"),
          ciphertext: ciphertext.toString("hex"),
          tag: c.getAuthTag().toString("hex"),
        }),
      );
      const e = await keyError(loadMeterKeys(s.dir, wrapper));
      expect(e.message).toStartWith(`${s.sealed} (decrypted): ${problem}`);
    }
  });

  for (const field of fields) {
    const bad: [string, unknown][] = [
      ["missing", undefined],
      ["not hex", "zz"],
      ["of odd length", "abc"],
      ["in upper case", "AB"],
      ["empty", ""],
      ["a number", 12],
    ];
    for (const [name, value] of bad) {
      test(`${field} ${name}: "${field} is not hex"`, async () => {
        const s = await sealedState();
        const sealed = JSON.parse(readFileSync(s.sealed, "utf8"));
        sealed[field] = value;
        writeFileSync(s.sealed, JSON.stringify(sealed));
        const e = await keyError(loadMeterKeys(s.dir, wrapper));
        expect(e.message).toBe(`${s.sealed}: ${field} is not hex`);
      });
    }
  }

  test("a damaged sealed file stops the start before a pending import is touched", async () => {
    const s = await sealedState();
    writeFileSync(s.sealed, "{}");
    writeFileSync(s.importFile, JSON.stringify({ "wmbus-9": K3 }));
    await keyError(loadMeterKeys(s.dir, wrapper));
    expect(readFileSync(s.importFile, "utf8")).toBe(JSON.stringify({ "wmbus-9": K3 }));
    expect(readFileSync(s.sealed, "utf8")).toBe("{}");
  });
});

describe("a bad import file", () => {
  const cases: [string, string, RegExp][] = [
    ["not JSON", "{wmbus-1: 00}", /: not JSON \(/],
    ["an array", JSON.stringify([K1]), /: expected an object of meter name -> key$/],
    ["null", "null", /: expected an object of meter name -> key$/],
    ["a name in upper case", JSON.stringify({ "WMBUS-1": K1 }), /: bad meter name "WMBUS-1"$/],
    ["a name with a dot", JSON.stringify({ "wmbus.1": K1 }), /: bad meter name "wmbus.1"$/],
    [
      "a name starting with a digit",
      JSON.stringify({ "1-wmbus": K1 }),
      /: bad meter name "1-wmbus"$/,
    ],
    ["an empty name", JSON.stringify({ "": K1 }), /: bad meter name ""$/],
    ["a name of 33 characters", JSON.stringify({ [`m${"x".repeat(32)}`]: K1 }), /: bad meter name/],
    [
      "a key of 15 bytes",
      JSON.stringify({ "wmbus-1": K1.slice(2) }),
      /: the key of wmbus-1 is not 16 bytes of hex$/,
    ],
    [
      "a key of 17 bytes",
      JSON.stringify({ "wmbus-1": `${K1}00` }),
      /: the key of wmbus-1 is not 16 bytes of hex$/,
    ],
    [
      "a key that is not hex",
      JSON.stringify({ "wmbus-1": `${K1.slice(2)}zz` }),
      /: the key of wmbus-1 is not 16 bytes of hex$/,
    ],
    [
      "a key as a number",
      JSON.stringify({ "wmbus-1": 1234 }),
      /: the key of wmbus-1 is not 16 bytes of hex$/,
    ],
    [
      "a key as an array of bytes",
      JSON.stringify({ "wmbus-1": [...Buffer.from(K1, "hex")] }),
      /: the key of wmbus-1 is not 16 bytes of hex$/,
    ],
  ];
  for (const [name, text, problem] of cases) {
    test(`${name}: refused, naming the file; the import and the sealed keys stay`, async () => {
      const s = await sealedState();
      const sealedBefore = readFileSync(s.sealed);
      writeFileSync(s.importFile, text);
      const e = await keyError(loadMeterKeys(s.dir, wrapper));
      expect(e.message).toStartWith(`${s.importFile}: `);
      expect(e.message).toMatch(problem);
      expect(readFileSync(s.importFile, "utf8")).toBe(text);
      expect(Buffer.compare(readFileSync(s.sealed), sealedBefore)).toBe(0);
      // Once the import is taken away, the sealed keys open as before.
      rmSync(s.importFile);
      expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual({ "wmbus-1": K1, "wmbus-2": K2 });
    });
  }
});

describe("sealing fails", () => {
  test("when the wrapper throws, the import is not deleted and nothing is written", async () => {
    const s = stateDir();
    const text = JSON.stringify({ "wmbus-1": K1 });
    writeFileSync(s.importFile, text);
    let calls = 0;
    const failing: KeyWrapper = {
      wrap: async () => {
        calls++;
        throw new Error("unavailable: crypto unit not reachable");
      },
      unwrap: (w) => wrapper.unwrap(w),
    };
    await expect(loadMeterKeys(s.dir, failing)).rejects.toThrow("crypto unit not reachable");
    expect(calls).toBe(1);
    expect(readFileSync(s.importFile, "utf8")).toBe(text);
    expect(readdirSync(s.dir)).toEqual(["meter-keys.import.json"]);
    // The next start with a working module imports it.
    expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual({ "wmbus-1": K1 });
    expect(existsSync(s.importFile)).toBe(false);
  });

  test("when re-sealing over existing keys fails, the old sealed file and the import stay", async () => {
    const s = await sealedState();
    const before = readFileSync(s.sealed);
    writeFileSync(s.importFile, JSON.stringify({ "wmbus-3": K3 }));
    const failing: KeyWrapper = {
      wrap: async () => {
        throw new Error("refused");
      },
      unwrap: (w) => wrapper.unwrap(w),
    };
    await expect(loadMeterKeys(s.dir, failing)).rejects.toThrow("refused");
    expect(Buffer.compare(readFileSync(s.sealed), before)).toBe(0);
    expect(existsSync(s.importFile)).toBe(true);
    expect(hexOf(await loadMeterKeys(s.dir, wrapper))).toEqual({
      "wmbus-1": K1,
      "wmbus-2": K2,
      "wmbus-3": K3,
    });
  });
});
