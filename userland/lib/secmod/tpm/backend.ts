// The security module on a TPM 2.0 (tpm2-tss ESYS). Keys live under a primary storage key
// re-derived from the owner seed on every connection, so the blobs in the state directory
// (private parts encrypted by the TPM) load again after a restart. Data keys are sealed
// objects; counters are NV counter indexes. swtpm holds only three transient objects, so
// besides the primary at most one key stays loaded.
import fs from "node:fs";
import path from "node:path";
import { encodeEcdsaSignature, peerPoint, publicKeyInfo } from "../der.ts";
import { Mutex, readFileIfExists, writeFileAtomic } from "../files.ts";
import {
  type Curve,
  checkCounter,
  checkDataKey,
  checkKeyHandle,
  InvalidArgumentError,
  type KeyHandle,
  KeyNotFoundError,
  type ModuleInfo,
  ProtocolError,
  type PublicKeyInfo,
  RefusedError,
  type SecurityModule,
  SecurityModuleError,
  UnavailableError,
  WrapIntegrityError,
} from "../module.ts";
import { readOne } from "../tlv.ts";
import {
  decodeBlob,
  digest2b,
  eccPoint2b,
  eccPublicTemplate,
  ecdsaScheme,
  encodeBlob,
  hashAlgForDigest,
  nullHashcheck,
  nvCounterPublic,
  parse2b,
  parseEccPoint2bX,
  parseEccPublic,
  parseEcdsaSignature,
  sealedPublicTemplate,
  sensitiveCreate,
  TpmMarshalError,
} from "./marshal.ts";
import { RC, TssContext, TssError } from "./tss.ts";

export const DEFAULT_TCTI = "swtpm:host=127.0.0.1,port=2321";
/** NV index of counter 0 (owner range 0x01800000…); counter n is at BASE + n. */
export const NV_COUNTER_BASE = 0x01800100;
const COORDINATE = 32;

/** The TPM refused a command for a reason of its own (shown with its response code). */
export class TpmCommandError extends SecurityModuleError {
  override name = "TpmCommandError";
  override readonly code = "tpm";
}

export interface TpmModuleOptions {
  /** TCTI configuration, e.g. "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0". */
  tcti?: string;
  /** Directory for the key blobs and certificates (mode 0700). */
  stateDir: string;
  /** Attempts for a busy TPM (TPM_RC_RETRY, YIELDED, TESTING, NV_RATE) before giving up. */
  busyAttempts?: number;
}

export type Repeat = "repeatable" | "once";

export class TpmModule implements SecurityModule {
  readonly kind = "tpm" as const;
  private readonly tcti: string;
  private ctx: TssContext | undefined;
  private primary = 0;
  /** The one key kept loaded: its file and ESYS handle. */
  private loaded: { file: string; handle: number } | undefined;
  private readonly counters = new Map<number, number>();
  private readonly mutex = new Mutex();
  /** Set after TPM_RC_OBJECT_MEMORY: clear all transient objects on the next connection. */
  private flushOthers = false;

  constructor(private readonly options: TpmModuleOptions) {
    this.tcti = options.tcti ?? DEFAULT_TCTI;
    fs.mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  }

  async info(): Promise<ModuleInfo> {
    await this.run("connect", "repeatable", () => undefined);
    return { kind: "tpm", description: `TPM 2.0 via ${this.tcti}`, curves: ["prime256v1"] };
  }

  async generateKeyPair(key: KeyHandle, curve: Curve): Promise<PublicKeyInfo> {
    checkKeyHandle(key);
    if (curve !== "prime256v1") {
      throw new InvalidArgumentError(`the TPM offers prime256v1 only, not ${curve}`);
    }
    const file = this.file(key, "keypair");
    const blob = await this.run(`generate ${key}`, "repeatable", (c) => {
      const { priv, pub } = c.create(this.primary, sensitiveCreate(), eccPublicTemplate("keypair"));
      return encodeBlob(priv, pub);
    });
    this.forget(file);
    writeFileAtomic(file, blob);
    fs.rmSync(this.file(key, "cert"), { force: true });
    return this.publicKeyOf(key, blob);
  }

  async publicKey(key: KeyHandle): Promise<PublicKeyInfo> {
    checkKeyHandle(key);
    return this.publicKeyOf(key, this.blob(key, "keypair"));
  }

  async sign(key: KeyHandle, digest: Uint8Array): Promise<Uint8Array> {
    checkKeyHandle(key);
    const hashAlg = digest instanceof Uint8Array ? hashAlgForDigest(digest.length) : undefined;
    if (hashAlg === undefined) {
      throw new InvalidArgumentError("digest must be 20, 32, 48 or 64 bytes (SHA-1/256/384/512)");
    }
    const file = this.file(key, "keypair");
    const blob = this.blob(key, "keypair");
    const sig = await this.run(`sign with ${key}`, "repeatable", (c) =>
      c.sign(this.load(c, file, blob), digest2b(digest), ecdsaScheme(hashAlg), nullHashcheck()),
    );
    const { r, s } = this.parse("signature", () => parseEcdsaSignature(sig));
    return encodeEcdsaSignature(r, s);
  }

  async agree(key: KeyHandle, peer: Uint8Array): Promise<Uint8Array> {
    checkKeyHandle(key);
    const point = peerPoint("prime256v1", peer);
    const file = this.file(key, "keypair");
    const blob = this.blob(key, "keypair");
    const out = await this.run(`key agreement with ${key}`, "repeatable", (c) => {
      try {
        return c.ecdhZGen(this.load(c, file, blob), eccPoint2b(point, COORDINATE));
      } catch (e) {
        if (e instanceof TssError && e.tpmError === RC.ECC_POINT) {
          throw new InvalidArgumentError("the TPM rejected the peer's point (not on P-256)");
        }
        throw e;
      }
    });
    return leftPad(
      this.parse("ECDH result", () => parseEccPoint2bX(out)),
      COORDINATE,
    );
  }

  async random(length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > 4096) {
      throw new InvalidArgumentError("random length must be 1…4096");
    }
    return this.run("random", "repeatable", (c) => {
      const out = new Uint8Array(length);
      let pos = 0;
      while (pos < length) {
        const chunk = this.parse("random", () =>
          parse2b(c.getRandom(Math.min(64, length - pos)), "TPM2B_DIGEST"),
        );
        if (chunk.length === 0) throw new ProtocolError("TPM returned no random bytes");
        out.set(chunk.subarray(0, length - pos), pos);
        pos += chunk.length;
      }
      return out;
    });
  }

  async certificate(key: KeyHandle): Promise<Uint8Array | undefined> {
    checkKeyHandle(key);
    this.blob(key, "keypair");
    return readFileIfExists(this.file(key, "cert"));
  }

  async storeCertificate(key: KeyHandle, der: Uint8Array): Promise<void> {
    checkKeyHandle(key);
    this.blob(key, "keypair");
    if (!(der instanceof Uint8Array) || der.length < 2 || der.length > 4096) {
      throw new InvalidArgumentError("certificate must be 2…4096 bytes of DER");
    }
    try {
      readOne(der, 0x30);
    } catch (e) {
      throw new InvalidArgumentError(
        `certificate is not one DER SEQUENCE: ${(e as Error).message}`,
      );
    }
    writeFileAtomic(this.file(key, "cert"), der);
  }

  async generateStorageKey(key: KeyHandle): Promise<void> {
    checkKeyHandle(key);
    const file = this.file(key, "storage");
    const blob = await this.run(`generate storage key ${key}`, "repeatable", (c) => {
      const { priv, pub } = c.create(this.primary, sensitiveCreate(), eccPublicTemplate("storage"));
      return encodeBlob(priv, pub);
    });
    this.forget(file);
    writeFileAtomic(file, blob);
  }

  async wrap(key: KeyHandle, dataKey: Uint8Array): Promise<Uint8Array> {
    checkKeyHandle(key);
    checkDataKey(dataKey);
    const file = this.file(key, "storage");
    const blob = this.blob(key, "storage");
    return this.run(`wrap under ${key}`, "repeatable", (c) => {
      const { priv, pub } = c.create(
        this.load(c, file, blob),
        sensitiveCreate(dataKey),
        sealedPublicTemplate(),
      );
      return encodeBlob(priv, pub);
    });
  }

  async unwrap(key: KeyHandle, wrapped: Uint8Array): Promise<Uint8Array> {
    checkKeyHandle(key);
    const file = this.file(key, "storage");
    const blob = this.blob(key, "storage");
    let sealed: { priv: Uint8Array; pub: Uint8Array };
    try {
      sealed = decodeBlob(wrapped);
    } catch (e) {
      throw new WrapIntegrityError(`wrapped key is malformed: ${(e as Error).message}`);
    }
    return this.run(`unwrap under ${key}`, "repeatable", (c) => {
      const parent = this.load(c, file, blob);
      let item: number;
      try {
        item = c.load(parent, sealed.priv, sealed.pub);
      } catch (e) {
        if (e instanceof TssError && e.kind === "command" && e.tpmError !== RC.HANDLE) {
          throw new WrapIntegrityError(
            `wrapped key refused by storage key ${key}: changed or sealed under another key (${e.message})`,
          );
        }
        throw e;
      }
      try {
        return this.parse("unsealed data", () => parse2b(c.unseal(item), "TPM2B_SENSITIVE_DATA"));
      } finally {
        c.flush(item);
      }
    });
  }

  async readCounter(counter: number): Promise<bigint> {
    checkCounter(counter);
    return this.run(`read counter ${counter}`, "repeatable", (c) => {
      const nv = this.counterHandle(c, counter, false);
      if (nv === undefined) return 0n;
      try {
        return u64(this.parse("counter", () => parse2b(c.nvRead(nv, 8), "TPM2B_MAX_NV_BUFFER")));
      } catch (e) {
        if (e instanceof TssError && e.tpmError === RC.NV_UNINITIALIZED) return 0n;
        throw e;
      }
    });
  }

  async incrementCounter(counter: number): Promise<bigint> {
    checkCounter(counter);
    // Not repeated after a lost answer: the TPM may have counted already.
    return this.run(`increment counter ${counter}`, "once", (c) => {
      const nv = this.counterHandle(c, counter, true) as number;
      c.nvIncrement(nv);
      return u64(this.parse("counter", () => parse2b(c.nvRead(nv, 8), "TPM2B_MAX_NV_BUFFER")));
    });
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => this.reset());
  }

  /** Run `op` on a live context, retrying as `tpmRecovery` says. */
  private run<T>(what: string, repeat: Repeat, op: (c: TssContext) => T): Promise<T> {
    return this.mutex.run(async () => {
      const busyAttempts = this.options.busyAttempts ?? 4;
      for (let attempt = 0; ; attempt++) {
        try {
          return op(this.context());
        } catch (e) {
          if (!(e instanceof TssError)) throw e;
          const next = tpmRecovery(what, e, attempt, repeat, busyAttempts);
          if (e.kind === "memory") this.flushOthers = true;
          if (next.reset) this.reset();
          if (next.error) throw next.error;
          if (next.delayMs) await Bun.sleep(next.delayMs);
        }
      }
    });
  }

  private context(): TssContext {
    if (this.ctx) return this.ctx;
    const c = TssContext.open(this.tcti);
    try {
      if (this.flushOthers) {
        // Without a resource manager (swtpm, /dev/tpm0) objects a crashed predecessor left
        // loaded fill the TPM's few slots; this unit is the TPM's only user, so clear them.
        for (const h of c.transientHandles()) c.flush(c.fromTpmPublic(h));
        this.flushOthers = false;
      }
      this.primary = c.createPrimary(eccPublicTemplate("storage")).handle;
    } catch (e) {
      c.close();
      throw e;
    }
    this.ctx = c;
    return c;
  }

  /** Drop the context; what it had loaded is flushed if the TPM still answers. */
  private reset(): void {
    this.forget();
    if (this.primary && this.ctx) {
      try {
        this.ctx.flush(this.primary);
      } catch {
        // gone with the TPM's restart, or the connection is dead
      }
    }
    this.counters.clear();
    this.primary = 0;
    this.ctx?.close();
    this.ctx = undefined;
  }

  /** Flush the loaded key (all, or only the one from `file`). */
  private forget(file?: string): void {
    const l = this.loaded;
    if (!l || (file !== undefined && l.file !== file)) return;
    this.loaded = undefined;
    try {
      this.ctx?.flush(l.handle);
    } catch {
      // a dead context has lost the object anyway
    }
  }

  private load(c: TssContext, file: string, blob: Uint8Array): number {
    if (this.loaded?.file === file) return this.loaded.handle;
    this.forget();
    const { priv, pub } = this.parse(path.basename(file), () => decodeBlob(blob));
    let handle: number;
    try {
      handle = c.load(this.primary, priv, pub);
    } catch (e) {
      if (e instanceof TssError && e.kind === "command") {
        throw new TpmCommandError(
          `${path.basename(file)} does not load under this TPM's primary key (another TPM, or the owner hierarchy was cleared): ${e.message}`,
        );
      }
      throw e;
    }
    this.loaded = { file, handle };
    return handle;
  }

  private counterHandle(c: TssContext, counter: number, create: boolean): number | undefined {
    const known = this.counters.get(counter);
    if (known !== undefined) return known;
    const index = NV_COUNTER_BASE + counter;
    let nv: number;
    try {
      nv = c.fromTpmPublic(index);
    } catch (e) {
      if (!(e instanceof TssError) || e.tpmError !== RC.HANDLE) throw e;
      if (!create) return undefined;
      nv = c.nvDefineSpace(nvCounterPublic(index));
    }
    this.counters.set(counter, nv);
    return nv;
  }

  private file(key: KeyHandle, kind: "keypair" | "storage" | "cert"): string {
    return path.join(this.options.stateDir, `${key}.${kind}`);
  }

  private blob(key: KeyHandle, kind: "keypair" | "storage"): Uint8Array {
    const b = readFileIfExists(this.file(key, kind));
    if (!b) {
      throw new KeyNotFoundError(
        kind === "keypair" ? `no TPM key pair ${key}` : `no TPM storage key ${key}`,
      );
    }
    return b;
  }

  private publicKeyOf(key: KeyHandle, blob: Uint8Array): PublicKeyInfo {
    return this.parse(`public key of ${key}`, () => {
      const { x, y } = parseEccPublic(decodeBlob(blob).pub);
      const point = new Uint8Array(1 + 2 * COORDINATE);
      point[0] = 0x04;
      point.set(leftPad(x, COORDINATE), 1);
      point.set(leftPad(y, COORDINATE), 1 + COORDINATE);
      return publicKeyInfo("prime256v1", point);
    });
  }

  private parse<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof TpmMarshalError) throw new ProtocolError(`${what}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * What to do after a failed TPM call: drop the context (`reset`), and either try again (after
 * `delayMs`) or give up with `error`. A lost connection or lost objects are retried once (an
 * increment only when the command surely did not run); a busy TPM a few times with backoff.
 */
export function tpmRecovery(
  what: string,
  e: TssError,
  attempt: number,
  repeat: Repeat,
  busyAttempts: number,
): { reset: boolean; delayMs?: number; error?: Error } {
  switch (e.kind) {
    case "connection":
    case "initialize":
      if (repeat === "repeatable" && attempt === 0) return { reset: true };
      return {
        reset: true,
        error: new UnavailableError(`${what}: TPM not reachable (${e.message})`),
      };
    case "stale":
      // The TPM lost our objects (it was restarted); the command did not run.
      if (attempt === 0) return { reset: true };
      return {
        reset: true,
        error: new UnavailableError(`${what}: TPM keeps losing loaded objects (${e.message})`),
      };
    case "busy":
      if (attempt + 1 < busyAttempts) return { reset: false, delayMs: 20 * 2 ** attempt };
      return { reset: false, error: new UnavailableError(`${what}: TPM busy (${e.message})`) };
    case "memory":
      if (attempt === 0) return { reset: true };
      return {
        reset: true,
        error: new UnavailableError(`${what}: TPM out of object memory (${e.message})`),
      };
    case "lockout":
      return {
        reset: false,
        error: new RefusedError(
          `${what}: the TPM is in dictionary-attack lockout; it recovers after its recovery ` +
            `time or a lockout reset (${e.message})`,
        ),
      };
    case "auth":
      return {
        reset: false,
        error: new RefusedError(`${what}: authorisation failed (${e.message})`),
      };
    case "command":
      return { reset: false, error: new TpmCommandError(`${what}: ${e.message}`) };
  }
}

function leftPad(v: Uint8Array, size: number): Uint8Array {
  if (v.length > size) throw new ProtocolError(`coordinate of ${v.length} bytes, expected ${size}`);
  const out = new Uint8Array(size);
  out.set(v, size - v.length);
  return out;
}

function u64(b: Uint8Array): bigint {
  if (b.length !== 8) throw new ProtocolError(`counter of ${b.length} bytes, expected 8`);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
}
