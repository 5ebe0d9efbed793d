// tpm2-tss through bun:ffi: the TCTI loader (libtss2-tctildr), the enhanced system API
// (libtss2-esys) and the marshalling library (libtss2-mu). Every struct goes in and out in
// TPM wire format: libtss2-mu converts between those bytes and the C structs ESYS takes, so
// the C layouts never appear here. All ESYS structs used are under 4 KiB (the largest,
// TPM2B_MAX_NV_BUFFER, is 2050 bytes), so each gets a 4 KiB buffer.
import { CString, dlopen, FFIType, type Pointer } from "bun:ffi";
import { UnavailableError } from "../module.ts";

const { ptr: P, u32, u16, i32, u64, void: VOID } = FFIType;
const STRUCT_BYTES = 4096;

const MU_TYPES = [
  "TPM2B_PUBLIC",
  "TPM2B_PRIVATE",
  "TPM2B_SENSITIVE_CREATE",
  "TPM2B_DATA",
  "TPML_PCR_SELECTION",
  "TPM2B_DIGEST",
  "TPMT_SIG_SCHEME",
  "TPMT_TK_HASHCHECK",
  "TPMT_SIGNATURE",
  "TPM2B_ECC_POINT",
  "TPM2B_SENSITIVE_DATA",
  "TPM2B_AUTH",
  "TPM2B_NV_PUBLIC",
  "TPM2B_MAX_NV_BUFFER",
  "TPMS_CAPABILITY_DATA",
] as const;
export type MuType = (typeof MU_TYPES)[number];

function openMu() {
  const defs: Record<string, { args: FFIType[]; returns: FFIType }> = {};
  for (const t of MU_TYPES) {
    defs[`Tss2_MU_${t}_Marshal`] = { args: [P, P, u64, P], returns: u32 };
    defs[`Tss2_MU_${t}_Unmarshal`] = { args: [P, u64, P, P], returns: u32 };
  }
  return dlopen("libtss2-mu.so.0", defs);
}

function openEsys() {
  return dlopen("libtss2-esys.so.0", {
    Esys_Initialize: { args: [P, P, P], returns: u32 },
    Esys_Finalize: { args: [P], returns: VOID },
    Esys_Startup: { args: [P, u16], returns: u32 },
    Esys_SetTimeout: { args: [P, i32], returns: u32 },
    Esys_GetRandom: { args: [P, u32, u32, u32, u16, P], returns: u32 },
    Esys_CreatePrimary: {
      args: [P, u32, u32, u32, u32, P, P, P, P, P, P, P, P, P],
      returns: u32,
    },
    Esys_Create: { args: [P, u32, u32, u32, u32, P, P, P, P, P, P, P, P, P], returns: u32 },
    Esys_Load: { args: [P, u32, u32, u32, u32, P, P, P], returns: u32 },
    Esys_Sign: { args: [P, u32, u32, u32, u32, P, P, P, P], returns: u32 },
    Esys_ECDH_ZGen: { args: [P, u32, u32, u32, u32, P, P], returns: u32 },
    Esys_Unseal: { args: [P, u32, u32, u32, u32, P], returns: u32 },
    Esys_NV_DefineSpace: { args: [P, u32, u32, u32, u32, P, P, P], returns: u32 },
    Esys_NV_Increment: { args: [P, u32, u32, u32, u32, u32], returns: u32 },
    Esys_NV_Read: { args: [P, u32, u32, u32, u32, u32, u16, u16, P], returns: u32 },
    Esys_TR_FromTPMPublic: { args: [P, u32, u32, u32, u32, P], returns: u32 },
    Esys_TR_Close: { args: [P, P], returns: u32 },
    Esys_FlushContext: { args: [P, u32], returns: u32 },
    Esys_Free: { args: [P], returns: VOID },
    Esys_DictionaryAttackLockReset: { args: [P, u32, u32, u32, u32], returns: u32 },
    Esys_DictionaryAttackParameters: {
      args: [P, u32, u32, u32, u32, u32, u32, u32],
      returns: u32,
    },
    Esys_TR_SetAuth: { args: [P, u32, P], returns: u32 },
    Esys_GetCapability: { args: [P, u32, u32, u32, u32, u32, u32, P, P], returns: u32 },
  });
}

function openTctiLdr() {
  return dlopen("libtss2-tctildr.so.0", {
    Tss2_TctiLdr_Initialize: { args: [P, P], returns: u32 },
    Tss2_TctiLdr_Finalize: { args: [P], returns: VOID },
  });
}

function openRc() {
  return dlopen("libtss2-rc.so.0", { Tss2_RC_Decode: { args: [u32], returns: P } });
}

type Lib<F extends () => { symbols: unknown }> = ReturnType<F>["symbols"];
let libs:
  | {
      mu: Record<string, (...a: unknown[]) => number>;
      esys: Lib<typeof openEsys>;
      tcti: Lib<typeof openTctiLdr>;
      rc: Lib<typeof openRc> | undefined;
    }
  | undefined;

function L(): NonNullable<typeof libs> {
  if (!libs) {
    // ESYS logs its errors on stderr; the backend reports them itself, once. The library reads
    // TSS2_LOG with getenv, which does not see process.env changes, hence libc's setenv.
    if (process.env.TSS2_LOG === undefined) {
      const libc = dlopen("libc.so.6", { setenv: { args: [P, P, i32], returns: i32 } });
      libc.symbols.setenv(Buffer.from("TSS2_LOG\0"), Buffer.from("all+none\0"), 0);
      libc.close();
    }
    let rc: Lib<typeof openRc> | undefined;
    try {
      rc = openRc().symbols;
    } catch {
      rc = undefined;
    }
    try {
      libs = {
        mu: openMu().symbols as unknown as Record<string, (...a: unknown[]) => number>,
        esys: openEsys().symbols,
        tcti: openTctiLdr().symbols,
        rc,
      };
    } catch (e) {
      throw new UnavailableError(`cannot load the tpm2-tss libraries: ${(e as Error).message}`);
    }
  }
  return libs;
}

/** Whether the tpm2-tss libraries load on this machine. */
export function tssAvailable(): boolean {
  try {
    L();
    return true;
  } catch {
    return false;
  }
}

/** ESYS_TR constants (tss2_esys.h). */
export const TR = {
  NONE: 0xfff,
  PASSWORD: 0x0ff,
  RH_OWNER: 0x101,
  RH_LOCKOUT: 0x10a,
} as const;

export const RC = {
  INITIALIZE: 0x100,
  HANDLE: 0x8b,
  AUTH_FAIL: 0x8e,
  INTEGRITY: 0x9f,
  ECC_POINT: 0xa7,
  NV_UNINITIALIZED: 0x14a,
  NV_DEFINED: 0x14c,
  OBJECT_MEMORY: 0x902,
  SESSION_MEMORY: 0x903,
  MEMORY: 0x904,
  OBJECT_HANDLES: 0x906,
  YIELDED: 0x908,
  CANCELED: 0x909,
  TESTING: 0x90a,
  NV_RATE: 0x920,
  LOCKOUT: 0x921,
  RETRY: 0x922,
  NV_UNAVAILABLE: 0x923,
} as const;

export type TssErrorKind =
  | "connection"
  | "stale"
  | "busy"
  | "lockout"
  | "memory"
  | "initialize"
  | "auth"
  | "command";

/** A failed tpm2-tss call, with its response code and what it means for the caller. */
export class TssError extends Error {
  override name = "TssError";
  readonly kind: TssErrorKind;
  /** The TPM's error number without layer or parameter bits (0 for non-TPM layers). */
  readonly tpmError: number;
  constructor(
    readonly call: string,
    readonly rc: number,
  ) {
    super(`${call}: ${describeRc(rc)}`);
    const { kind, tpmError } = classifyRc(rc);
    this.kind = kind;
    this.tpmError = tpmError;
  }
}

/** Split a TSS2_RC: the layer (bits 16…23) and, for the TPM layer, its error number. */
export function classifyRc(rc: number): { kind: TssErrorKind; tpmError: number } {
  const layer = (rc >>> 16) & 0xff;
  if (layer !== 0) return { kind: "connection", tpmError: 0 };
  // Format one (bit 7): the error is bits 0…5 plus 0x80; bits 6 and 8…11 name the parameter.
  const tpmError = rc & 0x80 ? rc & 0xbf : rc & 0xfff;
  switch (tpmError) {
    case RC.LOCKOUT:
      return { kind: "lockout", tpmError };
    case RC.RETRY:
    case RC.YIELDED:
    case RC.TESTING:
    case RC.CANCELED:
    case RC.NV_RATE:
    case RC.NV_UNAVAILABLE:
      return { kind: "busy", tpmError };
    case RC.OBJECT_MEMORY:
    case RC.SESSION_MEMORY:
    case RC.MEMORY:
    case RC.OBJECT_HANDLES:
      return { kind: "memory", tpmError };
    case RC.INITIALIZE:
      return { kind: "initialize", tpmError };
    case RC.AUTH_FAIL:
      return { kind: "auth", tpmError };
  }
  // TPM_RC_REFERENCE_H0…H6, S0…S6: a handle names an object the TPM no longer has loaded
  // (the TPM was restarted under us); nothing was executed.
  if (tpmError >= 0x910 && tpmError <= 0x91e) return { kind: "stale", tpmError };
  return { kind: "command", tpmError };
}

export function describeRc(rc: number): string {
  const hex = `0x${rc.toString(16).padStart(8, "0")}`;
  const decode = L().rc?.Tss2_RC_Decode;
  if (!decode) return hex;
  const p = decode(rc);
  return p ? `${new CString(p).toString()} (${hex})` : hex;
}

function check(call: string, rc: number): void {
  if (rc !== 0) throw new TssError(call, rc);
}

/** Bytes in TPM wire format → the C struct (in a 4 KiB buffer) that ESYS takes. */
export function toStruct(type: MuType, wire: Uint8Array): Uint8Array {
  const dest = new Uint8Array(STRUCT_BYTES);
  const offset = new BigUint64Array(1);
  const src = Buffer.from(wire);
  check(
    `unmarshal ${type}`,
    L().mu[`Tss2_MU_${type}_Unmarshal`]?.(src, src.length, offset, dest) ?? -1,
  );
  if (Number(offset[0]) !== wire.length) {
    throw new TssError(
      `unmarshal ${type}: ${wire.length - Number(offset[0])} bytes unused`,
      0x000b0005,
    );
  }
  return dest;
}

/** A C struct (ESYS output) → its TPM wire format. */
export function fromStruct(type: MuType, src: Pointer | Uint8Array): Uint8Array {
  const buf = new Uint8Array(STRUCT_BYTES);
  const offset = new BigUint64Array(1);
  check(
    `marshal ${type}`,
    L().mu[`Tss2_MU_${type}_Marshal`]?.(src, buf, STRUCT_BYTES, offset) ?? -1,
  );
  return buf.slice(0, Number(offset[0]));
}

/** Take an ESYS-allocated output, marshal it, and free it. */
function takeOutput(type: MuType, out: BigUint64Array): Uint8Array {
  const p = Number(out[0]) as Pointer;
  if (!p) throw new TssError(`ESYS returned no ${type}`, 0x00070005);
  try {
    return fromStruct(type, p);
  } finally {
    L().esys.Esys_Free(p);
    out[0] = 0n;
  }
}

/** One TCTI + ESYS context: a connection to one TPM. */
export class TssContext {
  private tctiPtr: BigUint64Array;
  private ctxPtr: BigUint64Array;

  private constructor(tcti: BigUint64Array, ctx: BigUint64Array) {
    this.tctiPtr = tcti;
    this.ctxPtr = ctx;
  }

  static open(tctiConf: string, timeoutMs = 10_000): TssContext {
    const l = L();
    const tcti = new BigUint64Array(1);
    check(
      "Tss2_TctiLdr_Initialize",
      l.tcti.Tss2_TctiLdr_Initialize(Buffer.from(`${tctiConf}\0`), tcti),
    );
    const ctx = new BigUint64Array(1);
    const rc = l.esys.Esys_Initialize(ctx, Number(tcti[0]) as Pointer, null);
    if (rc !== 0) {
      l.tcti.Tss2_TctiLdr_Finalize(tcti);
      throw new TssError("Esys_Initialize", rc);
    }
    const c = new TssContext(tcti, ctx);
    try {
      l.esys.Esys_SetTimeout(c.ctx, timeoutMs);
      const s = l.esys.Esys_Startup(c.ctx, 0x0000); // TPM2_SU_CLEAR
      if (s !== 0 && classifyRc(s).tpmError !== RC.INITIALIZE)
        throw new TssError("Esys_Startup", s);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private get ctx(): Pointer {
    const p = Number(this.ctxPtr[0]);
    if (!p) throw new TssError("ESYS context closed", 0x00070005);
    return p as Pointer;
  }

  close(): void {
    const l = L();
    if (this.ctxPtr[0]) l.esys.Esys_Finalize(this.ctxPtr);
    if (this.tctiPtr[0]) l.tcti.Tss2_TctiLdr_Finalize(this.tctiPtr);
    this.ctxPtr[0] = 0n;
    this.tctiPtr[0] = 0n;
  }

  getRandom(n: number): Uint8Array {
    const out = new BigUint64Array(1);
    check("Esys_GetRandom", L().esys.Esys_GetRandom(this.ctx, TR.NONE, TR.NONE, TR.NONE, n, out));
    return takeOutput("TPM2B_DIGEST", out);
  }

  createPrimary(template: Uint8Array): { handle: number; pub: Uint8Array } {
    const handle = new Uint32Array(1);
    const pub = new BigUint64Array(1);
    check(
      "Esys_CreatePrimary",
      L().esys.Esys_CreatePrimary(
        this.ctx,
        TR.RH_OWNER,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        toStruct("TPM2B_SENSITIVE_CREATE", Uint8Array.of(0, 4, 0, 0, 0, 0)),
        toStruct("TPM2B_PUBLIC", template),
        toStruct("TPM2B_DATA", Uint8Array.of(0, 0)),
        toStruct("TPML_PCR_SELECTION", Uint8Array.of(0, 0, 0, 0)),
        handle,
        pub,
        null,
        null,
        null,
      ),
    );
    return { handle: handle[0] as number, pub: takeOutput("TPM2B_PUBLIC", pub) };
  }

  create(
    parent: number,
    sensitive: Uint8Array,
    template: Uint8Array,
  ): { priv: Uint8Array; pub: Uint8Array } {
    const priv = new BigUint64Array(1);
    const pub = new BigUint64Array(1);
    check(
      "Esys_Create",
      L().esys.Esys_Create(
        this.ctx,
        parent,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        toStruct("TPM2B_SENSITIVE_CREATE", sensitive),
        toStruct("TPM2B_PUBLIC", template),
        toStruct("TPM2B_DATA", Uint8Array.of(0, 0)),
        toStruct("TPML_PCR_SELECTION", Uint8Array.of(0, 0, 0, 0)),
        priv,
        pub,
        null,
        null,
        null,
      ),
    );
    return { priv: takeOutput("TPM2B_PRIVATE", priv), pub: takeOutput("TPM2B_PUBLIC", pub) };
  }

  load(parent: number, priv: Uint8Array, pub: Uint8Array): number {
    const handle = new Uint32Array(1);
    check(
      "Esys_Load",
      L().esys.Esys_Load(
        this.ctx,
        parent,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        toStruct("TPM2B_PRIVATE", priv),
        toStruct("TPM2B_PUBLIC", pub),
        handle,
      ),
    );
    return handle[0] as number;
  }

  sign(key: number, digest: Uint8Array, scheme: Uint8Array, validation: Uint8Array): Uint8Array {
    const out = new BigUint64Array(1);
    check(
      "Esys_Sign",
      L().esys.Esys_Sign(
        this.ctx,
        key,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        toStruct("TPM2B_DIGEST", digest),
        toStruct("TPMT_SIG_SCHEME", scheme),
        toStruct("TPMT_TK_HASHCHECK", validation),
        out,
      ),
    );
    return takeOutput("TPMT_SIGNATURE", out);
  }

  ecdhZGen(key: number, point: Uint8Array): Uint8Array {
    const out = new BigUint64Array(1);
    check(
      "Esys_ECDH_ZGen",
      L().esys.Esys_ECDH_ZGen(
        this.ctx,
        key,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        toStruct("TPM2B_ECC_POINT", point),
        out,
      ),
    );
    return takeOutput("TPM2B_ECC_POINT", out);
  }

  unseal(item: number): Uint8Array {
    const out = new BigUint64Array(1);
    check("Esys_Unseal", L().esys.Esys_Unseal(this.ctx, item, TR.PASSWORD, TR.NONE, TR.NONE, out));
    return takeOutput("TPM2B_SENSITIVE_DATA", out);
  }

  /** TPM handles of the transient objects now loaded (TPM2_CAP_HANDLES from 0x80000000). */
  transientHandles(): number[] {
    const more = new Uint8Array(1);
    const out = new BigUint64Array(1);
    check(
      "Esys_GetCapability",
      L().esys.Esys_GetCapability(
        this.ctx,
        TR.NONE,
        TR.NONE,
        TR.NONE,
        1,
        0x80000000,
        64,
        more,
        out,
      ),
    );
    return parseHandleList(takeOutput("TPMS_CAPABILITY_DATA", out));
  }

  flush(handle: number): void {
    check("Esys_FlushContext", L().esys.Esys_FlushContext(this.ctx, handle));
  }

  /** ESYS_TR of an existing NV index or persistent object. */
  fromTpmPublic(tpmHandle: number): number {
    const out = new Uint32Array(1);
    check(
      "Esys_TR_FromTPMPublic",
      L().esys.Esys_TR_FromTPMPublic(this.ctx, tpmHandle, TR.NONE, TR.NONE, TR.NONE, out),
    );
    return out[0] as number;
  }

  nvDefineSpace(publicInfo: Uint8Array): number {
    const out = new Uint32Array(1);
    check(
      "Esys_NV_DefineSpace",
      L().esys.Esys_NV_DefineSpace(
        this.ctx,
        TR.RH_OWNER,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        toStruct("TPM2B_AUTH", Uint8Array.of(0, 0)),
        toStruct("TPM2B_NV_PUBLIC", publicInfo),
        out,
      ),
    );
    return out[0] as number;
  }

  nvIncrement(nv: number): void {
    check(
      "Esys_NV_Increment",
      L().esys.Esys_NV_Increment(this.ctx, nv, nv, TR.PASSWORD, TR.NONE, TR.NONE),
    );
  }

  nvRead(nv: number, size: number): Uint8Array {
    const out = new BigUint64Array(1);
    check(
      "Esys_NV_Read",
      L().esys.Esys_NV_Read(this.ctx, nv, nv, TR.PASSWORD, TR.NONE, TR.NONE, size, 0, out),
    );
    return takeOutput("TPM2B_MAX_NV_BUFFER", out);
  }

  /** Set the dictionary-attack parameters (lockout hierarchy, empty auth): tests use it. */
  dictionaryAttackParameters(
    maxTries: number,
    recoverySeconds: number,
    lockoutRecovery: number,
  ): void {
    check(
      "Esys_DictionaryAttackParameters",
      L().esys.Esys_DictionaryAttackParameters(
        this.ctx,
        TR.RH_LOCKOUT,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
        maxTries,
        recoverySeconds,
        lockoutRecovery,
      ),
    );
  }

  dictionaryAttackLockReset(): void {
    check(
      "Esys_DictionaryAttackLockReset",
      L().esys.Esys_DictionaryAttackLockReset(
        this.ctx,
        TR.RH_LOCKOUT,
        TR.PASSWORD,
        TR.NONE,
        TR.NONE,
      ),
    );
  }

  /** Set the auth value ESYS presents for `handle` (tests of the lockout path). */
  setAuth(handle: number, auth: Uint8Array): void {
    const wire = new Uint8Array(2 + auth.length);
    wire[0] = auth.length >> 8;
    wire[1] = auth.length & 0xff;
    wire.set(auth, 2);
    check(
      "Esys_TR_SetAuth",
      L().esys.Esys_TR_SetAuth(this.ctx, handle, toStruct("TPM2B_AUTH", wire)),
    );
  }
}

/** The handles of a TPMS_CAPABILITY_DATA for TPM2_CAP_HANDLES (capability, count, handles). */
export function parseHandleList(wire: Uint8Array): number[] {
  if (wire.length < 8) throw new TssError("TPMS_CAPABILITY_DATA truncated", 0x000b0005);
  const v = new DataView(wire.buffer, wire.byteOffset, wire.length);
  if (v.getUint32(0) !== 1)
    throw new TssError("TPMS_CAPABILITY_DATA is not a handle list", 0x000b0005);
  const count = v.getUint32(4);
  if (wire.length !== 8 + 4 * count) {
    throw new TssError(`handle list of ${count} handles in ${wire.length} bytes`, 0x000b0005);
  }
  return Array.from({ length: count }, (_, i) => v.getUint32(8 + 4 * i));
}
