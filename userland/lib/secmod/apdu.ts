// ISO/IEC 7816-4 command and response APDUs: short and extended length, all four cases.
// Both sides use it: the host encodes commands and decodes responses, the virtual card the
// reverse; malformed bytes end in an ApduError naming what is wrong.

export class ApduError extends Error {
  override name = "ApduError";
}

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (Lc is its length); absent or empty for cases 1 and 2. */
  data?: Uint8Array;
  /** Expected response length Ne: 1…256 short, up to 65536 extended; absent for cases 1 and 3. */
  le?: number;
}

export interface ResponseApdu {
  data: Uint8Array;
  sw: number;
}

export const MAX_SHORT_LC = 255;
export const MAX_SHORT_LE = 256;
export const MAX_EXTENDED_LC = 65535;
export const MAX_EXTENDED_LE = 65536;

function byteOk(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xff;
}

/** Encode a command; extended length is used only when data or Le need it. */
export function encodeCommand(c: CommandApdu): Uint8Array {
  for (const [name, v] of [
    ["CLA", c.cla],
    ["INS", c.ins],
    ["P1", c.p1],
    ["P2", c.p2],
  ] as const) {
    if (!byteOk(v)) throw new ApduError(`${name} ${v} is not a byte`);
  }
  const data = c.data ?? new Uint8Array(0);
  const le = c.le;
  if (data.length > MAX_EXTENDED_LC) {
    throw new ApduError(`command data of ${data.length} bytes exceeds ${MAX_EXTENDED_LC}`);
  }
  if (le !== undefined && (!Number.isInteger(le) || le < 1 || le > MAX_EXTENDED_LE)) {
    throw new ApduError(`Le ${le} is not 1…${MAX_EXTENDED_LE}`);
  }
  const header = [c.cla, c.ins, c.p1, c.p2];
  const extended = data.length > MAX_SHORT_LC || (le !== undefined && le > MAX_SHORT_LE);
  const out: number[] = [...header];
  if (!extended) {
    if (data.length > 0) out.push(data.length, ...data);
    if (le !== undefined) out.push(le === 256 ? 0 : le);
    return Uint8Array.from(out);
  }
  out.push(0);
  if (data.length > 0) out.push(data.length >> 8, data.length & 0xff, ...data);
  if (le !== undefined) {
    const v = le === 65536 ? 0 : le;
    out.push(v >> 8, v & 0xff);
  }
  return Uint8Array.from(out);
}

/** Decode a command APDU (the card side). */
export function decodeCommand(b: Uint8Array): CommandApdu & { extended: boolean } {
  if (b.length < 4) throw new ApduError(`command of ${b.length} bytes is shorter than a header`);
  const [cla, ins, p1, p2] = [b[0] ?? 0, b[1] ?? 0, b[2] ?? 0, b[3] ?? 0];
  const head = { cla, ins, p1, p2 };
  if (b.length === 4) return { ...head, extended: false };
  const b4 = b[4] ?? 0;
  if (b.length === 5) return { ...head, le: b4 === 0 ? 256 : b4, extended: false };
  if (b4 !== 0) {
    const lc = b4;
    const data = b.slice(5, 5 + lc);
    if (b.length === 5 + lc) return { ...head, data, extended: false };
    if (b.length === 6 + lc) {
      const le = b[5 + lc] ?? 0;
      return { ...head, data, le: le === 0 ? 256 : le, extended: false };
    }
    throw new ApduError(`short Lc ${lc} does not match the command's ${b.length} bytes`);
  }
  if (b.length < 7) throw new ApduError(`extended length field truncated (${b.length} bytes)`);
  const v = ((b[5] ?? 0) << 8) | (b[6] ?? 0);
  if (b.length === 7) return { ...head, le: v === 0 ? 65536 : v, extended: true };
  if (v === 0) throw new ApduError("extended Lc of zero");
  const data = b.slice(7, 7 + v);
  if (b.length === 7 + v) return { ...head, data, extended: true };
  if (b.length === 9 + v) {
    const le = ((b[7 + v] ?? 0) << 8) | (b[8 + v] ?? 0);
    return { ...head, data, le: le === 0 ? 65536 : le, extended: true };
  }
  throw new ApduError(`extended Lc ${v} does not match the command's ${b.length} bytes`);
}

export function encodeResponse(data: Uint8Array, sw: number): Uint8Array {
  if (!Number.isInteger(sw) || sw < 0 || sw > 0xffff) throw new ApduError(`SW ${sw} not 16 bits`);
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = sw >> 8;
  out[data.length + 1] = sw & 0xff;
  return out;
}

export function decodeResponse(b: Uint8Array): ResponseApdu {
  if (b.length < 2) throw new ApduError(`response of ${b.length} bytes has no status word`);
  const sw = ((b[b.length - 2] ?? 0) << 8) | (b[b.length - 1] ?? 0);
  return { data: b.slice(0, b.length - 2), sw };
}

/** Status words this project's card uses (ISO/IEC 7816-4 meanings). */
export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  SECURITY_STATUS: 0x6982,
  AUTH_BLOCKED: 0x6983,
  CONDITIONS: 0x6985,
  WRONG_DATA: 0x6a80,
  FUNC_NOT_SUPPORTED: 0x6a81,
  FILE_NOT_FOUND: 0x6a82,
  NOT_ENOUGH_MEMORY: 0x6a84,
  WRONG_P1P2: 0x6a86,
  REF_NOT_FOUND: 0x6a88,
  WRONG_P1P2_OFFSET: 0x6b00,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  UNKNOWN: 0x6f00,
  EOF_BEFORE_LE: 0x6282,
} as const;

const SW_TEXT: Record<number, string> = {
  36864: "success",
  25218: "end of file reached before Le bytes",
  26368: "wrong length",
  27010: "security status not satisfied",
  27011: "authentication method blocked",
  27013: "conditions of use not satisfied",
  27264: "incorrect data",
  27265: "function not supported",
  27266: "file not found",
  27268: "not enough memory",
  27270: "incorrect P1/P2",
  27272: "referenced data not found",
  27392: "wrong parameters (offset)",
  27904: "instruction not supported",
  28160: "class not supported",
  28416: "no precise diagnosis",
};

export function describeSw(sw: number): string {
  const hex = sw.toString(16).toUpperCase().padStart(4, "0");
  if ((sw & 0xfff0) === 0x63c0) return `${hex} verification failed, ${sw & 0x0f} tries left`;
  if ((sw & 0xff00) === 0x6100) return `${hex} ${sw & 0xff} more bytes available`;
  if ((sw & 0xff00) === 0x6c00) return `${hex} wrong Le, ${sw & 0xff} available`;
  return `${hex} ${SW_TEXT[sw] ?? "unknown status"}`;
}
