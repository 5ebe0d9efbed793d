import { aesCtr } from "./aes.ts";
import { crc16En13757 } from "./crc.ts";
import { WmbusError } from "./errors.ts";
import { parseAddress } from "./link.ts";
import { manufacturerCode } from "./manufacturer.ts";
import type { ByteReader } from "./reader.ts";
import type { EllEncryption, ExtendedLinkLayer, TelegramHeaders } from "./types.ts";

export const ELL_CIS = new Set([0x8c, 0x8d, 0x8e, 0x8f]);

/** CC-field bits that a repeater may change; EN 13757-4 leaves them out of the counter block. */
const CC_HOP = 0x10;
const CC_REPEATED_ACCESS = 0x02;

export interface EllResult {
  ell: ExtendedLinkLayer;
  /** Everything after the ELL, starting at the next CI-field, in clear. */
  rest: Uint8Array;
  /** Offset of `rest` in the CRC-free frame (as in error messages). */
  restOffset: number;
  warnings: string[];
}

/**
 * Extended link layer, CI 0x8C (CC, ACC), 0x8D (+ SN, payload CRC), 0x8E (+ M, A),
 * 0x8F (+ M, A, SN, payload CRC). `linkMA` is the 8-byte M- and A-field of the link layer,
 * used in the AES-CTR counter block unless the ELL carries its own address. Sets `headers.ell`.
 */
export function parseEll(
  ci: number,
  reader: ByteReader,
  linkMA: Uint8Array,
  key: Uint8Array | undefined,
  headers: TelegramHeaders,
): EllResult {
  const ell: ExtendedLinkLayer = {
    ci,
    communicationControl: reader.u8("ELL CC-field"),
    accessNumber: reader.u8("ELL access number"),
  };
  // Visible to the caller at once, so that a refusal still reports the ELL.
  headers.ell = ell;
  let addressMA = linkMA;
  if (ci === 0x8e || ci === 0x8f) {
    const ma = reader.take(8, "ELL M- and A-field");
    addressMA = ma;
    ell.manufacturer = manufacturerCode((ma[0] as number) | ((ma[1] as number) << 8));
    const address = parseAddress(ma.subarray(2));
    ell.id = address.id;
    ell.version = address.version;
    ell.deviceType = address.deviceType;
  }
  const warnings: string[] = [];
  if (ci === 0x8c || ci === 0x8e) {
    const restOffset = reader.offset;
    return { ell, rest: reader.rest(), restOffset, warnings };
  }

  const snBytes = reader.take(4, "ELL session number");
  const sessionNumber = readU32(snBytes);
  ell.sessionNumber = sessionNumber;
  ell.sessionTime = Math.floor(sessionNumber / 16) & 0x1ffffff;
  const encCode = Math.floor(sessionNumber / 0x20000000);
  ell.encryption = encryptionName(encCode);
  const crcOffset = reader.offset;
  const protectedPart = reader.rest(); // payload CRC (2) + payload
  if (protectedPart.length < 2) {
    throw new WmbusError("truncated", "ELL payload CRC needs 2 bytes", { offset: crcOffset });
  }
  const restOffset = crcOffset + 2;
  const transmittedCrc = readU16(protectedPart);

  if (encCode === 0) {
    ell.payloadCrc = transmittedCrc;
    checkPayloadCrc(protectedPart, "ELL payload CRC mismatch", crcOffset);
    ell.payload = "plaintext";
    return { ell, rest: protectedPart.subarray(2), restOffset, warnings };
  }
  if (encCode !== 1) {
    throw new WmbusError("unsupported", `ELL encryption code ${encCode} is reserved`, {
      offset: crcOffset - 4,
    });
  }
  // Stored telegrams are often already decrypted; the payload CRC tells.
  if (crc16En13757(protectedPart, 2) === transmittedCrc) {
    ell.payloadCrc = transmittedCrc;
    ell.payload = "already-decrypted";
    warnings.push("ELL payload flagged AES-CTR but already in clear (payload CRC matches)");
    return { ell, rest: protectedPart.subarray(2), restOffset, warnings };
  }
  if (!key) {
    throw new WmbusError("no-key", "encrypted, no key: ELL AES-128-CTR payload", {
      offset: crcOffset,
    });
  }
  const counterBlock = new Uint8Array(16);
  counterBlock.set(addressMA, 0);
  counterBlock[8] = ell.communicationControl & ~CC_HOP & ~CC_REPEATED_ACCESS;
  counterBlock.set(snBytes, 9);
  // Bytes 13-14: frame number 0; byte 15: block counter, starts at 0.
  const clear = aesCtr(key, counterBlock, protectedPart);
  ell.payloadCrc = readU16(clear);
  checkPayloadCrc(
    clear,
    "ELL payload CRC mismatch after AES-CTR decryption (wrong key?)",
    crcOffset,
    "decryption",
  );
  ell.payload = "decrypted";
  return { ell, rest: clear.subarray(2), restOffset, warnings };
}

function checkPayloadCrc(
  part: Uint8Array,
  message: string,
  offset: number,
  kind: "crc" | "decryption" = "crc",
): void {
  const computed = crc16En13757(part, 2);
  const found = readU16(part);
  if (computed !== found) {
    throw new WmbusError(kind, `${message}: computed ${hex4(computed)}, field ${hex4(found)}`, {
      offset,
    });
  }
}

function encryptionName(code: number): EllEncryption {
  if (code === 0) return "none";
  if (code === 1) return "aes-128-ctr";
  return `reserved-${code}`;
}

function readU16(bytes: Uint8Array): number {
  return (bytes[0] as number) | ((bytes[1] as number) << 8);
}

function readU32(bytes: Uint8Array): number {
  return (
    (bytes[0] as number) +
    (bytes[1] as number) * 0x100 +
    (bytes[2] as number) * 0x10000 +
    (bytes[3] as number) * 0x1000000
  );
}

function hex4(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, "0");
}
