/** Helpers shared by the tests of this package (not part of the public API). */

import { crc16X25 } from "./crc16.ts";
import { buildMeterReadingFile, type MeterReadingFileInput } from "./meter-file.ts";
import { fromHex, toHex } from "./obis.ts";
import { decodeTransportFrame, encodeTransportFrame } from "./transport.ts";
import type { SmlValue } from "./types.ts";

/** Hex with spaces and comments (# to end of line) to bytes. */
export function hex(text: string): Uint8Array {
  return fromHex(text.replace(/#[^\n]*/g, ""));
}

/**
 * A hand-written SML_Message: list of 6, the given transaction ID, groupNo 0, abortOnError 0,
 * the given body (choice list included), then the crc16 computed here and endOfSmlMsg.
 */
export function handMessage(transactionIdHex: string, bodyHex: string): Uint8Array {
  const head = hex(`76 ${transactionIdHex} 6200 6200 ${bodyHex}`);
  const crc = crc16X25(head);
  const out = new Uint8Array(head.length + 4);
  out.set(head);
  out.set([0x63, crc & 0xff, crc >>> 8, 0x00], head.length);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A transport frame around hand-written messages. */
export function handFrame(...messages: Uint8Array[]): Uint8Array {
  return encodeTransportFrame(concat(...messages));
}

/** Server ID of the sample frames: 0A 01, manufacturer "XYZ", serial 1234567. */
export const SAMPLE_SERVER_ID = "0a0158595a000012d687";

/**
 * A whole frame written out byte by byte from SML 1.04, both CRC kinds included (computed
 * separately, low byte first): OpenResponse, GetListResponse with 5 entries, CloseResponse.
 * Body tags are Unsigned16; the payload is a multiple of 4, so there are no fill bytes.
 */
export const WRITTEN_FRAME = hex(`
  1b1b1b1b 01010101                        # start sequence
  76 05 1a2b3c01 6200 6200                 # SML_Message: transactionId, groupNo, abortOnError
    72 630101                              # OpenResponse
      76 01 01 05 1a2b3c00                 # codepage, clientId, reqFileId
         0b 0a0158595a000012d687           # serverId
         72 6201 650001e240                # refTime: secIndex 123456
         6201                              # smlVersion
    63 0a38 00                             # crc16, endOfSmlMsg
  76 05 1a2b3c02 6200 6200
    72 630701                              # GetListResponse
      77 01 0b 0a0158595a000012d687 07 0100620affff
         72 6201 650001e241                # actSensorTime: secIndex 123457
         75                                # valList
           77 078181c78203ff 01 01 01 01 04 58595a 01                 # manufacturer "XYZ"
           77 070100000009ff 01 01 01 01 0b 0a0158595a000012d687 01   # device ID
           77 070100010800ff 641c0104 72 6201 650001e241 621e 52ff 650012d687 01
           77 070100020800ff 01 01 621e 5200 64000fa0 01
           77 070100100700ff 01 01 621b 5200 53ff38 01
         01 01                             # listSignature, actGatewayTime
    63 cc84 00
  76 05 1a2b3c03 6200 6200
    72 630201 71 01                        # CloseResponse
    63 0585 00
  1b1b1b1b 1a 00 1feb                      # end: no fill bytes, CRC EB1F low byte first
`);

/** Server ID of the hand-built frame with tolerated deviations: serial 12345678. */
export const TOLERANT_SERVER_ID = "0a0158595a0000bc614e";

/** 48 bytes standing in for a public key; needs the two-byte TL 83 02. */
export const SAMPLE_PUBLIC_KEY = Uint8Array.from({ length: 48 }, (_, i) => 0xa0 + i);

/**
 * Payload of deviations the decoder accepts: body tags as Unsigned32, a bare Unsigned32 as
 * actSensorTime, an Unsigned64 counter, a 5-byte Integer, a 48-byte octet string value, and
 * two 00 bytes after the last message.
 */
export const TOLERANT_PAYLOAD = concat(
  handMessage("04 7a0001", `72 6500000101 76 01 01 04 7a0000 0b ${TOLERANT_SERVER_ID} 01 01`),
  handMessage(
    "04 7a0002",
    `72 6500000701 77 01 0b ${TOLERANT_SERVER_ID} 07 0100620affff 650001e242
      75
        77 070100010800ff 01 01 621e 52fc 6900000000075bcd15 01
        77 070100020800ff 01 01 621e 52ff 5600075bcd15 01
        77 070100010700ff 01 01 621b 52fe 5500003039 01
        77 070100600505ff 01 01 01 01 630042 01
        77 078181c78205ff 01 01 01 01 8302 ${toHex(SAMPLE_PUBLIC_KEY)} 01
      01 01`,
  ),
  handMessage("04 7a0003", "72 6500000201 71 01"),
  hex("0000"),
);

export const TOLERANT_FRAME = encodeTransportFrame(TOLERANT_PAYLOAD);

/** Integers of every wire size, signed and unsigned, with the sign bit set. */
export const WIDTH_VALUES: SmlValue[] = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((size) => {
  const bits = BigInt(8 * size);
  return [
    { type: "uint" as const, value: (1n << bits) - 1n - BigInt(size), size },
    { type: "int" as const, value: -(1n << (bits - 1n)) + BigInt(size), size },
  ];
});

/** TL byte and big-endian two's complement bytes, as SML 1.04 writes numbers. */
function numberHex(v: SmlValue): string {
  if (v.type !== "int" && v.type !== "uint") throw new TypeError("not a number value");
  const tl = (v.type === "int" ? 0x50 : 0x60) | (v.size + 1);
  const bytes = BigInt.asUintN(8 * v.size, v.value)
    .toString(16)
    .padStart(2 * v.size, "0");
  return `${tl.toString(16)}${bytes}`;
}

/** TL of a list of n elements (n < 256). */
function listTl(n: number): string {
  return n < 16 ? `7${n.toString(16)}` : `f${(n >>> 4).toString(16)}0${(n & 15).toString(16)}`;
}

/** GetListResponse body with one entry (OBIS 1-0:96.50.i*255) per value of WIDTH_VALUES. */
export const WIDTH_BODY = `72 630701 77 01 0b ${SAMPLE_SERVER_ID} 01 01 ${listTl(WIDTH_VALUES.length)}
  ${WIDTH_VALUES.map((v, i) => `77 07010060320${i.toString(16)}ff 01 01 01 01 ${numberHex(v)} 01`).join("\n")}
  01 01`;

export const WIDTH_PAYLOAD = handMessage("02 01", WIDTH_BODY);

/** Input of the encoder-built sample frame. */
export const ENCODED_INPUT = {
  serverId: "0a0158595a00000f4240",
  transactionId: 0x2000,
  time: 1_000_000,
  listName: "1-0:98.10.255*255",
  entries: [
    { obis: "129-129:199.130.3*255", value: "XYZ" },
    { obis: "1-0:1.8.0*255", unit: 30, scaler: -1, value: 98_765_432n, status: 0x1c0104 },
    { obis: "1-0:2.8.0*255", unit: 30, scaler: 0, value: 70_000 },
    { obis: "1-0:16.7.0*255", unit: 27, scaler: 0, value: 1500, signed: true },
  ],
} satisfies MeterReadingFileInput;

export const ENCODED_FRAME = buildMeterReadingFile(ENCODED_INPUT);

/**
 * The encoder-built frame with its server ID overwritten by zeros after the message CRCs were
 * computed: the frame CRC is recomputed, the message CRCs are stale.
 */
export const STALE_CRC_FRAME = (() => {
  const payload = decodeTransportFrame(ENCODED_FRAME).payload.slice();
  const id = fromHex(ENCODED_INPUT.serverId);
  let replaced = 0;
  for (let i = 0; i + id.length <= payload.length; i++) {
    if (id.every((b, k) => payload[i + k] === b)) {
      payload.fill(0, i, i + id.length);
      replaced++;
    }
  }
  if (replaced === 0) throw new Error("server ID not found in the sample payload");
  return encodeTransportFrame(payload);
})();

/** The valid sample frames, all made here. */
export const SAMPLE_FRAMES = [WRITTEN_FRAME, TOLERANT_FRAME, ENCODED_FRAME];

/** Sample payloads without transport framing. */
export const SAMPLE_PAYLOADS = [
  decodeTransportFrame(WRITTEN_FRAME).payload,
  TOLERANT_PAYLOAD,
  WIDTH_PAYLOAD,
  decodeTransportFrame(ENCODED_FRAME).payload,
];

/** XORs one byte in place; throws if the index is outside the array. */
export function xorByte(bytes: Uint8Array, index: number, mask: number): void {
  const i = index < 0 ? bytes.length + index : index;
  const v = bytes[i];
  if (v === undefined) throw new RangeError(`byte ${index} is outside ${bytes.length} bytes`);
  bytes[i] = v ^ mask;
}

export { toHex };

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
