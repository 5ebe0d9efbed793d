import { deviceTypeName } from "./device-type.ts";
import { toHexReversed } from "./hex.ts";
import { manufacturerCode } from "./manufacturer.ts";
import type { ByteReader } from "./reader.ts";
import type { FrameFormat, LinkLayer } from "./types.ts";

export interface Address {
  id: string;
  version: number;
  deviceType: number;
  deviceTypeName: string;
}

/** A-field layout (also used by ELL, TPL long header): ID (4, BCD, LSB first), version, type. */
export function parseAddress(bytes: Uint8Array): Address {
  const deviceType = bytes[5] as number;
  return {
    id: toHexReversed(bytes.subarray(0, 4)),
    version: bytes[4] as number,
    deviceType,
    deviceTypeName: deviceTypeName(deviceType),
  };
}

const C_FIELD_NAMES = new Map<number, string>([
  [0x00, "ACK"],
  [0x06, "CNF-IR"],
  [0x08, "RSP-UD"],
  [0x18, "RSP-UD"],
  [0x28, "RSP-UD"],
  [0x38, "RSP-UD"],
  [0x40, "SND-NKE"],
  [0x43, "SND-UD2"],
  [0x44, "SND-NR"],
  [0x46, "SND-IR"],
  [0x47, "ACC-NR"],
  [0x48, "ACC-DMD"],
  [0x53, "SND-UD"],
  [0x73, "SND-UD"],
  [0x5a, "REQ-UD1"],
  [0x7a, "REQ-UD1"],
  [0x5b, "REQ-UD2"],
  [0x7b, "REQ-UD2"],
]);

export function cFieldName(c: number): string {
  return C_FIELD_NAMES.get(c) ?? "unknown";
}

/** Wireless link layer: C, M, A. The reader stands on the C-field. */
export function parseWirelessLink(
  reader: ByteReader,
  lField: number,
  format: FrameFormat,
): LinkLayer {
  const c = reader.u8("C-field");
  const m = reader.u16le("M-field");
  const address = parseAddress(reader.take(6, "A-field"));
  return {
    frameFormat: format,
    length: lField,
    c,
    cName: cFieldName(c),
    manufacturer: manufacturerCode(m),
    ...address,
  };
}

/** Wired long frame: C and the primary address; the identity comes from the TPL long header. */
export function parseWiredLink(reader: ByteReader, lField: number): LinkLayer {
  const c = reader.u8("C-field");
  const primaryAddress = reader.u8("A-field");
  return {
    frameFormat: "mbus-long",
    length: lField,
    c,
    cName: cFieldName(c),
    manufacturer: null,
    id: null,
    version: null,
    deviceType: null,
    deviceTypeName: null,
    primaryAddress,
  };
}
