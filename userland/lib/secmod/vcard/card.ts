// The virtual security-module card: an ISO/IEC 7816-4 APDU processor implementing the
// command set in card/commands.ts (modelled on TR-03109-2's functions). It holds its private
// keys in libcrypto and in its state file; none of its commands returns one.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ApduError, type CommandApdu, decodeCommand, encodeResponse, SW } from "../apdu.ts";
import {
  AID,
  ALG_AES256,
  CLA_ISO,
  CLA_PROPRIETARY,
  COUNTER_COUNT,
  CRT,
  certificateFid,
  curveOfId,
  GET_DATA_COUNTER,
  INS,
  isEcKeyRef,
  isStorageKeyRef,
  MAX_CHALLENGE,
  MAX_FILE_SIZE,
  PIN_MAX,
  PIN_MIN,
  PIN_REFERENCE,
  PIN_TRIES,
  TAG,
  WRAP_FORMAT_GCM,
} from "../card/commands.ts";
import {
  CURVE_OIDS,
  checkPointEncoding,
  decodeEcdsaSignature,
  decodeSpki,
  encodeSpki,
  FIELD_BYTES,
} from "../der.ts";
import { EcKey, OpenSslError } from "../ossl.ts";
import { concat, readAll, type Tlv, TlvError, tlv } from "../tlv.ts";
import { type CardState, type CardStore, newCardState, pinMatches } from "./state.ts";

/** Ways the card can be told to answer wrongly (tests of the host's recovery). */
export type Misbehaviour = "truncate" | "garbage" | "bad-sw" | "none";

class CardStatus extends Error {
  constructor(readonly sw: number) {
    super(`SW ${sw.toString(16)}`);
  }
}

const ok = (data: Uint8Array = new Uint8Array(0)) => encodeResponse(data, SW.OK);

export interface VirtualCardOptions {
  /** PIN used when the store is empty (the card's personalisation). */
  initialPin: Uint8Array;
  /** Version byte reported in the card info. */
  version?: number;
}

export class VirtualCard {
  private state: CardState;
  private readonly keys = new Map<number, EcKey>();
  // Session state, cleared by power-on, reset and SELECT of the application.
  private selected = false;
  private pinVerified = false;
  private se: { dst?: number; at?: number; ct?: number } = {};
  private currentFile: number | undefined;
  private misbehaviour: { mode: Misbehaviour; count: number; ins?: number } = {
    mode: "none",
    count: 0,
  };
  /** APDUs processed since start (status of the card process). */
  apdus = 0;

  constructor(
    private readonly store: CardStore,
    private readonly options: VirtualCardOptions,
  ) {
    const loaded = store.load();
    if (loaded) {
      this.state = loaded;
    } else {
      this.state = newCardState(options.initialPin);
      store.save(this.state);
    }
    for (const [ref, k] of Object.entries(this.state.ecKeys)) {
      const der = Buffer.from(k.private, "base64");
      this.keys.set(Number(ref), EcKey.fromPrivateDer(der, k.curve));
      der.fill(0);
    }
  }

  /** ATR: T=1, historical bytes "SMGW-VSM"; TCK is the XOR of T0…last historical byte. */
  static readonly ATR: Uint8Array = (() => {
    const hist = Buffer.from("SMGW-VSM", "latin1");
    const body = [0x88, 0x80, 0x01, ...hist];
    const tck = body.reduce((a, b) => a ^ b, 0);
    return Uint8Array.from([0x3b, ...body, tck]);
  })();

  /** Power-on or warm reset: the session state is lost, the persistent state stays. */
  reset(): void {
    this.selected = false;
    this.pinVerified = false;
    this.se = {};
    this.currentFile = undefined;
  }

  /** Answer the next `count` commands (only those with instruction `ins`, if given) wrongly. */
  misbehave(mode: Misbehaviour, count = 1, ins?: number): void {
    this.misbehaviour = {
      mode,
      count: mode === "none" ? 0 : count,
      ...(ins === undefined ? {} : { ins }),
    };
  }

  get pinTriesLeft(): number {
    return this.state.pinTries;
  }

  process(raw: Uint8Array): Uint8Array {
    this.apdus++;
    let response: Uint8Array;
    const ins = raw[1];
    try {
      response = this.dispatch(decodeCommand(raw));
    } catch (e) {
      if (e instanceof CardStatus) response = encodeResponse(new Uint8Array(0), e.sw);
      else if (e instanceof ApduError || e instanceof TlvError) {
        response = encodeResponse(new Uint8Array(0), SW.WRONG_LENGTH);
      } else response = encodeResponse(new Uint8Array(0), SW.UNKNOWN);
    }
    return this.maybeMisbehave(response, ins);
  }

  private maybeMisbehave(response: Uint8Array, ins: number | undefined): Uint8Array {
    const m = this.misbehaviour;
    if (m.mode === "none" || m.count <= 0) return response;
    if (m.ins !== undefined && m.ins !== ins) return response;
    m.count--;
    if (m.count === 0) this.misbehaviour = { mode: "none", count: 0 };
    switch (m.mode) {
      case "truncate":
        return response.slice(0, 1);
      case "garbage":
        return encodeResponse(randomBytes(3), SW.OK);
      case "bad-sw":
        return encodeResponse(new Uint8Array(0), SW.UNKNOWN);
    }
  }

  private dispatch(c: CommandApdu): Uint8Array {
    if (c.cla !== CLA_ISO && c.cla !== CLA_PROPRIETARY) throw new CardStatus(SW.CLA_NOT_SUPPORTED);
    if (c.cla === CLA_ISO && c.ins === INS.SELECT) return this.select(c);
    if (!this.selected) throw new CardStatus(SW.CONDITIONS);
    if (c.cla === CLA_ISO) {
      switch (c.ins) {
        case INS.VERIFY:
          return this.verify(c);
        case INS.MSE:
          return this.mse(c);
        case INS.PSO:
          return this.pso(c);
        case INS.GENERAL_AUTHENTICATE:
          return this.keyAgreement(c);
        case INS.GET_CHALLENGE:
          return this.getChallenge(c);
        case INS.GENERATE_KEY:
          return this.generateKeyPair(c);
        case INS.READ_BINARY:
          return this.readBinary(c);
        case INS.UPDATE_BINARY:
          return this.updateBinary(c);
        case INS.ERASE_BINARY:
          return this.eraseBinary(c);
      }
    } else {
      switch (c.ins) {
        case INS.GENERATE_KEY:
          return this.generateStorageKey(c);
        case INS.GET_DATA:
          return this.getData(c);
        case INS.INCREASE:
          return this.increase(c);
      }
    }
    throw new CardStatus(SW.INS_NOT_SUPPORTED);
  }

  private needPin(): void {
    if (this.state.pinTries === 0) throw new CardStatus(SW.AUTH_BLOCKED);
    if (!this.pinVerified) throw new CardStatus(SW.SECURITY_STATUS);
  }

  private save(): void {
    this.store.save(this.state);
  }

  private select(c: CommandApdu): Uint8Array {
    const data = c.data ?? new Uint8Array(0);
    if (c.p1 === 0x04) {
      if (c.p2 !== 0x0c && c.p2 !== 0x00) throw new CardStatus(SW.WRONG_P1P2);
      if (!Buffer.from(data).equals(Buffer.from(AID))) throw new CardStatus(SW.FILE_NOT_FOUND);
      this.reset();
      this.selected = true;
      return c.p2 === 0x0c ? ok() : ok(tlv(0x6f, tlv(0x84, AID)));
    }
    if (c.p1 === 0x02) {
      if (!this.selected) throw new CardStatus(SW.CONDITIONS);
      if (data.length !== 2) throw new CardStatus(SW.WRONG_LENGTH);
      const fid = ((data[0] ?? 0) << 8) | (data[1] ?? 0);
      if ((fid & 0xff00) !== 0xc000 || !isEcKeyRef(fid & 0xff)) {
        throw new CardStatus(SW.FILE_NOT_FOUND);
      }
      this.currentFile = fid;
      if (c.p2 === 0x0c) return ok();
      if (c.p2 !== 0x04) throw new CardStatus(SW.WRONG_P1P2);
      const size = this.file(fid).length;
      return ok(
        tlv(
          TAG.FCP,
          tlv(TAG.FILE_SIZE, Uint8Array.of(size >> 8, size & 0xff)),
          tlv(TAG.FILE_ID, Uint8Array.of(fid >> 8, fid & 0xff)),
        ),
      );
    }
    throw new CardStatus(SW.WRONG_P1P2);
  }

  private verify(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0x00 || c.p2 !== PIN_REFERENCE) throw new CardStatus(SW.WRONG_P1P2);
    const data = c.data ?? new Uint8Array(0);
    if (this.state.pinTries === 0) throw new CardStatus(SW.AUTH_BLOCKED);
    if (data.length === 0) {
      if (this.pinVerified) return ok();
      throw new CardStatus(0x63c0 | this.state.pinTries);
    }
    if (data.length < PIN_MIN || data.length > PIN_MAX) throw new CardStatus(SW.WRONG_LENGTH);
    if (pinMatches(this.state, data)) {
      if (this.state.pinTries !== PIN_TRIES) {
        this.state.pinTries = PIN_TRIES;
        this.save();
      }
      this.pinVerified = true;
      return ok();
    }
    this.pinVerified = false;
    this.state.pinTries--;
    this.save();
    if (this.state.pinTries === 0) throw new CardStatus(SW.AUTH_BLOCKED);
    throw new CardStatus(0x63c0 | this.state.pinTries);
  }

  private mse(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0x41) throw new CardStatus(SW.WRONG_P1P2);
    const ref = keyRefIn(c.data);
    switch (c.p2) {
      case CRT.DST:
      case CRT.AT:
        if (!this.keys.has(ref)) throw new CardStatus(SW.REF_NOT_FOUND);
        if (c.p2 === CRT.DST) this.se.dst = ref;
        else this.se.at = ref;
        return ok();
      case CRT.CT:
        if (this.state.storageKeys[String(ref)] === undefined) {
          throw new CardStatus(SW.REF_NOT_FOUND);
        }
        this.se.ct = ref;
        return ok();
    }
    throw new CardStatus(SW.WRONG_P1P2);
  }

  private pso(c: CommandApdu): Uint8Array {
    const p1p2 = (c.p1 << 8) | c.p2;
    const data = c.data ?? new Uint8Array(0);
    switch (p1p2) {
      case 0x9e9a: {
        this.needPin();
        const key = this.seKey(this.se.dst);
        if (data.length < 20 || data.length > 64) throw new CardStatus(SW.WRONG_LENGTH);
        return ok(plainSignature(key.signDigest(data), FIELD_BYTES[key.curve]));
      }
      case 0x8680:
        this.needPin();
        return ok(this.encipher(data));
      case 0x8086:
        this.needPin();
        return ok(this.decipher(data));
    }
    throw new CardStatus(SW.WRONG_P1P2);
  }

  private seKey(ref: number | undefined): EcKey {
    if (ref === undefined) throw new CardStatus(SW.CONDITIONS);
    const key = this.keys.get(ref);
    if (!key) throw new CardStatus(SW.REF_NOT_FOUND);
    return key;
  }

  private storageKey(): { ref: number; key: Buffer } {
    const ref = this.se.ct;
    if (ref === undefined) throw new CardStatus(SW.CONDITIONS);
    const b64 = this.state.storageKeys[String(ref)];
    if (b64 === undefined) throw new CardStatus(SW.REF_NOT_FOUND);
    return { ref, key: Buffer.from(b64, "base64") };
  }

  private encipher(plain: Uint8Array): Uint8Array {
    if (plain.length < 1 || plain.length > 64) throw new CardStatus(SW.WRONG_LENGTH);
    const { ref, key } = this.storageKey();
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(Uint8Array.of(WRAP_FORMAT_GCM, ref));
    const ct = concat(cipher.update(plain), cipher.final());
    key.fill(0);
    return concat(Uint8Array.of(WRAP_FORMAT_GCM), nonce, ct, cipher.getAuthTag());
  }

  private decipher(cryptogram: Uint8Array): Uint8Array {
    if (cryptogram.length < 1 + 12 + 1 + 16 || cryptogram.length > 1 + 12 + 64 + 16) {
      throw new CardStatus(SW.WRONG_DATA);
    }
    if (cryptogram[0] !== WRAP_FORMAT_GCM) throw new CardStatus(SW.WRONG_DATA);
    const { ref, key } = this.storageKey();
    const nonce = cryptogram.subarray(1, 13);
    const ct = cryptogram.subarray(13, cryptogram.length - 16);
    const tag = cryptogram.subarray(cryptogram.length - 16);
    try {
      const d = createDecipheriv("aes-256-gcm", key, nonce);
      d.setAAD(Uint8Array.of(WRAP_FORMAT_GCM, ref));
      d.setAuthTag(tag);
      return concat(d.update(ct), d.final());
    } catch {
      throw new CardStatus(SW.WRONG_DATA);
    } finally {
      key.fill(0);
    }
  }

  private keyAgreement(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0x00 || c.p2 !== 0x00) throw new CardStatus(SW.WRONG_P1P2);
    this.needPin();
    const key = this.seKey(this.se.at);
    const outer = readAll(c.data ?? new Uint8Array(0));
    const dyn = single(outer, TAG.DYNAMIC_AUTH);
    const point = single(readAll(dyn.value), TAG.PEER_POINT).value;
    let peer: EcKey;
    try {
      checkPointEncoding(key.curve, point);
      peer = EcKey.fromSpki(encodeSpki(key.curve, point));
    } catch {
      throw new CardStatus(SW.WRONG_DATA);
    }
    try {
      return ok(tlv(TAG.DYNAMIC_AUTH, tlv(TAG.SHARED_SECRET, key.derive(peer))));
    } catch (e) {
      if (e instanceof OpenSslError) throw new CardStatus(SW.WRONG_DATA);
      throw e;
    } finally {
      peer.free();
    }
  }

  private getChallenge(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new CardStatus(SW.WRONG_P1P2);
    if (c.le === undefined || c.le > MAX_CHALLENGE || (c.data?.length ?? 0) > 0) {
      throw new CardStatus(SW.WRONG_LENGTH);
    }
    return ok(randomBytes(c.le));
  }

  private generateKeyPair(c: CommandApdu): Uint8Array {
    if (c.p2 !== 0x00 || (c.p1 !== 0x00 && c.p1 !== 0x01)) throw new CardStatus(SW.WRONG_P1P2);
    const items = readAll(c.data ?? new Uint8Array(0));
    const ref = keyRefOf(single(items, TAG.KEY_REF));
    if (!isEcKeyRef(ref)) throw new CardStatus(SW.REF_NOT_FOUND);
    if (c.p1 === 0x01) {
      if (items.length !== 1) throw new CardStatus(SW.WRONG_DATA);
      const key = this.keys.get(ref);
      if (!key) throw new CardStatus(SW.REF_NOT_FOUND);
      return ok(publicKeyTemplate(key));
    }
    this.needPin();
    const alg = single(items, TAG.ALGORITHM).value;
    if (items.length !== 2 || alg.length !== 1) throw new CardStatus(SW.WRONG_DATA);
    const curve = curveOfId(alg[0] ?? 0);
    if (!curve) throw new CardStatus(SW.FUNC_NOT_SUPPORTED);
    const key = EcKey.generate(curve);
    const der = key.toPrivateDer();
    this.state.ecKeys[String(ref)] = { curve, private: Buffer.from(der).toString("base64") };
    der.fill(0);
    // A new key invalidates the certificate of the old one.
    delete this.state.files[String(certificateFid(ref))];
    this.save();
    this.keys.get(ref)?.free();
    this.keys.set(ref, key);
    return ok(publicKeyTemplate(key));
  }

  private generateStorageKey(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0x00 || c.p2 !== 0x00) throw new CardStatus(SW.WRONG_P1P2);
    this.needPin();
    const items = readAll(c.data ?? new Uint8Array(0));
    const ref = keyRefOf(single(items, TAG.KEY_REF));
    const alg = single(items, TAG.ALGORITHM).value;
    if (items.length !== 2 || alg.length !== 1) throw new CardStatus(SW.WRONG_DATA);
    if (alg[0] !== ALG_AES256) throw new CardStatus(SW.FUNC_NOT_SUPPORTED);
    if (!isStorageKeyRef(ref)) throw new CardStatus(SW.REF_NOT_FOUND);
    this.state.storageKeys[String(ref)] = randomBytes(32).toString("base64");
    this.save();
    return ok();
  }

  private file(fid: number): Buffer {
    return Buffer.from(this.state.files[String(fid)] ?? "", "base64");
  }

  private currentFid(): number {
    if (this.currentFile === undefined) throw new CardStatus(SW.CONDITIONS);
    return this.currentFile;
  }

  private readBinary(c: CommandApdu): Uint8Array {
    if (c.p1 & 0x80) throw new CardStatus(SW.FUNC_NOT_SUPPORTED);
    const offset = (c.p1 << 8) | c.p2;
    const content = this.file(this.currentFid());
    if (offset > content.length) throw new CardStatus(SW.WRONG_P1P2_OFFSET);
    const want = c.le ?? 256;
    const data = content.subarray(offset, offset + want);
    return encodeResponse(data, data.length < want ? SW.EOF_BEFORE_LE : SW.OK);
  }

  private updateBinary(c: CommandApdu): Uint8Array {
    if (c.p1 & 0x80) throw new CardStatus(SW.FUNC_NOT_SUPPORTED);
    this.needPin();
    const fid = this.currentFid();
    const offset = (c.p1 << 8) | c.p2;
    const data = c.data ?? new Uint8Array(0);
    if (data.length === 0) throw new CardStatus(SW.WRONG_LENGTH);
    const content = this.file(fid);
    if (offset > content.length) throw new CardStatus(SW.WRONG_P1P2_OFFSET);
    if (offset + data.length > MAX_FILE_SIZE) throw new CardStatus(SW.NOT_ENOUGH_MEMORY);
    const next = Buffer.alloc(Math.max(content.length, offset + data.length));
    content.copy(next);
    next.set(data, offset);
    this.state.files[String(fid)] = next.toString("base64");
    this.save();
    return ok();
  }

  private eraseBinary(c: CommandApdu): Uint8Array {
    if (c.p1 & 0x80) throw new CardStatus(SW.FUNC_NOT_SUPPORTED);
    this.needPin();
    const fid = this.currentFid();
    const offset = (c.p1 << 8) | c.p2;
    const content = this.file(fid);
    if (offset > content.length) throw new CardStatus(SW.WRONG_P1P2_OFFSET);
    if (offset === 0) delete this.state.files[String(fid)];
    else this.state.files[String(fid)] = content.subarray(0, offset).toString("base64");
    this.save();
    return ok();
  }

  private getData(c: CommandApdu): Uint8Array {
    if (c.p1 === 0x00 && c.p2 === 0x00) {
      return ok(
        tlv(
          TAG.CARD_INFO,
          tlv(TAG.VERSION, Uint8Array.of(this.options.version ?? 1)),
          tlv(TAG.SERIAL, Buffer.from(this.state.serial, "hex")),
          tlv(TAG.PIN_TRIES, Uint8Array.of(this.state.pinTries)),
        ),
      );
    }
    if (c.p1 === GET_DATA_COUNTER && c.p2 < COUNTER_COUNT) {
      return ok(u64(BigInt(this.state.counters[c.p2] ?? "0")));
    }
    throw new CardStatus(SW.REF_NOT_FOUND);
  }

  private increase(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0x00) throw new CardStatus(SW.WRONG_P1P2);
    if (c.p2 >= COUNTER_COUNT) throw new CardStatus(SW.REF_NOT_FOUND);
    this.needPin();
    const value = BigInt(this.state.counters[c.p2] ?? "0");
    if (value >= 0xffffffffffffffffn) throw new CardStatus(SW.CONDITIONS);
    const next = value + 1n;
    this.state.counters[c.p2] = next.toString();
    this.save();
    return ok(u64(next));
  }

  close(): void {
    for (const k of this.keys.values()) k.free();
    this.keys.clear();
  }
}

function keyRefIn(data: Uint8Array | undefined): number {
  const items = readAll(data ?? new Uint8Array(0));
  if (items.length !== 1) throw new CardStatus(SW.WRONG_DATA);
  return keyRefOf(single(items, TAG.KEY_REF));
}

function keyRefOf(t: Tlv): number {
  if (t.value.length !== 1) throw new CardStatus(SW.WRONG_DATA);
  return t.value[0] ?? 0;
}

function single(items: Tlv[], tag: number): Tlv {
  const found = items.filter((t) => t.tag === tag);
  if (found.length !== 1 || !found[0]) throw new CardStatus(SW.WRONG_DATA);
  return found[0];
}

function publicKeyTemplate(key: EcKey): Uint8Array {
  const { point } = decodeSpki(key.spki());
  return tlv(TAG.PUBLIC_KEY, tlv(TAG.CURVE_OID, CURVE_OIDS[key.curve]), tlv(TAG.POINT, point));
}

/** DER ECDSA signature from libcrypto to the plain r || s format of BSI TR-03111. */
function plainSignature(der: Uint8Array, size: number): Uint8Array {
  const { r, s } = decodeEcdsaSignature(der, size);
  return concat(r, s);
}

function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v);
  return b;
}
