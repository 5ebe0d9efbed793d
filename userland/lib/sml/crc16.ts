/**
 * CRC-16 as SML uses it (the CCITT polynomial 0x1021 bit-reflected, init 0xFFFF, xorout 0xFFFF;
 * known as CRC-16/X-25, the HDLC frame check sequence). check("123456789") = 0x906E.
 *
 * On the wire SML sends this value low byte first, like the HDLC FCS: in the transport end
 * sequence (1A xx yy zz: yy = low byte) and in SML_Message.crc16, whose Unsigned16 value read
 * big-endian is therefore the byte-swapped CRC (see messageCrcField).
 */

const TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x8408 : c >>> 1;
    table[n] = c;
  }
  return table;
}

/** CRC-16/X-25 over bytes[start, end). */
export function crc16X25(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  const t = TABLE;
  for (let i = start; i < end; i++) {
    crc = (crc >>> 8) ^ (t[(crc ^ (bytes[i] as number)) & 0xff] as number);
  }
  return crc ^ 0xffff;
}

/** Swaps the two bytes of a 16-bit value. */
export function swap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

/** The value of the SML_Message crc16 field (an Unsigned16) for the given CRC-16/X-25. */
export function messageCrcField(crc: number): number {
  return swap16(crc);
}
