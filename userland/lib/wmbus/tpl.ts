import { WmbusError } from "./errors.ts";
import { parseAddress } from "./link.ts";
import { manufacturerCode } from "./manufacturer.ts";
import type { ByteReader } from "./reader.ts";
import type { TransportLayer } from "./types.ts";

export type CiKind = "data" | "compact" | "format" | "error" | "alarm" | "header-only";

interface CiInfo {
  name: string;
  header: TransportLayer["headerType"];
  kind: CiKind;
  wired: boolean;
}

/** Transport layer CI-fields this decoder knows (EN 13757-7, OMS vol. 2). */
const TPL_CIS = new Map<number, CiInfo>([
  [0x78, { name: "response, no header", header: "none", kind: "data", wired: true }],
  [0x7a, { name: "response, short header", header: "short", kind: "data", wired: true }],
  [0x72, { name: "response, long header", header: "long", kind: "data", wired: true }],
  [0x79, { name: "compact frame, no header", header: "none", kind: "compact", wired: false }],
  [0x7b, { name: "compact frame, short header", header: "short", kind: "compact", wired: false }],
  [0x73, { name: "compact frame, long header", header: "long", kind: "compact", wired: false }],
  [0x69, { name: "format frame, no header", header: "none", kind: "format", wired: false }],
  [0x6a, { name: "format frame, short header", header: "short", kind: "format", wired: false }],
  [0x6b, { name: "format frame, long header", header: "long", kind: "format", wired: false }],
  [0x70, { name: "application error, no header", header: "none", kind: "error", wired: true }],
  [0x6e, { name: "application error, short header", header: "short", kind: "error", wired: false }],
  [0x6f, { name: "application error, long header", header: "long", kind: "error", wired: false }],
  [0x71, { name: "alarm, no header", header: "none", kind: "alarm", wired: true }],
  [0x74, { name: "alarm, short header", header: "short", kind: "alarm", wired: false }],
  [0x75, { name: "alarm, long header", header: "long", kind: "alarm", wired: false }],
  [
    0x8a,
    {
      name: "transport layer only, short header",
      header: "short",
      kind: "header-only",
      wired: false,
    },
  ],
  [
    0x8b,
    {
      name: "transport layer only, long header",
      header: "long",
      kind: "header-only",
      wired: false,
    },
  ],
]);

export function isManufacturerCi(ci: number): boolean {
  return ci >= 0xa0 && ci <= 0xb7;
}

export interface TplHeader {
  transport: TransportLayer;
  kind: CiKind;
  /** M-field and A-field bytes of the long header in link layer order (M, ID, version, type). */
  longHeaderMA?: Uint8Array;
}

const SECURITY_MODE_WITH_EXTENSION = 7;

/** Transport layer header after the CI-field (the reader stands after the CI). */
export function parseTplHeader(ci: number, reader: ByteReader, wired: boolean): TplHeader {
  const info = TPL_CIS.get(ci);
  if (!info || (wired && !info.wired)) {
    throw new WmbusError(
      "unsupported",
      `CI-field 0x${hexByte(ci)} is not supported${wired ? " in a wired M-Bus frame" : ""}`,
      { offset: reader.offset - 1 },
    );
  }
  const transport: TransportLayer = {
    ci,
    ciName: info.name,
    headerType: info.header,
    accessNumber: null,
    status: null,
    statusFlags: [],
    configuration: null,
    securityMode: 0,
    payload: "plaintext",
  };
  const header: TplHeader = { transport, kind: info.kind };
  if (info.header === "long") {
    const id = reader.take(4, "TPL identification number");
    const m = reader.take(2, "TPL manufacturer");
    const versionAndType = reader.take(2, "TPL version and device type");
    const address = parseAddress(Uint8Array.of(...id, ...versionAndType));
    transport.manufacturer = manufacturerCode((m[0] as number) | ((m[1] as number) << 8));
    transport.id = address.id;
    transport.version = address.version;
    transport.deviceType = address.deviceType;
    transport.deviceTypeName = address.deviceTypeName;
    header.longHeaderMA = Uint8Array.of(...m, ...id, ...versionAndType);
  }
  if (info.header !== "none") {
    transport.accessNumber = reader.u8("TPL access number");
    const status = reader.u8("TPL status");
    transport.status = status;
    transport.statusFlags = statusFlags(status);
    const configuration = reader.u16le("TPL configuration field");
    transport.configuration = configuration;
    transport.securityMode = (configuration >> 8) & 0x1f;
    if (transport.securityMode === 5 || transport.securityMode === 7) {
      transport.encryptedBlocks = (configuration >> 4) & 0x0f;
    }
    if (transport.securityMode === SECURITY_MODE_WITH_EXTENSION) {
      transport.configurationExtension = reader.u8("TPL configuration field extension");
    }
  }
  return header;
}

/** TPL status byte (EN 13757-7): application state, power low, permanent/temporary error. */
export function statusFlags(status: number): string[] {
  const flags: string[] = [];
  const application = ["", "application busy", "application error", "abnormal condition/alarm"];
  const state = application[status & 0x03];
  if (state) flags.push(state);
  if (status & 0x04) flags.push("power low");
  if (status & 0x08) flags.push("permanent error");
  if (status & 0x10) flags.push("temporary error");
  if (status & 0xe0) flags.push(`manufacturer specific 0x${hexByte(status & 0xe0)}`);
  return flags;
}

function hexByte(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, "0");
}
