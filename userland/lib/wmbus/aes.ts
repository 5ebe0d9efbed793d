import { createCipheriv, createDecipheriv } from "node:crypto";
import { WmbusError } from "./errors.ts";

export const AES_BLOCK = 16;

/** Rejects anything but a 16-byte key. */
export function checkAesKey(key: Uint8Array): void {
  if (key.length !== 16) {
    throw new WmbusError("key", `AES-128 needs a 16-byte key, got ${key.length} byte(s)`);
  }
}

function run(
  mode: "aes-128-cbc" | "aes-128-ctr" | "aes-128-ecb",
  encrypt: boolean,
  key: Uint8Array,
  iv: Uint8Array | null,
  data: Uint8Array,
): Uint8Array {
  checkAesKey(key);
  const cipher = encrypt ? createCipheriv(mode, key, iv) : createDecipheriv(mode, key, iv);
  cipher.setAutoPadding(false);
  const head = cipher.update(data);
  const tail = cipher.final();
  const out = new Uint8Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

function checkBlocks(data: Uint8Array, what: string): void {
  if (data.length % AES_BLOCK !== 0) {
    throw new WmbusError("decryption", `${what}: ${data.length} bytes is not a multiple of 16`);
  }
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlocks(data, "AES-CBC input");
  return run("aes-128-cbc", false, key, iv, data);
}

export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkBlocks(data, "AES-CBC input");
  return run("aes-128-cbc", true, key, iv, data);
}

/** AES-CTR with a 128-bit big-endian counter; the ELL block counter is the last byte. */
export function aesCtr(key: Uint8Array, counterBlock: Uint8Array, data: Uint8Array): Uint8Array {
  return run("aes-128-ctr", true, key, counterBlock, data);
}
