import { WmbusError } from "./errors.ts";
import { toHex } from "./hex.ts";
import { ByteReader } from "./reader.ts";
import type { AuthenticationLayer } from "./types.ts";

// Fragmentation control field bits (EN 13757-7).
const FCL_MORE_FRAGMENTS = 0x4000;
const FCL_MESSAGE_CONTROL = 0x2000;
const FCL_MESSAGE_LENGTH = 0x1000;
const FCL_MESSAGE_COUNTER = 0x0800;
const FCL_MAC = 0x0400;
const FCL_KEY_INFORMATION = 0x0200;

/** MAC length by authentication type (AT, low nibble of the message control field). */
const MAC_LENGTHS = new Map<number, number>([
  [3, 2],
  [4, 4],
  [5, 8],
  [6, 12],
  [7, 16],
  [8, 12],
]);

export interface AflResult {
  afl: AuthenticationLayer;
  /** AFL.MCL || AFL.MCR || {AFL.ML}: the first part of the MAC input. */
  macHeader: Uint8Array;
  /** Message counter as transmitted (4 bytes), for the mode 7 KDF. */
  counterBytes?: Uint8Array;
  macBytes?: Uint8Array;
}

/** Authentication and fragmentation layer, CI 0x90. The reader stands after the CI-field. */
export function parseAfl(reader: ByteReader): AflResult {
  const start = reader.offset;
  const length = reader.u8("AFL length");
  const body = new ByteReader(reader.take(length, "AFL"), 0, reader.offset - length);
  const fragmentControl = body.u16le("AFL fragmentation control");
  const afl: AuthenticationLayer = {
    ci: 0x90,
    length,
    fragmentControl,
    fragmentId: fragmentControl & 0xff,
    moreFragments: (fragmentControl & FCL_MORE_FRAGMENTS) !== 0,
  };
  const macHeader: number[] = [];
  const result: AflResult = { afl, macHeader: new Uint8Array(0) };
  if (fragmentControl & FCL_MESSAGE_CONTROL) {
    const mcl = body.u8("AFL message control");
    afl.messageControl = mcl;
    afl.authenticationType = mcl & 0x0f;
    macHeader.push(mcl);
  }
  if (fragmentControl & FCL_KEY_INFORMATION) {
    afl.keyInformation = body.u16le("AFL key information");
  }
  if (fragmentControl & FCL_MESSAGE_COUNTER) {
    const counter = body.take(4, "AFL message counter");
    result.counterBytes = counter;
    afl.messageCounter =
      (counter[0] as number) +
      (counter[1] as number) * 0x100 +
      (counter[2] as number) * 0x10000 +
      (counter[3] as number) * 0x1000000;
    macHeader.push(...counter);
  }
  if (fragmentControl & FCL_MESSAGE_LENGTH) {
    const ml = body.take(2, "AFL message length");
    afl.messageLength = (ml[0] as number) | ((ml[1] as number) << 8);
    macHeader.push(...ml);
  }
  if (fragmentControl & FCL_MAC) {
    const at = afl.authenticationType ?? 0;
    const macLength = MAC_LENGTHS.get(at);
    if (macLength === undefined) {
      throw new WmbusError("unsupported", `AFL authentication type ${at} has no defined MAC`, {
        offset: start,
      });
    }
    const mac = body.take(macLength, "AFL MAC");
    result.macBytes = mac;
    afl.mac = toHex(mac);
  }
  if (!body.atEnd()) {
    throw new WmbusError(
      "record",
      `AFL length ${length} leaves ${body.remaining} byte(s) unparsed`,
      {
        offset: body.offset,
      },
    );
  }
  result.macHeader = Uint8Array.from(macHeader);
  return result;
}

/** Reassembly of fragmented messages is not implemented: only single fragments pass. */
export function requireSingleFragment(afl: AuthenticationLayer, offset: number): void {
  if (afl.moreFragments || afl.fragmentId !== 0) {
    const more = afl.moreFragments ? ", more fragments follow" : "";
    throw new WmbusError(
      "unsupported",
      `fragmented message (AFL fragment id ${afl.fragmentId}${more}): reassembly is not supported`,
      { offset },
    );
  }
}
