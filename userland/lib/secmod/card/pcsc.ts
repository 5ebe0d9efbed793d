// PC/SC through pcsc-lite (libpcsclite.so.1) via bun:ffi. On Linux pcsc-lite's DWORD, LONG
// and SCARDCONTEXT/SCARDHANDLE are 64-bit (unsigned long), and SCARD_IO_REQUEST is two of
// them (16 bytes). The calls block the thread for the length of one card command.
import { CString, dlopen, FFIType } from "bun:ffi";
import { CardConnectionError, type CardTransport } from "./transport.ts";

const { ptr: P, u64, i64 } = FFIType;

function open() {
  return dlopen("libpcsclite.so.1", {
    SCardEstablishContext: { args: [u64, P, P, P], returns: i64 },
    SCardReleaseContext: { args: [u64], returns: i64 },
    SCardListReaders: { args: [u64, P, P, P], returns: i64 },
    SCardConnect: { args: [u64, P, u64, u64, P, P], returns: i64 },
    SCardDisconnect: { args: [u64, u64], returns: i64 },
    SCardBeginTransaction: { args: [u64], returns: i64 },
    SCardEndTransaction: { args: [u64, u64], returns: i64 },
    SCardTransmit: { args: [u64, P, P, u64, P, P, P], returns: i64 },
    pcsc_stringify_error: { args: [i64], returns: P },
  });
}

let lib: ReturnType<typeof open>["symbols"] | undefined;
function L(): ReturnType<typeof open>["symbols"] {
  if (!lib) {
    try {
      lib = open().symbols;
    } catch (e) {
      throw new CardConnectionError(`cannot load libpcsclite.so.1: ${(e as Error).message}`);
    }
  }
  return lib;
}

export const SCARD = {
  S_SUCCESS: 0,
  SCOPE_SYSTEM: 2,
  SHARE_SHARED: 2,
  PROTOCOL_T0: 1,
  PROTOCOL_T1: 2,
  LEAVE_CARD: 0,
  RESET_CARD: 1,
  E_INVALID_HANDLE: 0x80100003,
  E_INSUFFICIENT_BUFFER: 0x80100008,
  E_UNKNOWN_READER: 0x80100009,
  E_TIMEOUT: 0x8010000a,
  E_SHARING_VIOLATION: 0x8010000b,
  E_NO_SMARTCARD: 0x8010000c,
  E_PROTO_MISMATCH: 0x8010000f,
  E_NOT_READY: 0x80100010,
  E_INVALID_VALUE: 0x80100011,
  F_COMM_ERROR: 0x80100013,
  E_NOT_TRANSACTED: 0x80100016,
  E_READER_UNAVAILABLE: 0x80100017,
  E_NO_SERVICE: 0x8010001d,
  E_SERVICE_STOPPED: 0x8010001e,
  E_NO_READERS_AVAILABLE: 0x8010002e,
  W_UNRESPONSIVE_CARD: 0x80100066,
  W_UNPOWERED_CARD: 0x80100067,
  W_RESET_CARD: 0x80100068,
  W_REMOVED_CARD: 0x80100069,
} as const;

export class PcscError extends CardConnectionError {
  override name = "PcscError";
  constructor(
    readonly call: string,
    readonly rv: number,
  ) {
    super(`${call}: ${describeRv(rv)}`);
  }
}

export function describeRv(rv: number): string {
  let text = "unknown error";
  try {
    const p = L().pcsc_stringify_error(rv);
    if (p) text = new CString(p).toString();
  } catch {
    // the library is missing: the hex code is all we have
  }
  return `${text} (0x${rv.toString(16).padStart(8, "0")})`;
}

function check(call: string, rv: bigint | number): void {
  const n = Number(rv);
  if (n !== SCARD.S_SUCCESS) throw new PcscError(call, n);
}

// The largest response: an extended-length APDU (65536 data bytes) and its status word.
const RECV_MAX = 65538;

export interface PcscOptions {
  /** Use the first reader whose name contains this; the first reader when absent. */
  reader?: string;
}

export class PcscTransport implements CardTransport {
  private context: bigint | undefined;
  private card: bigint | undefined;
  private protocol = 0n;
  private readerName = "";
  private readonly recv = new Uint8Array(RECV_MAX);
  private readonly recvLen = new BigUint64Array(1);
  private readonly sendPci = new BigUint64Array(2);

  constructor(private readonly options: PcscOptions = {}) {}

  get connected(): boolean {
    return this.card !== undefined;
  }

  async connect(): Promise<void> {
    if (this.card !== undefined) return;
    const l = L();
    if (this.context === undefined) {
      const out = new BigUint64Array(1);
      check("SCardEstablishContext", l.SCardEstablishContext(SCARD.SCOPE_SYSTEM, null, null, out));
      this.context = out[0] as bigint;
    }
    try {
      this.readerName = this.pickReader();
      const handle = new BigUint64Array(1);
      const active = new BigUint64Array(1);
      check(
        `SCardConnect(${this.readerName})`,
        l.SCardConnect(
          this.context,
          Buffer.from(`${this.readerName}\0`, "utf8"),
          SCARD.SHARE_SHARED,
          SCARD.PROTOCOL_T0 | SCARD.PROTOCOL_T1,
          handle,
          active,
        ),
      );
      this.card = handle[0] as bigint;
      this.protocol = active[0] as bigint;
      this.sendPci[0] = this.protocol;
      this.sendPci[1] = 16n;
    } catch (e) {
      // After a pcscd restart the old context is dead; the next attempt starts a new one.
      this.releaseContext();
      throw e;
    }
  }

  private pickReader(): string {
    const l = L();
    const len = new BigUint64Array(1);
    check("SCardListReaders", l.SCardListReaders(this.context as bigint, null, null, len));
    const buf = Buffer.alloc(Number(len[0]));
    check("SCardListReaders", l.SCardListReaders(this.context as bigint, null, buf, len));
    const names = buf
      .toString("utf8", 0, Number(len[0]))
      .split("\0")
      .filter((n) => n.length > 0);
    const want = this.options.reader;
    const name = want ? names.find((n) => n.includes(want)) : names[0];
    if (!name) {
      throw new CardConnectionError(
        want
          ? `no reader matching "${want}" (readers: ${names.join(", ") || "none"})`
          : "no smart-card reader",
      );
    }
    return name;
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.card === undefined) throw new CardConnectionError("not connected to a card");
    this.recvLen[0] = BigInt(RECV_MAX);
    const send = Buffer.from(command);
    const rv = Number(
      L().SCardTransmit(this.card, this.sendPci, send, send.length, null, this.recv, this.recvLen),
    );
    if (rv !== SCARD.S_SUCCESS) {
      await this.disconnect();
      throw new PcscError("SCardTransmit", rv);
    }
    return this.recv.slice(0, Number(this.recvLen[0]));
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.card === undefined) throw new CardConnectionError("not connected to a card");
    const rv = Number(L().SCardBeginTransaction(this.card));
    if (rv !== SCARD.S_SUCCESS) {
      await this.disconnect();
      throw new PcscError("SCardBeginTransaction", rv);
    }
    try {
      return await fn();
    } finally {
      if (this.card !== undefined) L().SCardEndTransaction(this.card, SCARD.LEAVE_CARD);
    }
  }

  async disconnect(): Promise<void> {
    this.drop();
    this.releaseContext();
  }

  private drop(): void {
    if (this.card !== undefined) L().SCardDisconnect(this.card, SCARD.LEAVE_CARD);
    this.card = undefined;
  }

  private releaseContext(): void {
    if (this.context !== undefined) L().SCardReleaseContext(this.context);
    this.context = undefined;
  }

  describe(): string {
    return this.readerName ? `PC/SC reader "${this.readerName}"` : "PC/SC (not connected)";
  }
}
