// The security module on a smart card: the SecurityModule interface as APDUs of the command
// set in commands.ts. A session is SELECT + VERIFY PIN; every operation runs inside one
// PC/SC transaction. A broken connection (card removed, reader gone, pcscd restarted) drops
// the session; the next call connects again, and calls that are safe to repeat are retried
// once at once.
import {
  ApduError,
  type CommandApdu,
  decodeResponse,
  describeSw,
  encodeCommand,
  SW,
} from "../apdu.ts";
import {
  checkPointEncoding,
  curveOfOid,
  DerError,
  encodeEcdsaSignature,
  FIELD_BYTES,
  peerPoint,
  publicKeyInfo,
} from "../der.ts";
import { Mutex } from "../files.ts";
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
import { readAll, readOne, TlvError, tlv } from "../tlv.ts";
import {
  AID,
  ALG_AES256,
  CLA_ISO,
  CLA_PROPRIETARY,
  CRT,
  CURVE_IDS,
  certificateFid,
  GET_DATA_COUNTER,
  INS,
  isEcKeyRef,
  isStorageKeyRef,
  MAX_CHALLENGE,
  MAX_FILE_SIZE,
  PIN_MAX,
  PIN_MIN,
  PIN_REFERENCE,
  TAG,
} from "./commands.ts";
import { CardConnectionError, type CardTransport } from "./transport.ts";

/** The card answered with a status word the operation does not expect. */
export class CardStatusError extends SecurityModuleError {
  override name = "CardStatusError";
  override readonly code = "card-status";
  constructor(
    readonly sw: number,
    what: string,
  ) {
    super(`${what}: card answered ${describeSw(sw)}`);
  }
}

/** Key handles of the gateway and their key references on the card. */
export const DEFAULT_CARD_SLOTS: Readonly<Record<KeyHandle, number>> = {
  "tls-wan": 0x01,
  "tls-han": 0x02,
  "tls-cls": 0x03,
  sign: 0x04,
  enc: 0x05,
  "test-a": 0x0e,
  "test-b": 0x0f,
  // One storage key per secure-storage domain: a data key unwraps only in its own domain.
  "storage-meter": 0x11,
  "storage-admin": 0x12,
  "storage-cls": 0x13,
  "storage-display": 0x14,
  "storage-system-log": 0x15,
  "storage-consumer-log": 0x16,
  "storage-calibration-log": 0x17,
  // The meter domain's own wrapping key: the meters' AES keys are kept wrapped under it.
  "wrap-meter-keys": 0x18,
  "test-storage-b": 0x1e,
  "test-storage": 0x1f,
};

/** Parse "name=ref,name=ref" (ref decimal or 0x-hex) into a slot table. */
export function parseSlots(text: string): Record<KeyHandle, number> {
  const out: Record<KeyHandle, number> = {};
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([a-z0-9-]{1,32})=(0x[0-9a-fA-F]{1,2}|[0-9]{1,3})$/.exec(part);
    if (!m) throw new InvalidArgumentError(`slot "${part}" is not name=reference`);
    const name = m[1] as string;
    const ref = Number(m[2]);
    if (!isEcKeyRef(ref) && !isStorageKeyRef(ref)) {
      throw new InvalidArgumentError(`slot ${name}: reference ${m[2]} is not 01…0F or 11…1F`);
    }
    if (Object.hasOwn(out, name)) throw new InvalidArgumentError(`slot ${name} given twice`);
    out[name] = ref;
  }
  return out;
}

export interface CardModuleOptions {
  pin: string | Uint8Array;
  slots?: Readonly<Record<KeyHandle, number>>;
  /** "software" when the card is the in-process development card. */
  kind?: "card" | "software";
}

// Operations that change nothing on a second run (or only replace what the first made).
const REPEATABLE = true;

export class CardModule implements SecurityModule {
  readonly kind: "card" | "software";
  private readonly pin: Uint8Array;
  private readonly slots: Readonly<Record<KeyHandle, number>>;
  private session = false;
  private pinRejected: string | undefined;
  private readonly publicKeys = new Map<number, PublicKeyInfo>();
  private readonly mutex = new Mutex();

  constructor(
    private readonly transport: CardTransport,
    options: CardModuleOptions,
  ) {
    this.kind = options.kind ?? "card";
    this.pin = typeof options.pin === "string" ? Buffer.from(options.pin, "utf8") : options.pin;
    if (this.pin.length < PIN_MIN || this.pin.length > PIN_MAX) {
      throw new InvalidArgumentError(`PIN must be ${PIN_MIN}…${PIN_MAX} bytes`);
    }
    this.slots = options.slots ?? DEFAULT_CARD_SLOTS;
  }

  async info(): Promise<ModuleInfo> {
    const data = await this.run("card info", REPEATABLE, () =>
      this.command("GET DATA (card info)", {
        cla: CLA_PROPRIETARY,
        ins: INS.GET_DATA,
        p1: 0,
        p2: 0,
        le: 256,
      }),
    );
    const items = this.parse("card info", () => readAll(readOne(data, TAG.CARD_INFO).value));
    const get = (tag: number) => items.find((t) => t.tag === tag)?.value;
    const serial = Buffer.from(get(TAG.SERIAL) ?? new Uint8Array(0)).toString("hex");
    const version = get(TAG.VERSION)?.[0] ?? 0;
    const tries = get(TAG.PIN_TRIES)?.[0];
    return {
      kind: this.kind,
      description:
        `security-module card ${serial} (version ${version}, PIN tries left ${tries ?? "?"}) ` +
        `via ${this.transport.describe()}`,
      curves: ["brainpoolP256r1", "brainpoolP384r1", "prime256v1"],
    };
  }

  async generateKeyPair(key: KeyHandle, curve: Curve): Promise<PublicKeyInfo> {
    const ref = this.ecRef(key);
    const id = CURVE_IDS[curve];
    if (id === undefined) throw new InvalidArgumentError(`curve ${curve} not offered by the card`);
    const data = await this.run(`generate ${key}`, REPEATABLE, () =>
      this.command(`GENERATE ASYMMETRIC KEY PAIR ${key}`, {
        cla: CLA_ISO,
        ins: INS.GENERATE_KEY,
        p1: 0x00,
        p2: 0x00,
        data: Uint8Array.from([
          ...tlv(TAG.KEY_REF, Uint8Array.of(ref)),
          ...tlv(TAG.ALGORITHM, Uint8Array.of(id)),
        ]),
        le: 256,
      }),
    );
    const info = this.parsePublicKey(key, data);
    if (info.curve !== curve)
      throw new ProtocolError(`card generated ${info.curve}, asked ${curve}`);
    this.publicKeys.set(ref, info);
    return info;
  }

  async publicKey(key: KeyHandle): Promise<PublicKeyInfo> {
    const ref = this.ecRef(key);
    const cached = this.publicKeys.get(ref);
    if (cached) return cached;
    const data = await this.run(`public key of ${key}`, REPEATABLE, () =>
      this.command(`read public key ${key}`, {
        cla: CLA_ISO,
        ins: INS.GENERATE_KEY,
        p1: 0x01,
        p2: 0x00,
        data: tlv(TAG.KEY_REF, Uint8Array.of(ref)),
        le: 256,
      }),
    );
    const info = this.parsePublicKey(key, data);
    this.publicKeys.set(ref, info);
    return info;
  }

  async sign(key: KeyHandle, digest: Uint8Array): Promise<Uint8Array> {
    if (!(digest instanceof Uint8Array) || digest.length < 20 || digest.length > 64) {
      throw new InvalidArgumentError("digest must be 20…64 bytes");
    }
    const ref = this.ecRef(key);
    const { curve } = await this.publicKey(key);
    const plain = await this.run(`sign with ${key}`, REPEATABLE, async () => {
      await this.mse(CRT.DST, ref, key);
      return this.command(`PSO: COMPUTE DIGITAL SIGNATURE ${key}`, {
        cla: CLA_ISO,
        ins: INS.PSO,
        p1: 0x9e,
        p2: 0x9a,
        data: digest,
        le: 256,
      });
    });
    const n = FIELD_BYTES[curve];
    if (plain.length !== 2 * n) {
      throw new ProtocolError(`signature of ${plain.length} bytes, expected ${2 * n} for ${curve}`);
    }
    return encodeEcdsaSignature(plain.subarray(0, n), plain.subarray(n));
  }

  async agree(key: KeyHandle, peer: Uint8Array): Promise<Uint8Array> {
    const ref = this.ecRef(key);
    const { curve } = await this.publicKey(key);
    const point = peerPoint(curve, peer);
    const data = await this.run(`key agreement with ${key}`, REPEATABLE, async () => {
      await this.mse(CRT.AT, ref, key);
      return this.command(
        `GENERAL AUTHENTICATE ${key}`,
        {
          cla: CLA_ISO,
          ins: INS.GENERAL_AUTHENTICATE,
          p1: 0,
          p2: 0,
          data: tlv(TAG.DYNAMIC_AUTH, tlv(TAG.PEER_POINT, point)),
          le: 256,
        },
        {
          [SW.WRONG_DATA]: () =>
            new InvalidArgumentError("the card rejected the peer's public key"),
        },
      );
    });
    const z = this.parse("key agreement response", () => {
      const outer = readOne(data, TAG.DYNAMIC_AUTH);
      return readOne(outer.value, TAG.SHARED_SECRET).value;
    });
    if (z.length !== FIELD_BYTES[curve]) {
      throw new ProtocolError(`shared secret of ${z.length} bytes for ${curve}`);
    }
    return z.slice();
  }

  async random(length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > 4096) {
      throw new InvalidArgumentError("random length must be 1…4096");
    }
    const out = new Uint8Array(length);
    let pos = 0;
    while (pos < length) {
      const want = Math.min(MAX_CHALLENGE, length - pos);
      const chunk = await this.run("GET CHALLENGE", REPEATABLE, () =>
        this.command("GET CHALLENGE", {
          cla: CLA_ISO,
          ins: INS.GET_CHALLENGE,
          p1: 0,
          p2: 0,
          le: want,
        }),
      );
      if (chunk.length !== want) {
        throw new ProtocolError(`GET CHALLENGE gave ${chunk.length} bytes, asked ${want}`);
      }
      out.set(chunk, pos);
      pos += want;
    }
    return out;
  }

  async certificate(key: KeyHandle): Promise<Uint8Array | undefined> {
    const ref = this.ecRef(key);
    const content = await this.run(`certificate of ${key}`, REPEATABLE, async () => {
      const size = await this.selectCertificate(ref, key);
      if (size === 0) return new Uint8Array(0);
      return this.command(`READ BINARY certificate ${key}`, {
        cla: CLA_ISO,
        ins: INS.READ_BINARY,
        p1: 0,
        p2: 0,
        le: size,
      });
    });
    if (content.length === 0) return undefined;
    this.parse(`certificate of ${key}`, () => readOne(content, 0x30));
    return content;
  }

  async storeCertificate(key: KeyHandle, der: Uint8Array): Promise<void> {
    const ref = this.ecRef(key);
    if (!(der instanceof Uint8Array) || der.length < 2 || der.length > MAX_FILE_SIZE) {
      throw new InvalidArgumentError(`certificate must be 2…${MAX_FILE_SIZE} bytes of DER`);
    }
    try {
      readOne(der, 0x30);
    } catch (e) {
      throw new InvalidArgumentError(
        `certificate is not one DER SEQUENCE: ${(e as Error).message}`,
      );
    }
    await this.run(`store certificate of ${key}`, REPEATABLE, async () => {
      await this.selectCertificate(ref, key);
      await this.command(`ERASE BINARY certificate ${key}`, {
        cla: CLA_ISO,
        ins: INS.ERASE_BINARY,
        p1: 0,
        p2: 0,
      });
      await this.command(`UPDATE BINARY certificate ${key}`, {
        cla: CLA_ISO,
        ins: INS.UPDATE_BINARY,
        p1: 0,
        p2: 0,
        data: der,
      });
    });
  }

  async generateStorageKey(key: KeyHandle): Promise<void> {
    const ref = this.storageRef(key);
    await this.run(`generate storage key ${key}`, REPEATABLE, () =>
      this.command(`GENERATE storage key ${key}`, {
        cla: CLA_PROPRIETARY,
        ins: INS.GENERATE_KEY,
        p1: 0,
        p2: 0,
        data: Uint8Array.from([
          ...tlv(TAG.KEY_REF, Uint8Array.of(ref)),
          ...tlv(TAG.ALGORITHM, Uint8Array.of(ALG_AES256)),
        ]),
      }),
    );
  }

  async wrap(key: KeyHandle, dataKey: Uint8Array): Promise<Uint8Array> {
    const ref = this.storageRef(key);
    checkDataKey(dataKey);
    return this.run(`wrap under ${key}`, REPEATABLE, async () => {
      await this.mse(CRT.CT, ref, key);
      return this.command(`PSO: ENCIPHER ${key}`, {
        cla: CLA_ISO,
        ins: INS.PSO,
        p1: 0x86,
        p2: 0x80,
        data: dataKey,
        le: 256,
      });
    });
  }

  async unwrap(key: KeyHandle, wrapped: Uint8Array): Promise<Uint8Array> {
    const ref = this.storageRef(key);
    if (!(wrapped instanceof Uint8Array) || wrapped.length < 1 || wrapped.length > 255) {
      throw new WrapIntegrityError("wrapped key must be 1…255 bytes");
    }
    return this.run(`unwrap under ${key}`, REPEATABLE, async () => {
      await this.mse(CRT.CT, ref, key);
      return this.command(
        `PSO: DECIPHER ${key}`,
        { cla: CLA_ISO, ins: INS.PSO, p1: 0x80, p2: 0x86, data: wrapped, le: 256 },
        {
          [SW.WRONG_DATA]: () =>
            new WrapIntegrityError(
              `wrapped key refused by storage key ${key}: changed or wrapped under another key`,
            ),
        },
      );
    });
  }

  async readCounter(counter: number): Promise<bigint> {
    checkCounter(counter);
    const data = await this.run(`read counter ${counter}`, REPEATABLE, () =>
      this.command(`GET DATA counter ${counter}`, {
        cla: CLA_PROPRIETARY,
        ins: INS.GET_DATA,
        p1: GET_DATA_COUNTER,
        p2: counter,
        le: 8,
      }),
    );
    return counterValue(data);
  }

  async incrementCounter(counter: number): Promise<bigint> {
    checkCounter(counter);
    // Not repeated after a lost answer: the card may have counted already.
    const data = await this.run(`increment counter ${counter}`, false, () =>
      this.command(`INCREASE counter ${counter}`, {
        cla: CLA_PROPRIETARY,
        ins: INS.INCREASE,
        p1: 0,
        p2: counter,
        le: 8,
      }),
    );
    return counterValue(data);
  }

  async close(): Promise<void> {
    this.session = false;
    this.publicKeys.clear();
    await this.transport.disconnect();
  }

  // ---- session and command plumbing ----

  private ecRef(key: KeyHandle): number {
    checkKeyHandle(key);
    const ref = this.slots[key];
    if (ref === undefined || !Object.hasOwn(this.slots, key)) {
      throw new KeyNotFoundError(`no card key slot for key handle ${key}`);
    }
    if (!isEcKeyRef(ref))
      throw new InvalidArgumentError(`${key} names a storage key, not a key pair`);
    return ref;
  }

  private storageRef(key: KeyHandle): number {
    checkKeyHandle(key);
    const ref = this.slots[key];
    if (ref === undefined || !Object.hasOwn(this.slots, key)) {
      throw new KeyNotFoundError(`no card key slot for storage key ${key}`);
    }
    if (!isStorageKeyRef(ref))
      throw new InvalidArgumentError(`${key} names a key pair, not a storage key`);
    return ref;
  }

  // One operation at a time: MSE and the PSO after it must not interleave with another call's.
  private run<T>(what: string, repeatable: boolean, op: () => Promise<T>): Promise<T> {
    return this.mutex.run(() => this.runNow(what, repeatable, op));
  }

  private async runNow<T>(what: string, repeatable: boolean, op: () => Promise<T>): Promise<T> {
    if (this.pinRejected) throw new RefusedError(this.pinRejected);
    for (let attempt = 0; ; attempt++) {
      try {
        if (!this.transport.connected) {
          this.session = false;
          await this.transport.connect();
        }
        return await this.transport.exclusive(async () => {
          if (!this.session) await this.openSession();
          return op();
        });
      } catch (e) {
        if (e instanceof CardConnectionError) {
          this.session = false;
          this.publicKeys.clear();
          await this.transport.disconnect();
          if (repeatable && attempt === 0) continue;
          throw new UnavailableError(`${what}: ${e.message}`);
        }
        if (e instanceof ProtocolError) {
          // The card's state is unknown after a garbled answer: start the next call afresh.
          this.session = false;
          throw new ProtocolError(`${what}: ${e.message}`);
        }
        throw e;
      }
    }
  }

  private async openSession(): Promise<void> {
    await this.command(
      "SELECT security-module application",
      { cla: CLA_ISO, ins: INS.SELECT, p1: 0x04, p2: 0x0c, data: AID },
      {
        [SW.FILE_NOT_FOUND]: () =>
          new UnavailableError(
            `${this.transport.describe()}: no security-module application on the card`,
          ),
      },
    );
    const verify = await this.exchange({
      cla: CLA_ISO,
      ins: INS.VERIFY,
      p1: 0x00,
      p2: PIN_REFERENCE,
      data: this.pin,
    });
    if (verify.sw === SW.AUTH_BLOCKED) {
      this.pinRejected = "the card's PIN is blocked";
      throw new RefusedError(this.pinRejected);
    }
    if ((verify.sw & 0xfff0) === 0x63c0) {
      // Never try a wrong PIN twice: the card would block after its last try.
      this.pinRejected = `the configured PIN was refused (${verify.sw & 0x0f} tries left); fix the configuration and restart`;
      throw new RefusedError(this.pinRejected);
    }
    if (verify.sw !== SW.OK) throw new CardStatusError(verify.sw, "VERIFY PIN");
    this.session = true;
  }

  private async mse(template: number, ref: number, key: KeyHandle): Promise<void> {
    await this.command(
      `MSE: SET ${key}`,
      {
        cla: CLA_ISO,
        ins: INS.MSE,
        p1: 0x41,
        p2: template,
        data: tlv(TAG.KEY_REF, Uint8Array.of(ref)),
      },
      { [SW.REF_NOT_FOUND]: () => new KeyNotFoundError(`no key ${key} on the card`) },
    );
  }

  private async exchange(c: CommandApdu): Promise<{ data: Uint8Array; sw: number }> {
    const raw = await this.transport.transmit(encodeCommand(c));
    try {
      return decodeResponse(raw);
    } catch (e) {
      if (e instanceof ApduError) throw new ProtocolError(`malformed response: ${e.message}`);
      throw e;
    }
  }

  /** Send a command; its data on 9000 (or 6282 for reads), a mapped error otherwise. */
  private async command(
    what: string,
    c: CommandApdu,
    errors: Record<number, () => Error> = {},
  ): Promise<Uint8Array> {
    const r = await this.exchange(c);
    if (r.sw === SW.OK || (r.sw === SW.EOF_BEFORE_LE && c.ins === INS.READ_BINARY)) {
      if (r.data.length > (c.le ?? 0)) {
        this.session = false;
        throw new ProtocolError(
          `${what}: ${r.data.length} response bytes where ${c.le ?? 0} at most were asked for`,
        );
      }
      return r.data;
    }
    const mapped = errors[r.sw];
    if (mapped) throw mapped();
    if (r.sw === SW.SECURITY_STATUS) {
      this.session = false;
      throw new RefusedError(`${what}: the card requires the PIN (security status not satisfied)`);
    }
    if (r.sw === SW.AUTH_BLOCKED) {
      this.pinRejected = "the card's PIN is blocked";
      throw new RefusedError(`${what}: ${this.pinRejected}`);
    }
    if (r.sw === SW.REF_NOT_FOUND) throw new KeyNotFoundError(`${what}: no such key on the card`);
    if (r.data.length > 0 || r.sw === SW.UNKNOWN) {
      this.session = false;
      throw new ProtocolError(
        `${what}: card answered ${describeSw(r.sw)} with ${r.data.length} data bytes`,
      );
    }
    throw new CardStatusError(r.sw, what);
  }

  private async selectCertificate(ref: number, key: KeyHandle): Promise<number> {
    const fid = certificateFid(ref);
    const fcp = await this.command(`SELECT certificate file of ${key}`, {
      cla: CLA_ISO,
      ins: INS.SELECT,
      p1: 0x02,
      p2: 0x04,
      data: Uint8Array.of(fid >> 8, fid & 0xff),
      le: 256,
    });
    return this.parse("file control parameters", () => {
      const size = readAll(readOne(fcp, TAG.FCP).value).find((t) => t.tag === TAG.FILE_SIZE)?.value;
      if (size?.length !== 2) throw new ProtocolError("FCP without a 2-byte file size");
      const n = ((size[0] ?? 0) << 8) | (size[1] ?? 0);
      if (n > MAX_FILE_SIZE) throw new ProtocolError(`file size ${n} beyond ${MAX_FILE_SIZE}`);
      return n;
    });
  }

  private parsePublicKey(key: KeyHandle, data: Uint8Array): PublicKeyInfo {
    return this.parse(`public key of ${key}`, () => {
      const items = readAll(readOne(data, TAG.PUBLIC_KEY).value);
      const oid = items.find((t) => t.tag === TAG.CURVE_OID)?.value;
      const point = items.find((t) => t.tag === TAG.POINT)?.value;
      if (!oid || !point) throw new ProtocolError("public key template without curve or point");
      const curve = curveOfOid(oid);
      if (!curve) throw new ProtocolError("public key on an unknown curve");
      checkPointEncoding(curve, point);
      return publicKeyInfo(curve, point.slice());
    });
  }

  private parse<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof TlvError || e instanceof DerError) {
        this.session = false;
        throw new ProtocolError(`${what}: ${e.message}`);
      }
      throw e;
    }
  }
}

function counterValue(data: Uint8Array): bigint {
  if (data.length !== 8) throw new ProtocolError(`counter of ${data.length} bytes, expected 8`);
  return new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0);
}
