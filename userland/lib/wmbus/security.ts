import { aesCbcDecrypt } from "./aes.ts";
import type { AflResult } from "./afl.ts";
import { aesCmac } from "./cmac.ts";
import { WmbusError } from "./errors.ts";
import type { TransportLayer } from "./types.ts";

const DECRYPTION_MARKER = 0x2f;

/** Security modes of the TPL configuration field (EN 13757-7 / OMS vol. 2). */
export function securityModeName(mode: number): string {
  const names = new Map<number, string>([
    [0, "no encryption"],
    [2, "DES, no IV (deprecated)"],
    [3, "DES with IV (deprecated)"],
    [5, "AES-128-CBC with IV"],
    [7, "AES-128-CBC, IV 0, ephemeral keys (OMS)"],
    [8, "AES-128-CTR with CMAC"],
    [9, "AES-128-GCM"],
    [10, "AES-128-CCM"],
    [13, "TLS"],
  ]);
  return (
    names.get(mode) ??
    (mode >= 16 || mode === 4 || mode === 15 ? "manufacturer specific" : "reserved")
  );
}

export interface SecurityInput {
  transport: TransportLayer;
  /** Bytes after the TPL header (configuration field extension included in the header). */
  payload: Uint8Array;
  payloadOffset: number;
  /** M-field (2) and A-field (6) for the mode 5 IV: TPL long header if present, else link layer. */
  ivAddress: Uint8Array;
  /** Identification number (4 bytes, as transmitted) for the mode 7 KDF. */
  kdfId: Uint8Array;
  afl?: AflResult;
  /** From the TPL CI-field to the last byte: the tail of the AFL MAC input. */
  tplBytes: Uint8Array;
  key?: Uint8Array;
}

export interface SecurityResult {
  clear: Uint8Array;
  payload: TransportLayer["payload"];
  macVerified?: boolean;
  warnings: string[];
}

/** Ephemeral keys of security mode 7, KDF-A: CMAC(K, D || C || ID || 0x07 × 7). */
export function deriveMode7Keys(
  key: Uint8Array,
  messageCounter: Uint8Array,
  id: Uint8Array,
): { encryptionKey: Uint8Array; macKey: Uint8Array } {
  const input = (constant: number) => {
    const block = new Uint8Array(16).fill(0x07);
    block[0] = constant;
    block.set(messageCounter.subarray(0, 4), 1);
    block.set(id.subarray(0, 4), 5);
    return block;
  };
  // D = 0x00: encryption, 0x01: MAC, both for messages from the meter.
  return { encryptionKey: aesCmac(key, input(0x00)), macKey: aesCmac(key, input(0x01)) };
}

/** AFL.MAC = CMAC(Kmac, AFL.MCL || AFL.MCR || {AFL.ML} || TPL CI … last byte), truncated. */
export function computeAflMac(
  macKey: Uint8Array,
  macHeader: Uint8Array,
  tplBytes: Uint8Array,
  length: number,
): Uint8Array {
  const input = new Uint8Array(macHeader.length + tplBytes.length);
  input.set(macHeader, 0);
  input.set(tplBytes, macHeader.length);
  return aesCmac(macKey, input).subarray(0, length);
}

function startsWithMarker(bytes: Uint8Array): boolean {
  return bytes[0] === DECRYPTION_MARKER && bytes[1] === DECRYPTION_MARKER;
}

/**
 * Removes TPL encryption. Rules:
 * - mode 0: nothing to do.
 * - mode 5 / 7 with a key: decrypt the N encrypted blocks; the result must start with 2F2F.
 * - a payload that already starts with 2F2F is accepted as decrypted (stored telegrams);
 *   with a key this is only the fallback when decryption does not give 2F2F.
 * - otherwise without a key: "encrypted, no key"; other modes: unsupported.
 */
export function removeTransportSecurity(input: SecurityInput): SecurityResult {
  const { transport, payload, key } = input;
  const mode = transport.securityMode;
  if (mode === 0) return { clear: payload, payload: "plaintext", warnings: [] };
  const encryptedLength = (transport.encryptedBlocks ?? 0) * 16;
  const alreadyClear = startsWithMarker(payload);
  const asAlreadyDecrypted = (why: string): SecurityResult => ({
    clear: payload,
    payload: "already-decrypted",
    warnings: [
      `security mode ${mode} flagged but payload already in clear (starts with 2F2F)${why}`,
    ],
  });
  if (mode !== 5 && mode !== 7) {
    if (alreadyClear) return asAlreadyDecrypted("");
    if (!key) throw noKey(mode, payload.length, input.payloadOffset);
    throw new WmbusError(
      "unsupported",
      `security mode ${mode} (${securityModeName(mode)}) is not supported`,
      {
        offset: input.payloadOffset,
      },
    );
  }
  if (encryptedLength === 0) return { clear: payload, payload: "plaintext", warnings: [] };
  if (!key && alreadyClear) return asAlreadyDecrypted("");
  if (encryptedLength > payload.length) {
    if (alreadyClear) return asAlreadyDecrypted("; fewer bytes than the encrypted block count");
    throw new WmbusError(
      "truncated",
      `security mode ${mode} announces ${encryptedLength / 16} encrypted block(s) (${encryptedLength} bytes), ` +
        `only ${payload.length} byte(s) follow`,
      { offset: input.payloadOffset },
    );
  }
  if (!key) throw noKey(mode, encryptedLength, input.payloadOffset);
  const encrypted = payload.subarray(0, encryptedLength);
  let decrypted: Uint8Array;
  let macVerified: boolean | undefined;
  if (mode === 5) {
    const iv = new Uint8Array(16);
    iv.set(input.ivAddress.subarray(0, 8), 0);
    iv.fill(transport.accessNumber ?? 0, 8);
    decrypted = aesCbcDecrypt(key, iv, encrypted);
  } else {
    const keys = mode7Keys(input, key);
    const macBytes = input.afl?.macBytes;
    if (input.afl && macBytes) {
      const mac = computeAflMac(keys.macKey, input.afl.macHeader, input.tplBytes, macBytes.length);
      macVerified = mac.every((b, i) => b === macBytes[i]);
      if (!macVerified) {
        if (alreadyClear) return asAlreadyDecrypted("; AFL MAC not checked");
        throw new WmbusError("authentication", "AFL MAC mismatch (wrong key or altered telegram)", {
          offset: input.payloadOffset,
        });
      }
    }
    decrypted = aesCbcDecrypt(keys.encryptionKey, new Uint8Array(16), encrypted);
  }
  if (!startsWithMarker(decrypted)) {
    if (alreadyClear)
      return asAlreadyDecrypted("; decryption with the key given did not give 2F2F");
    throw new WmbusError("decryption", "decrypted payload does not start with 2F2F (wrong key?)", {
      offset: input.payloadOffset,
    });
  }
  const clear = new Uint8Array(payload.length);
  clear.set(decrypted, 0);
  clear.set(payload.subarray(encryptedLength), encryptedLength);
  const result: SecurityResult = { clear, payload: "decrypted", warnings: [] };
  if (macVerified !== undefined) result.macVerified = macVerified;
  return result;
}

function mode7Keys(
  input: SecurityInput,
  key: Uint8Array,
): { encryptionKey: Uint8Array; macKey: Uint8Array } {
  const extension = input.transport.configurationExtension ?? 0;
  const kdfSelection = (extension >> 4) & 0x03;
  if (kdfSelection !== 1) {
    throw new WmbusError(
      "unsupported",
      `security mode 7 with KDF selection ${kdfSelection} (only KDF-A = 1)`,
      {
        offset: input.payloadOffset,
      },
    );
  }
  const counter = input.afl?.counterBytes;
  if (!counter) {
    throw new WmbusError(
      "frame",
      "security mode 7 needs the AFL message counter for its key derivation",
      {
        offset: input.payloadOffset,
      },
    );
  }
  return deriveMode7Keys(key, counter, input.kdfId);
}

function noKey(mode: number, length: number, offset: number): WmbusError {
  return new WmbusError(
    "no-key",
    `encrypted, no key: TPL security mode ${mode} (${securityModeName(mode)}), ${length} encrypted byte(s)`,
    { offset },
  );
}
