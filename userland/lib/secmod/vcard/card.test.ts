// The virtual card at the APDU level, in this process: the command set, the PIN and its retry
// counter, persistence of its state file, and random APDUs (which must always get a status).
import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { type CommandApdu, decodeResponse, encodeCommand, SW } from "../apdu.ts";
import { AID, CLA_PROPRIETARY, INS } from "../card/commands.ts";
import { decodeSpki, encodeEcdsaSignature, encodeSpki } from "../der.ts";
import { EcKey } from "../ossl.ts";
import { tempDir } from "../test-support.ts";
import { readOne, tlv } from "../tlv.ts";
import { VirtualCard } from "./card.ts";
import { CardStateError, FileCardStore, MemoryCardStore, parseCardState } from "./state.ts";

const PIN = Buffer.from("246810");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function send(card: VirtualCard, c: CommandApdu) {
  return decodeResponse(card.process(encodeCommand(c)));
}
const select = (card: VirtualCard) =>
  send(card, { cla: 0, ins: INS.SELECT, p1: 4, p2: 0x0c, data: AID });
const verify = (card: VirtualCard, pin: Uint8Array = PIN) =>
  send(card, { cla: 0, ins: INS.VERIFY, p1: 0, p2: 0x81, data: pin });
const ref = (r: number) => tlv(0x84, Uint8Array.of(r));
const generate = (card: VirtualCard, r: number, curveId = 1) =>
  send(card, {
    cla: 0,
    ins: INS.GENERATE_KEY,
    p1: 0,
    p2: 0,
    data: Uint8Array.from([...ref(r), ...tlv(0x80, Uint8Array.of(curveId))]),
    le: 256,
  });

function freshCard(): VirtualCard {
  return new VirtualCard(new MemoryCardStore(), { initialPin: PIN });
}

describe("virtual card", () => {
  test("nothing but SELECT before the application is selected", () => {
    const card = freshCard();
    expect(send(card, { cla: 0, ins: INS.GET_CHALLENGE, p1: 0, p2: 0, le: 8 }).sw).toBe(
      SW.CONDITIONS,
    );
    expect(
      send(card, { cla: 0, ins: INS.SELECT, p1: 4, p2: 0x0c, data: Uint8Array.of(1) }).sw,
    ).toBe(SW.FILE_NOT_FOUND);
    expect(select(card).sw).toBe(SW.OK);
    const fci = send(card, { cla: 0, ins: INS.SELECT, p1: 4, p2: 0, data: AID, le: 256 });
    expect(readOne(fci.data, 0x6f).value).toEqual(tlv(0x84, AID));
    expect(send(card, { cla: 0x10, ins: 0, p1: 0, p2: 0 }).sw).toBe(SW.CLA_NOT_SUPPORTED);
    expect(send(card, { cla: 0, ins: 0x12, p1: 0, p2: 0 }).sw).toBe(SW.INS_NOT_SUPPORTED);
  });

  test("PIN: retry counter, blocking after three wrong tries, reset by the right one", () => {
    const card = freshCard();
    select(card);
    expect(send(card, { cla: 0, ins: INS.VERIFY, p1: 0, p2: 0x81 }).sw).toBe(0x63c3);
    expect(verify(card, Buffer.from("000000")).sw).toBe(0x63c2);
    expect(verify(card, Buffer.from("000000")).sw).toBe(0x63c1);
    expect(verify(card).sw).toBe(SW.OK);
    expect(card.pinTriesLeft).toBe(3);
    expect(send(card, { cla: 0, ins: INS.VERIFY, p1: 0, p2: 0x81 }).sw).toBe(SW.OK);
    expect(verify(card, Buffer.from("12")).sw).toBe(SW.WRONG_LENGTH);
    for (const expected of [0x63c2, 0x63c1, SW.AUTH_BLOCKED]) {
      expect(verify(card, Buffer.from("999999")).sw).toBe(expected);
    }
    expect(verify(card).sw).toBe(SW.AUTH_BLOCKED);
    expect(generate(card, 1).sw).toBe(SW.AUTH_BLOCKED);
  });

  test("operations that use a key need the PIN; SELECT and a reset clear it", () => {
    const card = freshCard();
    select(card);
    expect(generate(card, 1).sw).toBe(SW.SECURITY_STATUS);
    verify(card);
    expect(generate(card, 1).sw).toBe(SW.OK);
    card.reset();
    select(card);
    expect(generate(card, 1).sw).toBe(SW.SECURITY_STATUS);
    verify(card);
    select(card);
    expect(send(card, { cla: CLA_PROPRIETARY, ins: INS.INCREASE, p1: 0, p2: 0, le: 8 }).sw).toBe(
      SW.SECURITY_STATUS,
    );
  });

  test("GENERATE returns the public key; it signs (plain r||s) after MSE SET", () => {
    const card = freshCard();
    select(card);
    verify(card);
    const gen = generate(card, 2, 2);
    expect(gen.sw).toBe(SW.OK);
    const read = send(card, { cla: 0, ins: INS.GENERATE_KEY, p1: 1, p2: 0, data: ref(2), le: 256 });
    expect(read.data).toEqual(gen.data);
    const digest = new Uint8Array(48).fill(7);
    const pso = { cla: 0, ins: INS.PSO, p1: 0x9e, p2: 0x9a, data: digest, le: 256 };
    expect(send(card, pso).sw).toBe(SW.CONDITIONS);
    expect(send(card, { cla: 0, ins: INS.MSE, p1: 0x41, p2: 0xb6, data: ref(3) }).sw).toBe(
      SW.REF_NOT_FOUND,
    );
    expect(send(card, { cla: 0, ins: INS.MSE, p1: 0x41, p2: 0xb6, data: ref(2) }).sw).toBe(SW.OK);
    const sig = send(card, pso);
    expect(sig.sw).toBe(SW.OK);
    expect(sig.data.length).toBe(96);
    expect(send(card, { ...pso, data: new Uint8Array(10) }).sw).toBe(SW.WRONG_LENGTH);
    // The point in 7F49 is the key's: a libcrypto verification of the signature holds.
    const point = readOne(readOne(gen.data, 0x7f49).value.subarray(11), 0x86).value;
    const pub = EcKey.fromSpki(encodeSpki("brainpoolP384r1", point));
    expect(decodeSpki(pub.spki()).curve).toBe("brainpoolP384r1");
    expect(
      pub.verifyDigest(
        digest,
        encodeEcdsaSignature(sig.data.subarray(0, 48), sig.data.subarray(48)),
      ),
    ).toBe(true);
    expect(generate(card, 0x20).sw).toBe(SW.REF_NOT_FOUND);
    expect(generate(card, 1, 9).sw).toBe(SW.FUNC_NOT_SUPPORTED);
  });

  test("state persists in a 0600 file: keys, counters and PIN tries across restarts", () => {
    const dir = tempDir("vcard");
    dirs.push(dir);
    const file = path.join(dir, "card.json");
    const a = new VirtualCard(new FileCardStore(file), { initialPin: PIN });
    select(a);
    verify(a, Buffer.from("111111"));
    verify(a);
    const gen = generate(a, 1);
    const inc = { cla: CLA_PROPRIETARY, ins: INS.INCREASE, p1: 0, p2: 3, le: 8 };
    send(a, inc);
    const two = send(a, inc);
    expect(two.data).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 2));
    verify(a, Buffer.from("111111"));
    a.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(["card.json"]);

    const b = new VirtualCard(new FileCardStore(file), { initialPin: Buffer.from("other") });
    expect(b.pinTriesLeft).toBe(2);
    select(b);
    expect(verify(b).sw).toBe(SW.OK); // the stored PIN, not the new initial one
    const read = send(b, { cla: 0, ins: INS.GENERATE_KEY, p1: 1, p2: 0, data: ref(1), le: 256 });
    expect(read.data).toEqual(gen.data);
    expect(send(b, { cla: CLA_PROPRIETARY, ins: INS.GET_DATA, p1: 1, p2: 3, le: 8 }).data).toEqual(
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 2),
    );
    b.close();
  });

  test("a damaged state file is refused with the file and the problem named", () => {
    const dir = tempDir("vcard");
    dirs.push(dir);
    const file = path.join(dir, "card.json");
    fs.writeFileSync(file, "{not json");
    expect(() => new VirtualCard(new FileCardStore(file), { initialPin: PIN })).toThrow(
      CardStateError,
    );
    fs.writeFileSync(file, JSON.stringify({ format: 1, serial: "x" }));
    expect(() => new FileCardStore(file).load()).toThrow(/invalid card state/);
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseCardState(JSON.stringify(v), "test");
        } catch (e) {
          expect(e).toBeInstanceOf(CardStateError);
        }
      }),
    );
  });

  test("files: FCP, UPDATE/READ/ERASE BINARY with offsets and bounds", () => {
    const card = freshCard();
    select(card);
    verify(card);
    const sel = send(card, {
      cla: 0,
      ins: INS.SELECT,
      p1: 2,
      p2: 4,
      data: Uint8Array.of(0xc0, 1),
      le: 256,
    });
    expect(sel.data).toEqual(
      tlv(0x62, tlv(0x80, Uint8Array.of(0, 0)), tlv(0x83, Uint8Array.of(0xc0, 1))),
    );
    expect(
      send(card, { cla: 0, ins: INS.SELECT, p1: 2, p2: 4, data: Uint8Array.of(0xc1, 1) }).sw,
    ).toBe(SW.FILE_NOT_FOUND);
    const upd = (offset: number, data: Uint8Array) =>
      send(card, { cla: 0, ins: INS.UPDATE_BINARY, p1: offset >> 8, p2: offset & 0xff, data }).sw;
    expect(upd(0, new Uint8Array(300).fill(1))).toBe(SW.OK);
    expect(upd(300, Uint8Array.of(2))).toBe(SW.OK);
    expect(upd(400, Uint8Array.of(2))).toBe(SW.WRONG_P1P2_OFFSET);
    expect(upd(4000, new Uint8Array(200))).toBe(SW.WRONG_P1P2_OFFSET);
    const r = send(card, { cla: 0, ins: INS.READ_BINARY, p1: 1, p2: 0x2b, le: 256 });
    expect(r.sw).toBe(SW.EOF_BEFORE_LE);
    expect(r.data).toEqual(Uint8Array.of(1, 2));
    expect(send(card, { cla: 0, ins: INS.READ_BINARY, p1: 2, p2: 0, le: 1 }).sw).toBe(
      SW.WRONG_P1P2_OFFSET,
    );
    expect(send(card, { cla: 0, ins: INS.ERASE_BINARY, p1: 0, p2: 10 }).sw).toBe(SW.OK);
    const after = send(card, {
      cla: 0,
      ins: INS.SELECT,
      p1: 2,
      p2: 4,
      data: Uint8Array.of(0xc0, 1),
      le: 256,
    });
    expect(after.data).toEqual(
      tlv(0x62, tlv(0x80, Uint8Array.of(0, 10)), tlv(0x83, Uint8Array.of(0xc0, 1))),
    );
  });

  test("wrap and unwrap under a card-held AES key; a changed cryptogram is 6A80", () => {
    const card = freshCard();
    select(card);
    verify(card);
    const gen = (r: number) =>
      send(card, {
        cla: CLA_PROPRIETARY,
        ins: INS.GENERATE_KEY,
        p1: 0,
        p2: 0,
        data: Uint8Array.from([...ref(r), ...tlv(0x80, Uint8Array.of(0x10))]),
      }).sw;
    expect(gen(0x11)).toBe(SW.OK);
    expect(gen(0x01)).toBe(SW.REF_NOT_FOUND);
    expect(send(card, { cla: 0, ins: INS.MSE, p1: 0x41, p2: 0xb8, data: ref(0x11) }).sw).toBe(
      SW.OK,
    );
    const enc = send(card, {
      cla: 0,
      ins: INS.PSO,
      p1: 0x86,
      p2: 0x80,
      data: Uint8Array.of(1, 2, 3),
      le: 256,
    });
    expect(enc.sw).toBe(SW.OK);
    const dec = (data: Uint8Array) =>
      send(card, { cla: 0, ins: INS.PSO, p1: 0x80, p2: 0x86, data, le: 256 });
    expect(dec(enc.data).data).toEqual(Uint8Array.of(1, 2, 3));
    for (let i = 0; i < enc.data.length; i++) {
      const bad = enc.data.slice();
      bad[i] = (bad[i] ?? 0) ^ 0x80;
      expect(dec(bad).sw).toBe(SW.WRONG_DATA);
    }
    expect(dec(Uint8Array.of(1, 2)).sw).toBe(SW.WRONG_DATA);
  });

  test("random APDUs always get a response with a status word", () => {
    const card = freshCard();
    const byte = fc.integer({ min: 0, max: 255 });
    const apdu = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .record({
          cla: fc.constantFrom(0, 0x80, 0x0c),
          ins: fc.constantFrom(...Object.values(INS), 0x00, 0xff),
          p1: byte,
          p2: byte,
          data: fc.uint8Array({ maxLength: 120 }),
        })
        .map((c) => encodeCommand({ ...c, le: 256 })),
    );
    select(card);
    verify(card);
    fc.assert(
      fc.property(fc.array(apdu, { maxLength: 20 }), (list) => {
        for (const a of list) {
          const r = card.process(a);
          expect(r.length).toBeGreaterThanOrEqual(2);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("told to misbehave, it garbles exactly the answers asked for", () => {
    const card = freshCard();
    select(card);
    card.misbehave("truncate", 1);
    expect(
      card.process(encodeCommand({ cla: 0, ins: INS.GET_CHALLENGE, p1: 0, p2: 0, le: 8 })).length,
    ).toBe(1);
    card.misbehave("bad-sw", 1, INS.GET_CHALLENGE);
    expect(select(card).sw).toBe(SW.OK);
    expect(send(card, { cla: 0, ins: INS.GET_CHALLENGE, p1: 0, p2: 0, le: 8 }).sw).toBe(SW.UNKNOWN);
    expect(send(card, { cla: 0, ins: INS.GET_CHALLENGE, p1: 0, p2: 0, le: 8 }).sw).toBe(SW.OK);
  });
});
