/**
 * Builds telegrams for tests, the simulator and the fuzz bench: link header, data link CRC
 * framing, wired long frames, the three encryption schemes (TPL mode 5, mode 7 with AFL, ELL
 * CTR) and messages split into AFL fragments.
 */
import { aesCbcEncrypt, aesCtr } from "./aes.ts";
import {
  FCL_MAC,
  FCL_MESSAGE_CONTROL,
  FCL_MESSAGE_COUNTER,
  FCL_MESSAGE_LENGTH,
  FCL_MORE_FRAGMENTS,
  MCL_MESSAGE_COUNTER,
  MCL_MESSAGE_LENGTH,
} from "./afl.ts";
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

/** The TPL configuration field has 4 bits for the number of encrypted blocks. */
const MAX_ENCRYPTED_BLOCKS = 15;

function encryptedBlocks(plain: Uint8Array): number {
  const blocks = plain.length / 16;
  if (blocks > MAX_ENCRYPTED_BLOCKS) {
    throw new RangeError(
      `${plain.length} bytes to encrypt: at most ${MAX_ENCRYPTED_BLOCKS} blocks (240 bytes) fit the configuration field`,
    );
  }
  return blocks;
}

/**
 * CI 0x7A short header with security mode 5: `records` (without 2F2F) are prefixed with the
 * 2F2F marker, padded and encrypted with IV = M, A, 8 × access number. `status` is the TPL
 * status byte; `clearTail` follows the encrypted blocks unencrypted.
 */
export function mode5Payload(
  key: Uint8Array,
  header: Uint8Array,
  accessNumber: number,
  records: Uint8Array,
  status = 0,
  clearTail: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const plain = padToBlocks(Uint8Array.of(0x2f, 0x2f, ...records));
  const blocks = encryptedBlocks(plain);
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
    ...clearTail,
  );
}

function counterBytes(messageCounter: number): Uint8Array {
  return Uint8Array.of(
    messageCounter & 0xff,
    (messageCounter >> 8) & 0xff,
    (messageCounter >> 16) & 0xff,
    (messageCounter >>> 24) & 0xff,
  );
}

/** The TPL of a mode 7 message (CI 0x7A … end) and the keys derived for it. */
function mode7Message(
  key: Uint8Array,
  header: Uint8Array,
  accessNumber: number,
  counter: Uint8Array,
  records: Uint8Array,
  status: number,
  clearTail: Uint8Array,
): { tpl: Uint8Array; macKey: Uint8Array } {
  const keys = deriveMode7Keys(key, counter, header.subarray(3, 7));
  const plain = padToBlocks(Uint8Array.of(0x2f, 0x2f, ...records));
  const configuration = (7 << 8) | (encryptedBlocks(plain) << 4);
  const encrypted = aesCbcEncrypt(keys.encryptionKey, new Uint8Array(16), plain);
  const tpl = Uint8Array.of(
    0x7a,
    accessNumber,
    status & 0xff,
    configuration & 0xff,
    configuration >> 8,
    0x10,
    ...encrypted,
    ...clearTail,
  );
  return { tpl, macKey: keys.macKey };
}

/**
 * AFL (MCL, counter, 8-byte CMAC) + CI 0x7A short header with security mode 7, KDF-A,
 * encrypted with the derived Kenc and IV 0; the MAC uses the derived Kmac. `status` is the
 * TPL status byte (covered by the MAC); `clearTail` follows the encrypted blocks unencrypted
 * (still covered by the MAC).
 */
export function mode7Payload(
  key: Uint8Array,
  header: Uint8Array,
  accessNumber: number,
  messageCounter: number,
  records: Uint8Array,
  status = 0,
  clearTail: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const counter = counterBytes(messageCounter);
  const { tpl, macKey } = mode7Message(
    key,
    header,
    accessNumber,
    counter,
    records,
    status,
    clearTail,
  );
  const messageControl = 0x25; // counter present, AT 5: CMAC with 8 bytes
  const macHeader = Uint8Array.of(messageControl, ...counter);
  const mac = computeAflMac(macKey, macHeader, tpl, 8);
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

/** Splits `total` bytes into `parts` sizes that differ by at most one (the longer ones first). */
export function splitSizes(total: number, parts: number): number[] {
  if (!Number.isSafeInteger(parts) || parts < 1) throw new RangeError("parts must be at least 1");
  const base = Math.floor(total / parts);
  const longer = total - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < longer ? 1 : 0));
}

/** Mode 7 authentication of a fragmented message: the first fragment's MCL, counter and MAC. */
export interface FragmentAuthentication {
  /** Kmac, derived from the meter key with the message counter. */
  macKey: Uint8Array;
  /** AFL message counter (4 bytes as transmitted). */
  counter: Uint8Array;
}

/**
 * Splits a message (from the TPL CI-field to its last byte) into AFL fragments, each payload
 * starting with the AFL CI-field 0x90 (EN 13757-7): fragment ids from 1, "more fragments" in
 * all but the last. The first fragment carries the message length AFL.ML (the whole message)
 * and, with `auth`, the message control (AT 5, counter and length in the message), counter
 * and the 8-byte MAC = CMAC(Kmac, MCL ‖ counter ‖ ML ‖ message); the others carry only their
 * fragmentation control field. `parts` is a number of fragments (split evenly) or the size
 * of each fragment's part (they must add up to the message).
 */
export function aflFragmentPayloads(
  message: Uint8Array,
  parts: number | readonly number[],
  auth?: FragmentAuthentication,
): Uint8Array[] {
  const sizes = typeof parts === "number" ? splitSizes(message.length, parts) : [...parts];
  if (sizes.length < 1 || sizes.length > 255)
    throw new RangeError("a message has 1 to 255 fragments");
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 0))
    throw new RangeError("fragment sizes must be non-negative integers");
  if (sizes.reduce((a, b) => a + b, 0) !== message.length)
    throw new RangeError(`fragment sizes do not add up to the message's ${message.length} bytes`);
  if (message.length > 0xffff) throw new RangeError("AFL.ML holds at most 65535 bytes");
  const length = Uint8Array.of(message.length & 0xff, message.length >> 8);
  const out: Uint8Array[] = [];
  let at = 0;
  sizes.forEach((size, i) => {
    const id = i + 1;
    const more = i < sizes.length - 1 ? FCL_MORE_FRAGMENTS : 0;
    const part = message.subarray(at, at + size);
    at += size;
    let fields: number[] = [];
    let fcl = more | id;
    if (i === 0) {
      fcl |= FCL_MESSAGE_LENGTH;
      if (auth) {
        fcl |= FCL_MESSAGE_CONTROL | FCL_MESSAGE_COUNTER | FCL_MAC;
        const mcl = MCL_MESSAGE_LENGTH | MCL_MESSAGE_COUNTER | 0x05; // AT 5: 8-byte CMAC
        const mac = computeAflMac(
          auth.macKey,
          Uint8Array.of(mcl, ...auth.counter, ...length),
          message,
          8,
        );
        fields = [mcl, ...auth.counter, ...mac];
      }
      fields.push(...length);
    }
    out.push(Uint8Array.of(0x90, 2 + fields.length, fcl & 0xff, fcl >> 8, ...fields, ...part));
  });
  return out;
}

export interface FragmentedMessageOptions {
  security: 5 | 7;
  key: Uint8Array;
  /** Link header (C, M, A), as linkHeader gives it. */
  header: Uint8Array;
  accessNumber: number;
  /** Mode 7: the AFL message counter. */
  messageCounter?: number;
  /** Data records, without the 2F2F marker; encrypted (at most 15 blocks with the marker). */
  records: Uint8Array;
  /** Bytes after the encrypted blocks, in clear (mode 7: covered by the MAC). */
  clearTail?: Uint8Array;
  /** TPL status byte. */
  status?: number;
  /** Number of fragments, or the size of each fragment's part of the message. */
  fragments: number | readonly number[];
  /** Data link framing: format A or B with block CRCs, or none (CRC-free). Default A. */
  format?: "A" | "B" | "none";
}

/**
 * A mode 5 or mode 7 message (CI 0x7A short header, as mode5Payload / mode7Payload build it)
 * split into AFL fragments, one telegram each with the same link header.
 */
export function fragmentedTelegrams(o: FragmentedMessageOptions): Uint8Array[] {
  const status = o.status ?? 0;
  const tail = o.clearTail ?? new Uint8Array(0);
  let payloads: Uint8Array[];
  if (o.security === 5) {
    const tpl = mode5Payload(o.key, o.header, o.accessNumber, o.records, status, tail);
    payloads = aflFragmentPayloads(tpl, o.fragments);
  } else {
    const counter = counterBytes(o.messageCounter ?? 0);
    const { tpl, macKey } = mode7Message(
      o.key,
      o.header,
      o.accessNumber,
      counter,
      o.records,
      status,
      tail,
    );
    payloads = aflFragmentPayloads(tpl, o.fragments, { macKey, counter });
  }
  return payloads.map((payload) => {
    const frame = wirelessFrame(o.header, payload);
    if (o.format === "none") return frame;
    return o.format === "B" ? toFormatB(frame) : toFormatA(frame);
  });
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
