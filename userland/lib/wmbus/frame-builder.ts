/**
 * Builds telegrams for tests and the fuzz bench: link header, data link CRC framing,
 * wired long frames, and the three encryption schemes (TPL mode 5, mode 7 with AFL, ELL CTR).
 */
import { aesCbcEncrypt, aesCtr } from "./aes.ts";
import { crc16En13757 } from "./crc.ts";
import { hexToBytes } from "./hex.ts";
import { manufacturerField } from "./manufacturer.ts";
import { computeAflMac, deriveMode7Keys } from "./security.ts";

export interface LinkOptions {
  c?: number;
  manufacturer?: string;
  /** 8 digits, printed form (most significant first). */
  id?: string;
  version?: number;
  deviceType?: number;
}

/** C, M, A (9 bytes). */
export function linkHeader(options: LinkOptions = {}): Uint8Array {
  const m = manufacturerField(options.manufacturer ?? "ABC");
  const id = hexToBytes(options.id ?? "12345678").reverse();
  return Uint8Array.of(
    options.c ?? 0x44,
    m & 0xff,
    m >> 8,
    ...id,
    options.version ?? 1,
    options.deviceType ?? 7,
  );
}

/** L-field + header + payload (the payload starts with the CI-field); no CRCs. */
export function wirelessFrame(header: Uint8Array, payload: Uint8Array): Uint8Array {
  const length = header.length + payload.length;
  if (length > 255) throw new RangeError(`frame too long for the L-field: ${length}`);
  return Uint8Array.of(length, ...header, ...payload);
}

function pushCrc(out: number[], block: Uint8Array): void {
  const crc = crc16En13757(block);
  out.push(...block, crc >> 8, crc & 0xff);
}

/** Adds format A block CRCs to a CRC-free wireless frame. */
export function toFormatA(frame: Uint8Array): Uint8Array {
  const out: number[] = [];
  pushCrc(out, frame.subarray(0, 10));
  for (let pos = 10; pos < frame.length; pos += 16) pushCrc(out, frame.subarray(pos, pos + 16));
  return Uint8Array.from(out);
}

/** Re-frames a CRC-free wireless frame as format B (L then counts the CRCs). */
export function toFormatB(frame: Uint8Array): Uint8Array {
  const body = frame.subarray(1);
  const twoBlocks = frame.length + 2 > 128;
  const length = body.length + (twoBlocks ? 4 : 2);
  if (length > 255) throw new RangeError(`frame too long for format B: ${length}`);
  const withL = Uint8Array.of(length, ...body);
  const out: number[] = [];
  if (!twoBlocks) {
    pushCrc(out, withL);
  } else {
    pushCrc(out, withL.subarray(0, 126));
    pushCrc(out, withL.subarray(126));
  }
  return Uint8Array.from(out);
}

/** Wired M-Bus long frame 68 L L 68 C A CI data CS 16. */
export function wiredLongFrame(c: number, address: number, ciAndData: Uint8Array): Uint8Array {
  const body = Uint8Array.of(c, address, ...ciAndData);
  let sum = 0;
  for (const b of body) sum = (sum + b) & 0xff;
  return Uint8Array.of(0x68, body.length, body.length, 0x68, ...body, sum, 0x16);
}

/** Pads with 2F idle fillers to whole AES blocks. */
export function padToBlocks(plain: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(plain.length / 16) * 16).fill(0x2f);
  padded.set(plain, 0);
  return padded;
}

/**
 * CI 0x7A short header with security mode 5: `records` (without 2F2F) are prefixed with the
 * 2F2F marker, padded and encrypted with IV = M, A, 8 × access number. `status` is the TPL
 * status byte.
 */
export function mode5Payload(
  key: Uint8Array,
  header: Uint8Array,
  accessNumber: number,
  records: Uint8Array,
  status = 0,
): Uint8Array {
  const plain = padToBlocks(Uint8Array.of(0x2f, 0x2f, ...records));
  const blocks = plain.length / 16;
  const configuration = (5 << 8) | (blocks << 4);
  const iv = new Uint8Array(16);
  iv.set(header.subarray(1, 9), 0);
  iv.fill(accessNumber, 8);
  const encrypted = aesCbcEncrypt(key, iv, plain);
  return Uint8Array.of(
    0x7a,
    accessNumber,
    status & 0xff,
    configuration & 0xff,
    configuration >> 8,
    ...encrypted,
  );
}

/**
 * AFL (MCL, counter, 8-byte CMAC) + CI 0x7A short header with security mode 7, KDF-A,
 * encrypted with the derived Kenc and IV 0; the MAC uses the derived Kmac. `status` is the
 * TPL status byte (covered by the MAC).
 */
export function mode7Payload(
  key: Uint8Array,
  header: Uint8Array,
  accessNumber: number,
  messageCounter: number,
  records: Uint8Array,
  status = 0,
): Uint8Array {
  const counter = Uint8Array.of(
    messageCounter & 0xff,
    (messageCounter >> 8) & 0xff,
    (messageCounter >> 16) & 0xff,
    (messageCounter >>> 24) & 0xff,
  );
  const keys = deriveMode7Keys(key, counter, header.subarray(3, 7));
  const plain = padToBlocks(Uint8Array.of(0x2f, 0x2f, ...records));
  const configuration = (7 << 8) | ((plain.length / 16) << 4);
  const encrypted = aesCbcEncrypt(keys.encryptionKey, new Uint8Array(16), plain);
  const tpl = Uint8Array.of(
    0x7a,
    accessNumber,
    status & 0xff,
    configuration & 0xff,
    configuration >> 8,
    0x10,
    ...encrypted,
  );
  const messageControl = 0x25; // counter present, AT 5: CMAC with 8 bytes
  const macHeader = Uint8Array.of(messageControl, ...counter);
  const mac = computeAflMac(keys.macKey, macHeader, tpl, 8);
  const fragmentControl = 0x2c00; // MCL, counter and MAC present, single fragment
  return Uint8Array.of(
    0x90,
    0x0f,
    fragmentControl & 0xff,
    fragmentControl >> 8,
    ...macHeader,
    ...mac,
    ...tpl,
  );
}

/**
 * CI 0x8D extended link layer with AES-CTR: `inner` (starting with the next CI-field) is
 * protected by its payload CRC and encrypted together with it.
 */
export function ellCtrPayload(
  key: Uint8Array,
  header: Uint8Array,
  communicationControl: number,
  accessNumber: number,
  sessionNumber: number,
  inner: Uint8Array,
): Uint8Array {
  const sn = (sessionNumber & 0x1fffffff) + 0x20000000; // ENC = 1: AES-CTR
  const snBytes = Uint8Array.of(sn & 0xff, (sn >> 8) & 0xff, (sn >> 16) & 0xff, (sn >>> 24) & 0xff);
  const crc = crc16En13757(inner);
  const clear = Uint8Array.of(crc & 0xff, crc >> 8, ...inner);
  const counterBlock = new Uint8Array(16);
  counterBlock.set(header.subarray(1, 9), 0);
  counterBlock[8] = communicationControl & ~0x12;
  counterBlock.set(snBytes, 9);
  return Uint8Array.of(
    0x8d,
    communicationControl,
    accessNumber,
    ...snBytes,
    ...aesCtr(key, counterBlock, clear),
  );
}
