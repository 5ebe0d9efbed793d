/** How the data link layer was framed on input. */
export type FrameFormat =
  | "wmbus-a" // EN 13757-4 format A, block CRCs checked and removed
  | "wmbus-b" // EN 13757-4 format B, block CRCs checked and removed
  | "wmbus-no-crc" // wireless frame given with its CRCs already removed
  | "mbus-long"; // wired M-Bus long frame 68 L L 68 ... CS 16

export interface LinkLayer {
  frameFormat: FrameFormat;
  /** L-field as transmitted. */
  length: number;
  c: number;
  cName: string;
  /** Three-letter manufacturer code; null when the frame carries none (wired, no long header). */
  manufacturer: string | null;
  /** Identification number, 8 digits (BCD); hex digits are kept if the field is not BCD. */
  id: string | null;
  version: number | null;
  deviceType: number | null;
  deviceTypeName: string | null;
  /** Wired M-Bus primary address (A-field). */
  primaryAddress?: number;
}

export type EllEncryption = "none" | "aes-128-ctr" | `reserved-${number}`;

export interface ExtendedLinkLayer {
  ci: number;
  communicationControl: number;
  accessNumber: number;
  /** ELL address (CI 0x8E/0x8F). */
  manufacturer?: string;
  id?: string;
  version?: number;
  deviceType?: number;
  sessionNumber?: number;
  /** Minutes counter carried in the session number field. */
  sessionTime?: number;
  encryption?: EllEncryption;
  payloadCrc?: number;
  /** "decrypted" with the key, "plaintext" when no encryption was flagged or the data was already clear. */
  payload?: "plaintext" | "decrypted" | "already-decrypted";
}

export interface AuthenticationLayer {
  ci: 0x90;
  length: number;
  fragmentControl: number;
  fragmentId: number;
  moreFragments: boolean;
  messageControl?: number;
  /** AT field of the message control: 5 = AES-CMAC-128 with 8 bytes MAC. */
  authenticationType?: number;
  keyInformation?: number;
  messageCounter?: number;
  messageLength?: number;
  mac?: string;
  /** true: checked and good; undefined: not checked (no key or no Kmac). */
  macVerified?: boolean;
}

export interface TransportLayer {
  ci: number;
  ciName: string;
  headerType: "none" | "short" | "long";
  accessNumber: number | null;
  status: number | null;
  statusFlags: string[];
  configuration: number | null;
  securityMode: number;
  /** Number of encrypted 16-byte blocks (mode 5 and 7). */
  encryptedBlocks?: number;
  /** Configuration field extension (mode 7). */
  configurationExtension?: number;
  /** Long header address (CI 0x72 etc.); for wired M-Bus this is the meter identity. */
  manufacturer?: string;
  id?: string;
  version?: number;
  deviceType?: number;
  deviceTypeName?: string;
  payload: "plaintext" | "decrypted" | "already-decrypted";
  /** CI 0x79/0x7B/0x73: format signature of the compact frame. */
  formatSignature?: number;
  /** CI 0x71/0x74/0x75: alarm byte(s); CI 0x70/0x6E/0x6F: application error byte(s). */
  alarm?: string;
  applicationError?: string;
}

export type FunctionField = "instantaneous" | "maximum" | "minimum" | "error";

export type RecordValue = number | string | null;

export interface DataRecord {
  storage: number;
  tariff: number;
  subunit: number;
  function: FunctionField;
  quantity: string;
  unit: string;
  /** Scaled to `unit`; dates as ISO strings; identifiers and text as strings; null for no data. */
  value: RecordValue;
  /** VIF and VIFEs, hex. */
  rawVif: string;
  /** DIF and DIFEs, hex. */
  dif: string;
  /** Data bytes as transmitted, hex. */
  raw: string;
  /** Which table the VIF came from. */
  vifTable: "primary" | "FB" | "FD" | "plain-text" | "manufacturer";
  /** Meaning of combinable VIFEs and decoding remarks. */
  annotations: string[];
  /** Offset of the DIF in the application layer. */
  offset: number;
}

export interface TelegramHeaders {
  link?: LinkLayer;
  ell?: ExtendedLinkLayer;
  afl?: AuthenticationLayer;
  transport?: TransportLayer;
}

export interface Telegram {
  link: LinkLayer;
  ell?: ExtendedLinkLayer;
  afl?: AuthenticationLayer;
  transport: TransportLayer;
  records: DataRecord[];
  /** Bytes after DIF 0x0F/0x1F, or the payload of a manufacturer-specific CI, hex. */
  manufacturerData?: string;
  /** Bytes at the end that stop inside a record (stray bytes), hex. */
  truncatedTail?: string;
  /** DIF 0x1F: more records follow in the next telegram. */
  moreRecordsFollow?: boolean;
  /** A message reassembled from AFL fragments: how many telegrams it came in. */
  fragments?: number;
  /** Non-fatal remarks, e.g. "payload already decrypted". */
  warnings: string[];
}
