// The wireless M-Bus meters' AES-128 keys. They reach the gateway at installation as a key
// file (meter name -> key, hex). The meter domain keeps them encrypted (AES-256-GCM) under a
// random data key that only the security module can unwrap (crypto.wrap under "meter-keys"),
// writes the encrypted file and deletes the import. At every start the crypto manager unwraps
// the data key; the meter keys then live in this process's memory only.
//
//   <state>/meter-keys.import.json   {"wmbus-1": "00112233…", …}   (consumed at the next start)
//   <state>/meter-keys.sealed        {"wrappedKey","iv","ciphertext","tag"} (hex)
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface KeyWrapper {
  wrap(data: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array): Promise<Uint8Array>;
}

export class MeterKeyError extends Error {
  override readonly name = "MeterKeyError";
}

const KEY_HEX = /^[0-9a-fA-F]{32}$/;
function parseKeyFile(text: string, file: string): Record<string, string> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new MeterKeyError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new MeterKeyError(`${file}: expected an object of meter name -> key`);
  }
  const out: Record<string, string> = {};
  for (const [name, key] of Object.entries(v)) {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(name))
      throw new MeterKeyError(`${file}: bad meter name "${name}"`);
    if (typeof key !== "string" || !KEY_HEX.test(key)) {
      throw new MeterKeyError(`${file}: the key of ${name} is not 16 bytes of hex`);
    }
    out[name] = key.toLowerCase();
  }
  return out;
}

interface Sealed {
  wrappedKey: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

/**
 * Loads the meter keys: imports a pending key file (merged over the sealed keys, sealed anew
 * under a fresh data key, the import deleted only after the new file is on disk), then opens.
 */
export async function loadMeterKeys(
  stateDir: string,
  wrapper: KeyWrapper,
): Promise<Map<string, Uint8Array>> {
  const sealedFile = path.join(stateDir, "meter-keys.sealed");
  const importFile = path.join(stateDir, "meter-keys.import.json");
  let keys: Record<string, string> = {};
  if (existsSync(sealedFile)) {
    let sealed: Sealed;
    try {
      sealed = JSON.parse(readFileSync(sealedFile, "utf8")) as Sealed;
    } catch (e) {
      throw new MeterKeyError(`${sealedFile}: not JSON (${(e as Error).message})`);
    }
    if (typeof sealed !== "object" || sealed === null || Array.isArray(sealed)) {
      throw new MeterKeyError(
        `${sealedFile}: expected an object of wrappedKey, iv, ciphertext, tag`,
      );
    }
    const hex = (v: unknown, what: string) => {
      if (typeof v !== "string" || !/^([0-9a-f]{2})+$/.test(v)) {
        throw new MeterKeyError(`${sealedFile}: ${what} is not hex`);
      }
      return Buffer.from(v, "hex");
    };
    // All fields decoded first: a bad one is named, not reported as a failed decryption.
    const wrappedKey = hex(sealed.wrappedKey, "wrappedKey");
    const iv = hex(sealed.iv, "iv");
    const tag = hex(sealed.tag, "tag");
    const ciphertext = hex(sealed.ciphertext, "ciphertext");
    let dataKey: Uint8Array;
    try {
      dataKey = await wrapper.unwrap(wrappedKey);
    } catch (e) {
      throw new MeterKeyError(
        `${sealedFile}: the data key does not unwrap (changed, another gateway's, or the ` +
          `security module failed): ${(e as Error).message}`,
      );
    }
    let plain: Buffer;
    try {
      const d = createDecipheriv("aes-256-gcm", dataKey, iv);
      d.setAuthTag(tag);
      plain = Buffer.concat([d.update(ciphertext), d.final()]);
    } catch {
      throw new MeterKeyError(
        `${sealedFile}: the keys do not decrypt (changed or another gateway's)`,
      );
    }
    keys = parseKeyFile(plain.toString("utf8"), `${sealedFile} (decrypted)`);
  }
  if (existsSync(importFile)) {
    keys = { ...keys, ...parseKeyFile(readFileSync(importFile, "utf8"), importFile) };
    const dataKey = randomBytes(32);
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", dataKey, iv);
    const ciphertext = Buffer.concat([c.update(JSON.stringify(keys)), c.final()]);
    const sealed: Sealed = {
      wrappedKey: Buffer.from(await wrapper.wrap(dataKey)).toString("hex"),
      iv: iv.toString("hex"),
      ciphertext: ciphertext.toString("hex"),
      tag: c.getAuthTag().toString("hex"),
    };
    dataKey.fill(0);
    const tmp = `${sealedFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(sealed), { mode: 0o600 });
    renameSync(tmp, sealedFile);
    rmSync(importFile);
  }
  return new Map(Object.entries(keys).map(([n, k]) => [n, new Uint8Array(Buffer.from(k, "hex"))]));
}
