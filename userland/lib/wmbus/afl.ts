import { WmbusError } from "./errors.ts";
import { toHex } from "./hex.ts";
import { ByteReader } from "./reader.ts";
import type { AuthenticationLayer } from "./types.ts";

// Fragmentation control field (AFL.FCL) bits, EN 13757-7: bit 15 reserved, 14 more fragments,
// 13-9 "field present in this fragment" (MCL, ML, MCR, MAC, KI), 8 reserved, 7-0 fragment id.
export const FCL_MORE_FRAGMENTS = 0x4000;
export const FCL_MESSAGE_CONTROL = 0x2000;
export const FCL_MESSAGE_LENGTH = 0x1000;
export const FCL_MESSAGE_COUNTER = 0x0800;
export const FCL_MAC = 0x0400;
export const FCL_KEY_INFORMATION = 0x0200;
/** The optional fields; only the first fragment of a fragmented message may carry them. */
export const FCL_FIELDS =
  FCL_MESSAGE_CONTROL | FCL_MESSAGE_LENGTH | FCL_MESSAGE_COUNTER | FCL_MAC | FCL_KEY_INFORMATION;
export const FCL_FRAGMENT_ID = 0x00ff;

// Message control field (AFL.MCL) bits: 6 message length, 5 counter, 4 key information in the
// message; 3-0 the authentication type (AT).
export const MCL_MESSAGE_LENGTH = 0x40;
export const MCL_MESSAGE_COUNTER = 0x20;
export const MCL_KEY_INFORMATION = 0x10;

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

/**
 * Authentication and fragmentation layer, CI 0x90. The reader stands after the CI-field.
 * Field order (EN 13757-7:2018): FCL, {MCL}, {KI}, {MCR}, {MAC}, {ML}; the FCL says which of
 * the optional fields this fragment carries.
 */
export function parseAfl(reader: ByteReader): AflResult {
  const start = reader.offset;
  const length = reader.u8("AFL length");
  const body = new ByteReader(reader.take(length, "AFL"), 0, reader.offset - length);
  const fragmentControl = body.u16le("AFL fragmentation control");
  const afl: AuthenticationLayer = {
    ci: 0x90,
    length,
    fragmentControl,
    fragmentId: fragmentControl & FCL_FRAGMENT_ID,
    moreFragments: (fragmentControl & FCL_MORE_FRAGMENTS) !== 0,
  };
  const result: AflResult = { afl, macHeader: new Uint8Array(0) };
  let mcl: number | undefined;
  let lengthBytes: Uint8Array | undefined;
  if (fragmentControl & FCL_MESSAGE_CONTROL) {
    mcl = body.u8("AFL message control");
    afl.messageControl = mcl;
    afl.authenticationType = mcl & 0x0f;
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
  if (fragmentControl & FCL_MESSAGE_LENGTH) {
    lengthBytes = body.take(2, "AFL message length");
    afl.messageLength = (lengthBytes[0] as number) | ((lengthBytes[1] as number) << 8);
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
  // MAC input: AFL.MCL || AFL.MCR || {AFL.ML}, whatever the order on the air.
  const macHeader: number[] = [];
  if (mcl !== undefined) macHeader.push(mcl);
  if (result.counterBytes) macHeader.push(...result.counterBytes);
  if (lengthBytes) macHeader.push(...lengthBytes);
  result.macHeader = Uint8Array.from(macHeader);
  return result;
}

/** True if the AFL belongs to a fragmented message (fragment id other than 0, or more follow). */
export function isFragment(afl: AuthenticationLayer): boolean {
  return afl.moreFragments || afl.fragmentId !== 0;
}

/** For decodeTelegram, which decodes one telegram: a fragment needs an AflReassembler. */
export function requireSingleFragment(afl: AuthenticationLayer, offset: number): void {
  if (isFragment(afl)) {
    const more = afl.moreFragments ? ", more fragments follow" : "";
    throw new WmbusError(
      "unsupported",
      `fragmented message (AFL fragment id ${afl.fragmentId}${more}): ` +
        "decodeTelegram takes single telegrams, reassemble fragments with decodeFrame and AflReassembler",
      { offset },
    );
  }
}
