// The wM-Bus radio under good and bad telegrams over real UDP on loopback: good mode 5 and 7
// telegrams are stored with the right registers; unknown meters, wrong keys, bad CRCs,
// truncated, oversized, unencrypted and replayed telegrams are dropped, counted and logged;
// nothing crashes the listener and good telegrams after bad ones are still stored. Messages
// split into AFL fragments are held until complete and stored once; fragments out of order,
// repeated, with a gap, late or replayed are refused and counted, each meter's reassembly on
// its own.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLogger } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import { crc16En13757, decodeTelegram, formatSignature, unwrapFrame } from "@smgw/wmbus";
import {
  fragmentedTelegrams,
  linkHeader,
  mode5Payload,
  mode7Payload,
  toFormatA,
  toFormatB,
  wirelessFrame,
} from "@smgw/wmbus/frame-builder.ts";
import type { udp } from "bun";
import fc from "fast-check";
import { CalibrationRecorder } from "./calibration.ts";
import {
  entriesFromRecords,
  newWmbusCounters,
  startWmbusRadio,
  type WmbusMeter,
  type WmbusRadio,
} from "./wmbus-radio.ts";

const key = (seed: number) => Uint8Array.from({ length: 16 }, (_, i) => (i * 17 + seed) & 0xff);

const METERS = {
  e5: { name: "elec-five", manufacturer: "ESY", id: "11111111", security: 5, key: key(1) },
  e7: {
    name: "elec-seven",
    manufacturer: "ESY",
    id: "22222222",
    security: 7,
    key: key(2),
    medium: "electricity",
  },
  w7: { name: "water-seven", manufacturer: "KAM", id: "33333333", security: 7, key: key(3) },
  g5: { name: "gas-five", manufacturer: "ELS", id: "44444444", security: 5, key: key(4) },
  h7: { name: "heat-seven", manufacturer: "KAM", id: "55555555", security: 7, key: key(5) },
  fc: { name: "fuzz-check", manufacturer: "ABB", id: "66666666", security: 7, key: key(6) },
  fz: { name: "fuzz-seed", manufacturer: "ABB", id: "77777777", security: 5, key: key(7) },
  c5: { name: "compact-five", manufacturer: "ESY", id: "88888888", security: 5, key: key(8) },
  f7: {
    name: "frag-seven",
    manufacturer: "ESY",
    id: "12121212",
    security: 7,
    key: key(10),
    medium: "electricity",
  },
  f5: { name: "frag-five", manufacturer: "ELS", id: "13131313", security: 5, key: key(11) },
  fw: { name: "frag-water", manufacturer: "KAM", id: "14141414", security: 7, key: key(12) },
  fp: { name: "frag-property", manufacturer: "ABB", id: "15151515", security: 7, key: key(13) },
} satisfies Record<string, WmbusMeter>;
type MeterKey = keyof typeof METERS;

const DEVICE: Record<MeterKey, number> = {
  e5: 0x02,
  e7: 0x02,
  w7: 0x07,
  g5: 0x03,
  h7: 0x04,
  fc: 0x02,
  fz: 0x02,
  c5: 0x02,
  f7: 0x02,
  f5: 0x03,
  fw: 0x07,
  fp: 0x02,
};

const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
/** Energy in Wh (VIF 0x03), 32-bit integer. */
const energy = (wh: number) => [0x04, 0x03, ...le32(wh)];
/** Energy of tariff t (DIFE bits 4-5). */
const tariffEnergy = (t: number, wh: number) => [0x84, t << 4, 0x03, ...le32(wh)];
/** Power in W (VIF 0x2B). */
const power = (w: number) => [0x04, 0x2b, ...le32(w)];
/** Volume in litres (VIF 0x13). */
const volume = (litres: number) => [0x04, 0x13, ...le32(litres)];
/** The meter's clock: 2021-03-04 05:06 (type F); the gateway must not use it. */
const meterDate = [0x04, 0x6d, 0x06, 0x05, 0x24, 0x23];

interface Build {
  access: number;
  counter?: number;
  records: number[];
  status?: number;
  format?: "A" | "B";
  useKey?: Uint8Array;
  deviceType?: number;
  version?: number;
  security?: 0 | 5 | 7;
  /** Bytes appended after the TPL payload (outside the encrypted blocks). */
  trailer?: number[];
}

function telegram(m: MeterKey, b: Build): Uint8Array {
  const meter = METERS[m];
  const header = linkHeader({
    manufacturer: meter.manufacturer,
    id: meter.id,
    deviceType: b.deviceType ?? DEVICE[m],
    version: b.version ?? 1,
  });
  const records = Uint8Array.from(b.records);
  const k = b.useKey ?? meter.key;
  const security = b.security ?? meter.security;
  let payload: Uint8Array;
  if (security === 0) {
    payload = Uint8Array.of(0x7a, b.access, b.status ?? 0, 0x00, 0x00, ...records);
  } else if (security === 5) {
    payload = mode5Payload(k, header, b.access, records, b.status ?? 0);
  } else {
    payload = mode7Payload(k, header, b.access, b.counter ?? b.access, records, b.status ?? 0);
  }
  const frame = wirelessFrame(header, Uint8Array.of(...payload, ...(b.trailer ?? [])));
  return b.format === "B" ? toFormatB(frame) : toFormatA(frame);
}

// The radio, its sinks and a mutable gateway clock.
let clock = Date.parse("2030-06-01T12:00:00.000Z");
const stored: { meter: string; readings: Reading[] }[] = [];
const logs: Record<string, unknown>[] = [];
const counters = newWmbusCounters();
let failNextStore = false;
let radio: WmbusRadio;
let sender: udp.Socket<"buffer">;
let stranger: udp.Socket<"buffer">;

/** Datagrams the radio has decided on (each lands in exactly one of these counters). */
const handled = () =>
  counters.fragments +
  counters.telegrams +
  counters.badTelegrams +
  counters.unknownPeers +
  counters.unknownMeters +
  counters.downgrades +
  counters.replays;

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for the radio");
    await Bun.sleep(2);
  }
}

/** Sends datagrams and waits until the radio has handled each and its stores have run. */
async function send(datagrams: Uint8Array[], from = sender): Promise<void> {
  const before = handled();
  for (const d of datagrams) from.send(d, radio.port, "127.0.0.1");
  await waitFor(() => handled() >= before + datagrams.length);
  expect(handled()).toBe(before + datagrams.length);
  await Bun.sleep(5);
}

const calibrationLog: { event: string; meter?: string; detail: Record<string, unknown> }[] = [];
const refusals = (kind: string) =>
  logs.filter((l) => l.msg === "telegram refused" && l.kind === kind);
const lastStored = () => stored[stored.length - 1];

beforeAll(async () => {
  radio = await startWmbusRadio({
    hostname: "127.0.0.1",
    port: 0,
    meters: Object.values(METERS),
    store: async (meter, readings) => {
      if (failNextStore) {
        failNextStore = false;
        throw new Error("storage unavailable");
      }
      stored.push({ meter, readings });
    },
    log: createLogger("meter", { level: "debug", write: (l) => logs.push(JSON.parse(l)) }),
    counters,
    peers: ["127.0.0.1"],
    now: () => new Date(clock),
    calibration: new CalibrationRecorder(
      {
        // biome-ignore lint/suspicious/noExplicitAny: the one message the recorder sends
        request: async (_to: string, _type: string, body: any): Promise<any> => {
          calibrationLog.push(...body.entries);
          return { last: calibrationLog.length };
        },
      },
      createLogger("meter", { write: () => {} }),
    ),
  });
  sender = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  stranger = await Bun.udpSocket({ hostname: "127.0.0.2", port: 0 });
});
afterAll(() => {
  radio.stop();
  sender.close();
  stranger.close();
});

describe("wM-Bus radio: good telegrams", () => {
  test("mode 5 electricity: energy, tariff register and power stored in Wh and W, gateway time", async () => {
    await send([
      telegram("e5", {
        access: 10,
        status: 0x04,
        records: [...energy(123_456), ...power(789), ...tariffEnergy(1, 100_000), ...meterDate],
      }),
    ]);
    expect(stored).toHaveLength(1);
    expect(lastStored()).toEqual({
      meter: "elec-five",
      readings: [
        {
          obis: "1-0:1.8.0*255",
          value: 123_456,
          unit: "Wh",
          capturedAt: "2030-06-01T12:00:00.000Z",
          status: 0x04,
        },
        {
          obis: "1-0:1.7.0*255",
          value: 789,
          unit: "W",
          capturedAt: "2030-06-01T12:00:00.000Z",
          status: 0x04,
        },
        {
          obis: "1-0:1.8.1*255",
          value: 100_000,
          unit: "Wh",
          capturedAt: "2030-06-01T12:00:00.000Z",
          status: 0x04,
        },
      ],
    });
    expect(counters.telegrams).toBe(1);
    expect(counters.accepted).toBe(3);
    expect(logs.some((l) => l.msg === "readings stored" && l.meter === "elec-five")).toBe(true);
  });

  test("mode 7 electricity, format B", async () => {
    clock += 1000;
    await send([
      telegram("e7", { access: 1, counter: 5, format: "B", records: [...energy(5_000_000)] }),
    ]);
    expect(lastStored()?.meter).toBe("elec-seven");
    expect(lastStored()?.readings).toEqual([
      {
        obis: "1-0:1.8.0*255",
        value: 5_000_000,
        unit: "Wh",
        capturedAt: "2030-06-01T12:00:01.000Z",
        status: 0,
      },
    ]);
  });

  test("mode 7 water, mode 5 gas, mode 7 heat: volumes in m³, heat energy in Wh", async () => {
    await send([
      telegram("w7", { access: 1, counter: 1, records: [...volume(12_345), ...meterDate] }),
      telegram("g5", { access: 1, records: [...volume(1_234_567)] }),
      telegram("h7", {
        access: 1,
        counter: 1,
        records: [...energy(42_000), 0x02, 0x5a, 0x8a, 0x02],
      }),
    ]);
    const byMeter = Object.fromEntries(stored.map((s) => [s.meter, s.readings]));
    expect(byMeter["water-seven"]).toMatchObject([
      { obis: "8-0:1.0.0*255", value: 12.345, unit: "m³" },
    ]);
    expect(byMeter["gas-five"]).toMatchObject([
      { obis: "7-0:3.0.0*255", value: 1234.567, unit: "m³" },
    ]);
    expect(byMeter["heat-seven"]).toMatchObject([
      { obis: "6-0:1.0.0*255", value: 42_000, unit: "Wh" },
    ]);
  });

  test("only current values of mapped quantities become readings", () => {
    const t = decodeTelegram(
      telegram("e5", {
        access: 200,
        records: [
          ...energy(1000),
          ...[0x44, 0x03, ...le32(900)], // storage 1 (a due-date value)
          ...[0x14, 0x03, ...le32(1200)], // maximum
          ...[0x84, 0x40, 0x03, ...le32(5)], // subunit 1
          ...[0x04, 0x83, 0x3c, ...le32(77)], // energy, backward flow (export)
          ...meterDate,
          ...[0x02, 0xfd, 0x17, 0x00, 0x00], // error flags
          ...energy(2000), // the same register again: the first one counts
        ],
      }),
      { key: METERS.e5.key },
    );
    const { entries, ignored } = entriesFromRecords(t.records, 0x02, 0);
    expect(entries).toEqual([{ obis: "1-0:1.8.0*255", value: 1000, unit: "Wh", status: 0 }]);
    expect(ignored).toBe(7);
    // A device type without a mapping gives nothing.
    expect(entriesFromRecords(t.records, 0x08, 0).entries).toEqual([]);
  });
});

describe("wM-Bus radio: bad telegrams are dropped, counted and logged", () => {
  test("unknown meter: counted every time, logged once per meter per minute", async () => {
    const header = linkHeader({ manufacturer: "QQQ", id: "99999999", deviceType: 2 });
    const unknown = toFormatA(
      wirelessFrame(header, mode5Payload(key(9), header, 1, Uint8Array.from(energy(1)))),
    );
    const before = counters.unknownMeters;
    await send([unknown, unknown, unknown]);
    expect(counters.unknownMeters).toBe(before + 3);
    const lines = () =>
      logs.filter((l) => l.msg === "telegram from an unknown meter" && l.id === "99999999");
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ manufacturer: "QQQ", from: "127.0.0.1" });
    clock += 61_000;
    await send([unknown]);
    expect(lines()).toHaveLength(2);
    expect(lines()[1]).toMatchObject({ suppressed: 2 });
  });

  test("wrong key: mode 5 fails decryption, mode 7 its MAC", async () => {
    const before = counters.badTelegrams;
    await send([
      telegram("e5", { access: 11, records: energy(123_500), useKey: key(99) }),
      telegram("e7", { access: 2, counter: 6, records: energy(5_000_100), useKey: key(99) }),
    ]);
    expect(counters.badTelegrams).toBe(before + 2);
    expect(refusals("decryption").at(-1)).toMatchObject({ meter: "elec-five" });
    expect(String(refusals("decryption").at(-1)?.reason)).toContain("wrong key?");
    expect(refusals("authentication").at(-1)).toMatchObject({ meter: "elec-seven" });
  });

  test("bad CRC in the header block, in a data block, and a frame without CRCs", async () => {
    const good = telegram("e5", { access: 12, records: energy(123_600) });
    const badHeaderCrc = Uint8Array.from(good);
    badHeaderCrc[11] = (badHeaderCrc[11] as number) ^ 0x01;
    const badData = Uint8Array.from(good);
    badData[20] = (badData[20] as number) ^ 0x80;
    const header = linkHeader({ manufacturer: "ESY", id: "11111111", deviceType: 2 });
    const noCrc = wirelessFrame(
      header,
      mode5Payload(METERS.e5.key, header, 12, Uint8Array.from(energy(1))),
    );
    const before = counters.badTelegrams;
    await send([badHeaderCrc, badData, noCrc]);
    expect(counters.badTelegrams).toBe(before + 3);
    expect(refusals("crc").length).toBeGreaterThanOrEqual(3);
  });

  test("truncated at several lengths", async () => {
    const good = telegram("e7", {
      access: 3,
      counter: 7,
      records: [...energy(5_000_200), ...meterDate],
    });
    const lengths = [
      0,
      1,
      2,
      9,
      10,
      11,
      12,
      20,
      30,
      good.length - 3,
      good.length - 2,
      good.length - 1,
    ];
    const before = counters.badTelegrams;
    const storedBefore = stored.length;
    await send(lengths.map((n) => good.subarray(0, n)));
    expect(counters.badTelegrams).toBe(before + lengths.length);
    expect(stored).toHaveLength(storedBefore);
    const lines = logs.filter((l) => l.msg === "telegram refused").slice(-lengths.length);
    // Shorter than the L-field announces: "truncated"; too short for any frame: "frame".
    expect(lines.map((l) => l.kind)).toEqual(
      lengths.map((n) => (n >= 1 && n < (good[0] as number) + 1 ? "truncated" : "frame")),
    );
  });

  test("oversized datagrams", async () => {
    const before = counters.badTelegrams;
    const good = telegram("e7", { access: 4, counter: 8, records: energy(5_000_300) });
    const padded = new Uint8Array(513);
    padded.set(good);
    await send([new Uint8Array(600).fill(0x44), padded, new Uint8Array(4000)]);
    expect(counters.badTelegrams).toBe(before + 3);
    expect(refusals("oversized")).toHaveLength(3);
  });

  test("unencrypted or unauthenticated telegrams from an encrypted meter are downgrades", async () => {
    const before = counters.downgrades;
    const storedBefore = stored.length;
    // Mode 5 flagged, but the payload sent in clear (starting with 2F2F as if decrypted).
    const header = linkHeader({ manufacturer: "ESY", id: "11111111", deviceType: 2 });
    const clear = Uint8Array.of(
      0x2f,
      0x2f,
      ...energy(999_999_999),
      0x2f,
      0x2f,
      0x2f,
      0x2f,
      0x2f,
      0x2f,
      0x2f,
      0x2f,
    );
    const flaggedButClear = toFormatA(
      wirelessFrame(header, Uint8Array.of(0x7a, 13, 0, 0x10, 0x05, ...clear)),
    );
    // Mode 5 with zero encrypted blocks.
    const noBlocks = toFormatA(
      wirelessFrame(header, Uint8Array.of(0x7a, 14, 0, 0x00, 0x05, ...energy(999_999_999))),
    );
    await send([
      telegram("e5", { access: 15, security: 0, records: energy(999_999_999) }),
      telegram("e7", { access: 5, security: 0, records: energy(999_999_999) }),
      flaggedButClear,
      noBlocks,
      // A mode 7 meter sending mode 5 (no MAC).
      telegram("e7", { access: 6, security: 5, records: energy(999_999_999) }),
    ]);
    expect(counters.downgrades).toBe(before + 5);
    expect(stored).toHaveLength(storedBefore);
    expect(logs.filter((l) => l.kind === "downgrade").length).toBeGreaterThanOrEqual(5);
  });

  test("exact replay, re-framed replay, mode 7 counter going back, mode 5 access number repeated", async () => {
    clock += 1000;
    const first = telegram("e7", { access: 10, counter: 20, records: energy(5_001_000) });
    await send([first]);
    expect(lastStored()?.readings[0]?.value).toBe(5_001_000);
    const before = counters.replays;
    const storedBefore = stored.length;
    const m5 = telegram("g5", { access: 2, records: volume(1_235_000) });
    await send([m5]);
    expect(stored).toHaveLength(storedBefore + 1);
    await send([
      first, // identical
      toFormatB(decodeCrcFree(first)), // the same telegram re-framed as format B
      telegram("e7", { access: 11, counter: 19, records: energy(5_002_000) }), // counter back
      telegram("e7", { access: 12, counter: 20, records: energy(5_002_000) }), // counter repeated
      m5,
      telegram("g5", { access: 2, records: volume(1_236_000) }), // same access number, new content
    ]);
    expect(counters.replays).toBe(before + 6);
    expect(stored).toHaveLength(storedBefore + 1);
    expect(logs.filter((l) => l.kind === "replay").map((l) => l.reason)).toEqual(
      expect.arrayContaining([
        "identical to an accepted telegram",
        "AFL message counter 19 not greater than the last accepted 20",
        "AFL message counter 20 not greater than the last accepted 20",
        "access number 2 repeats the last accepted telegram's",
      ]),
    );
  });

  test("mode 5: records after the encrypted blocks are ignored", async () => {
    await send([
      telegram("e5", {
        access: 30,
        records: energy(124_000),
        trailer: [...tariffEnergy(2, 5), ...power(1)],
      }),
    ]);
    expect(lastStored()?.readings.map((r) => [r.obis, r.value])).toEqual([
      ["1-0:1.8.0*255", 124_000],
    ]);
    expect(logs.some((l) => l.msg === "records after the encrypted part ignored")).toBe(true);
  });

  test("a device type that does not fit the meter is refused", async () => {
    const before = counters.badTelegrams;
    // Mode 7: the link layer's device type is outside the MAC; the meter is configured as
    // electricity, so a water device type is refused.
    await send([telegram("e7", { access: 31, counter: 31, deviceType: 0x07, records: volume(1) })]);
    // Water meter without a configured medium: its first device type (water) is kept.
    await send([
      telegram("w7", { access: 32, counter: 32, deviceType: 0x03, records: volume(99_999) }),
    ]);
    expect(counters.badTelegrams).toBe(before + 2);
    expect(refusals("identity")).toHaveLength(2);
  });

  test("readings running backwards are refused, the telegram still counts", async () => {
    const rejected = counters.rejected;
    await send([telegram("w7", { access: 33, counter: 33, records: volume(12_000) })]);
    expect(counters.rejected).toBe(rejected + 1);
    expect(logs.at(-1)).toMatchObject({ msg: "reading refused", obis: "8-0:1.0.0*255" });
    // The calibration log learns of it, with the register's last value and the new one.
    await waitFor(() => calibrationLog.length > 0);
    expect(calibrationLog.at(-1)).toEqual({
      event: "register.ran-backwards",
      meter: "water-seven",
      detail: { obis: "8-0:1.0.0*255", last: 12.345, value: 12 },
    });
  });

  test("a store failure is logged and counted; the next telegram is stored", async () => {
    failNextStore = true;
    const storedBefore = stored.length;
    await send([telegram("e5", { access: 40, records: energy(125_000) })]);
    expect(counters.storeFailures).toBe(1);
    expect(logs.find((l) => l.msg === "readings not stored")).toMatchObject({
      level: "error",
      meter: "elec-five",
      count: 1,
      error: "storage unavailable",
    });
    await send([telegram("e5", { access: 41, records: energy(125_100) })]);
    expect(stored).toHaveLength(storedBefore + 1);
    expect(lastStored()?.readings[0]?.value).toBe(125_100);
  });

  test("a datagram from an address that is not a peer is dropped", async () => {
    const before = counters.unknownPeers;
    const storedBefore = stored.length;
    await send([telegram("e5", { access: 42, records: energy(125_200) })], stranger);
    expect(counters.unknownPeers).toBe(before + 1);
    expect(stored).toHaveLength(storedBefore);
    expect(
      logs.some(
        (l) => l.msg === "datagram from an unknown LMN address dropped" && l.from === "127.0.0.2",
      ),
    ).toBe(true);
  });

  test("after all of that a good telegram is still stored", async () => {
    await send([telegram("e5", { access: 43, records: energy(125_300) })]);
    expect(lastStored()?.readings[0]).toMatchObject({ obis: "1-0:1.8.0*255", value: 125_300 });
  });
});

/** A mode 5 compact frame (CI 0x7B): format signature, full frame CRC, the data only. */
function compactTelegram(m: MeterKey, access: number, records: [number[], number[]][]): Uint8Array {
  const meter = METERS[m];
  const header = linkHeader({
    manufacturer: meter.manufacturer,
    id: meter.id,
    deviceType: DEVICE[m],
  });
  const headers = records.flatMap(([h]) => h);
  const data = records.flatMap(([, d]) => d);
  const plainLength = 2 + 4 + data.length; // 2F2F, signature, CRC, data
  const padding = Math.ceil(plainLength / 16) * 16 - plainLength;
  const full = [...records.flatMap(([h, d]) => [...h, ...d]), ...Array(padding).fill(0x2f)];
  const signature = formatSignature(Uint8Array.from(headers));
  const crc = crc16En13757(Uint8Array.from(full));
  const body = [signature & 0xff, signature >> 8, crc & 0xff, crc >> 8, ...data];
  const payload = mode5Payload(meter.key, header, access, Uint8Array.from(body));
  payload[0] = 0x7b; // compact frame, short header (the CI is not part of the mode 5 IV)
  return toFormatA(wirelessFrame(header, payload));
}

describe("wM-Bus radio: compact frames", () => {
  const layout = (wh: number, w: number): [number[], number[]][] => [
    [[0x04, 0x03], le32(wh)],
    [[0x04, 0x2b], le32(w)],
  ];

  test("expanded only with the layout of the meter's own accepted full frame", async () => {
    const before = refusals("compact-frame").length;
    // No full frame yet.
    await send([compactTelegram("c5", 1, layout(10_000, 1))]);
    // A refused (unencrypted) full frame with that layout teaches nothing.
    await send([
      telegram("c5", { access: 2, security: 0, records: [...energy(10_001), ...power(1)] }),
      compactTelegram("c5", 3, layout(10_002, 1)),
    ]);
    expect(refusals("compact-frame")).toHaveLength(before + 2);

    // The accepted full frame teaches its layout; the compact frame after it is stored.
    await send([telegram("c5", { access: 4, records: [...energy(10_003), ...power(2)] })]);
    await send([compactTelegram("c5", 5, layout(10_004, 3))]);
    expect(lastStored()).toMatchObject({
      meter: "compact-five",
      readings: [
        { obis: "1-0:1.8.0*255", value: 10_004, unit: "Wh" },
        { obis: "1-0:1.7.0*255", value: 3, unit: "W" },
      ],
    });
    // Another meter's compact frame with the same layout is not expanded with it.
    await send([compactTelegram("g5", 9, layout(1, 1))]);
    expect(refusals("compact-frame").at(-1)).toMatchObject({ meter: "gas-five" });
  });
});

describe("wM-Bus radio: property", () => {
  const seeds = [
    telegram("fz", { access: 1, records: [...energy(1000), ...power(5), ...meterDate] }),
    telegram("fz", { access: 2, format: "B", records: [...energy(1000), ...tariffEnergy(1, 10)] }),
    telegram("w7", { access: 100, counter: 1000, records: volume(20_000) }),
    telegram("e7", { access: 100, counter: 1000, format: "B", records: energy(5_100_000) }),
  ];
  const mutated = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 600 }),
    fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
      )
      .map(([seed, flips]) => {
        const out = Uint8Array.from(seed);
        for (const [at, x] of flips) out[at % out.length] = (out[at % out.length] as number) ^ x;
        return out;
      }),
    // Mutations behind intact CRCs, so that they reach the layers above the data link layer.
    fc
      .tuple(
        fc.constantFrom(...seeds.map(decodeCrcFree)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.boolean(),
      )
      .map(([frame, flips, formatB]) => {
        const out = Uint8Array.from(frame);
        for (const [at, x] of flips) {
          const i = 1 + (at % (out.length - 1)); // the L-field stays
          out[i] = (out[i] as number) ^ x;
        }
        return formatB ? toFormatB(out) : toFormatA(out);
      }),
    fc
      .tuple(fc.constantFrom(...seeds), fc.nat(), fc.uint8Array({ maxLength: 40 }))
      .map(([seed, cut, tail]) =>
        Uint8Array.of(...seed.subarray(0, cut % (seed.length + 1)), ...tail),
      ),
  );

  test("random bytes and mutated telegrams never crash the listener", async () => {
    let counter = 5000;
    await fc.assert(
      fc.asyncProperty(fc.array(mutated, { minLength: 1, maxLength: 25 }), async (batch) => {
        await send(batch);
        // A good telegram afterwards is stored.
        counter++;
        const storedBefore = stored.length;
        await send([telegram("fc", { access: counter & 0xff, counter, records: energy(counter) })]);
        expect(stored).toHaveLength(storedBefore + 1);
        expect(lastStored()).toMatchObject({
          meter: "fuzz-check",
          readings: [{ obis: "1-0:1.8.0*255", value: counter }],
        });
      }),
      { numRuns: 60 },
    );
    expect(logs.some((l) => l.kind === "internal" || l.msg === "datagram handling failed")).toBe(
      false,
    );
  }, 60_000);
});

/** A message of the meter split into AFL fragments, one telegram each (format A by default). */
function fragments(m: MeterKey, b: Build & { parts: number | number[] }): Uint8Array[] {
  const meter = METERS[m];
  return fragmentedTelegrams({
    security: (b.security ?? meter.security) as 5 | 7,
    key: b.useKey ?? meter.key,
    header: linkHeader({
      manufacturer: meter.manufacturer,
      id: meter.id,
      deviceType: b.deviceType ?? DEVICE[m],
      version: b.version ?? 1,
    }),
    accessNumber: b.access,
    messageCounter: b.counter ?? b.access,
    records: Uint8Array.from(b.records),
    ...(b.trailer ? { clearTail: Uint8Array.from(b.trailer) } : {}),
    status: b.status ?? 0,
    fragments: b.parts,
    format: b.format ?? "A",
  });
}

/** Energy of tariffs 1 to n (at most 3 with one DIFE). */
const tariffs = (n: number, base: number) =>
  Array.from({ length: n }, (_, i) => tariffEnergy(i + 1, base + i)).flat();

/** Fragment refusals of the meters of these tests (the fuzz tests above may cause others). */
const fragmentRefusals = (reason: string) =>
  logs.filter(
    (l) =>
      l.msg === "telegram refused" &&
      l.kind === "fragment" &&
      l.fragment === reason &&
      String(l.meter).startsWith("frag-"),
  );

describe("wM-Bus radio: fragmented messages", () => {
  test("a three-fragment mode 7 message is held, then stored once", async () => {
    clock += 1000;
    const [f1, f2, f3] = fragments("f7", {
      access: 1,
      counter: 10,
      parts: 3,
      records: [...energy(700_000), ...power(1_500), ...tariffs(3, 100_000), ...meterDate],
    }) as [Uint8Array, Uint8Array, Uint8Array];
    const storedBefore = stored.length;
    const before = { ...counters };
    await send([f1, f2]);
    expect(counters.fragments).toBe(before.fragments + 2);
    expect(stored).toHaveLength(storedBefore);
    await send([f3]);
    expect(counters.telegrams).toBe(before.telegrams + 1);
    expect(counters.badTelegrams).toBe(before.badTelegrams);
    expect(stored).toHaveLength(storedBefore + 1);
    const readings = lastStored()?.readings ?? [];
    expect(lastStored()?.meter).toBe("frag-seven");
    expect(readings).toHaveLength(5);
    expect(readings.slice(0, 3)).toMatchObject([
      { obis: "1-0:1.8.0*255", value: 700_000, unit: "Wh" },
      { obis: "1-0:1.7.0*255", value: 1_500, unit: "W" },
      { obis: "1-0:1.8.1*255", value: 100_000, unit: "Wh" },
    ]);
    expect(logs.filter((l) => l.msg === "fragment held" && l.meter === "frag-seven")).toHaveLength(
      2,
    );
    expect(
      logs.find((l) => l.msg === "telegram accepted" && l.meter === "frag-seven"),
    ).toMatchObject({ messageCounter: 10, fragments: 3, readings: 5 });

    // Replays: one fragment, the whole sequence, a new first fragment with the old counter.
    const replays = counters.replays;
    await send([f2]);
    await send([f1, f2, f3]);
    const sameCounter = fragments("f7", {
      access: 2,
      counter: 10,
      parts: 3,
      records: energy(700_001),
    });
    await send([sameCounter[0] as Uint8Array]);
    expect(counters.replays).toBe(replays + 5);
    expect(stored).toHaveLength(storedBefore + 1);
    expect(logs.filter((l) => l.kind === "replay").map((l) => l.reason)).toEqual(
      expect.arrayContaining([
        "identical to an accepted telegram",
        "AFL message counter 10 not greater than the last accepted 10",
      ]),
    );
  });

  test("reordered, missing middle and duplicated fragments", async () => {
    const storedBefore = stored.length;
    const bad = counters.badTelegrams;
    // Reordered: 1, 3, 2 — the gap gives the message up, 2 has no first fragment.
    const a = fragments("f7", { access: 3, counter: 11, parts: 3, records: energy(700_100) });
    await send([a[0], a[2], a[1]] as Uint8Array[]);
    expect(fragmentRefusals("missing-fragment")).toHaveLength(1);
    expect(fragmentRefusals("no-first-fragment")).toHaveLength(1);
    // Missing middle fragment of four.
    const b = fragments("f7", { access: 4, counter: 12, parts: 4, records: energy(700_200) });
    await send([b[0], b[1], b[3]] as Uint8Array[]);
    expect(fragmentRefusals("missing-fragment")).toHaveLength(2);
    expect(counters.badTelegrams).toBe(bad + 3);
    expect(stored).toHaveLength(storedBefore);
    expect(fragmentRefusals("missing-fragment").at(-1)).toMatchObject({
      meter: "frag-seven",
      droppedFragments: 2,
    });
    // Duplicated fragment: refused and counted, the message goes on and is stored once.
    const c = fragments("f7", { access: 5, counter: 13, parts: 3, records: energy(700_300) });
    await send([c[0], c[1], c[1], c[0], c[2]] as Uint8Array[]);
    expect(fragmentRefusals("duplicate")).toHaveLength(2);
    expect(counters.badTelegrams).toBe(bad + 5);
    expect(stored).toHaveLength(storedBefore + 1);
    expect(lastStored()?.readings[0]).toMatchObject({ value: 700_300 });
  });

  test("interleaved meters: each meter's reassembly is its own", async () => {
    const storedBefore = stored.length;
    const e = fragments("f7", { access: 6, counter: 14, parts: 3, records: energy(700_400) });
    const w = fragments("fw", { access: 1, counter: 1, parts: 3, records: volume(55_000) });
    const g = fragments("f5", { access: 1, parts: 2, records: volume(77_000) });
    await send([e[0], w[0], g[0], e[1], w[1], g[1], e[2], w[2]] as Uint8Array[]);
    expect(stored).toHaveLength(storedBefore + 3);
    const byMeter = Object.fromEntries(
      stored.slice(storedBefore).map((x) => [x.meter, x.readings]),
    );
    expect(byMeter["frag-seven"]).toMatchObject([{ obis: "1-0:1.8.0*255", value: 700_400 }]);
    expect(byMeter["frag-water"]).toMatchObject([{ obis: "8-0:1.0.0*255", value: 55 }]);
    expect(byMeter["frag-five"]).toMatchObject([{ obis: "7-0:3.0.0*255", value: 77 }]);
  });

  test("timeout: the partial message is dropped and counted, its late fragment refused", async () => {
    const storedBefore = stored.length;
    const dropped = counters.partialMessagesDropped;
    const a = fragments("f7", { access: 7, counter: 15, parts: 3, records: energy(700_500) });
    await send([a[0], a[1]] as Uint8Array[]);
    clock += 61_000;
    await send([a[2] as Uint8Array]);
    expect(counters.partialMessagesDropped).toBe(dropped + 1);
    expect(logs.filter((l) => l.msg === "partial message dropped").at(-1)).toMatchObject({
      meter: "frag-seven",
      reason: "timeout",
      fragments: 2,
    });
    expect(fragmentRefusals("timeout")).toHaveLength(1);
    expect(stored).toHaveLength(storedBefore);
    // The listener keeps serving: the next message comes through.
    const b = fragments("f7", { access: 8, counter: 16, parts: 2, records: energy(700_600) });
    await send(b);
    expect(stored).toHaveLength(storedBefore + 1);
    expect(lastStored()?.readings[0]).toMatchObject({ value: 700_600 });
  });

  test("a new first fragment supersedes the meter's unfinished message", async () => {
    const dropped = counters.partialMessagesDropped;
    const a = fragments("f7", { access: 9, counter: 17, parts: 3, records: energy(700_700) });
    const b = fragments("f7", { access: 10, counter: 18, parts: 2, records: energy(700_800) });
    await send([a[0], a[1], ...b] as Uint8Array[]);
    expect(counters.partialMessagesDropped).toBe(dropped + 1);
    expect(logs.filter((l) => l.msg === "partial message dropped").at(-1)).toMatchObject({
      reason: "superseded",
    });
    expect(lastStored()?.readings[0]).toMatchObject({ value: 700_800 });
  });

  test("the whole message passes the single telegram's checks", async () => {
    const storedBefore = stored.length;
    const bad = counters.badTelegrams;
    const downgrades = counters.downgrades;
    const unknown = counters.unknownMeters;
    // Wrong key: the MAC over the reassembled message fails.
    await send(
      fragments("f7", { access: 11, counter: 19, parts: 3, records: energy(1), useKey: key(99) }),
    );
    expect(refusals("authentication").at(-1)).toMatchObject({ meter: "frag-seven" });
    // A mode 7 meter sending a fragmented mode 5 message is a downgrade.
    await send(fragments("f7", { access: 12, security: 5, parts: 2, records: energy(2) }));
    expect(counters.downgrades).toBe(downgrades + 1);
    // A fragment from a meter that is not configured is not held.
    const header = linkHeader({ manufacturer: "QQQ", id: "98989898", deviceType: 2 });
    const stranger = fragmentedTelegrams({
      security: 7,
      key: key(9),
      header,
      accessNumber: 1,
      messageCounter: 1,
      records: Uint8Array.from(energy(3)),
      fragments: 2,
      format: "A",
    });
    await send(stranger);
    expect(counters.unknownMeters).toBe(unknown + 2);
    // Another device type than the meter's: refused before it is held.
    await send([
      fragments("f7", {
        access: 13,
        counter: 20,
        deviceType: 0x07,
        parts: 2,
        records: volume(1),
      })[0] as Uint8Array,
    ]);
    expect(refusals("identity").at(-1)).toMatchObject({ meter: "frag-seven" });
    expect(counters.badTelegrams).toBe(bad + 2);
    expect(stored).toHaveLength(storedBefore);
    // Mode 5: records after the encrypted blocks are ignored, as in a single telegram.
    await send(
      fragments("f5", {
        access: 2,
        parts: 3,
        records: volume(78_000),
        trailer: volume(99_000_000),
      }),
    );
    expect(lastStored()).toMatchObject({
      meter: "frag-five",
      readings: [{ obis: "7-0:3.0.0*255", value: 78 }],
    });
  });

  test("property: shuffled, repeated, dropped and mutated fragments never crash the listener", async () => {
    let counter = 100;
    const streamOf = (n: number) => {
      const m = fragments("fp", { access: n & 0xff, counter: n, parts: 3, records: energy(n) });
      const w = fragments("fw", { access: n & 0xff, counter: n, parts: 2, records: volume(n) });
      return [...m, ...w];
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            pick: fc.nat(),
            flip: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
              nil: undefined,
            }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (picks) => {
          counter += 2;
          const pool = streamOf(counter - 1);
          const batch = picks.map(({ pick, flip }) => {
            const frame = Uint8Array.from(pool[pick % pool.length] as Uint8Array);
            if (flip) {
              const crcFree = decodeCrcFree(frame);
              const i = 1 + (flip[0] % (crcFree.length - 1));
              crcFree[i] = (crcFree[i] as number) ^ flip[1];
              return toFormatA(crcFree);
            }
            return frame;
          });
          await send(batch);
          // A good fragmented message afterwards is stored.
          const storedBefore = stored.length;
          await send(
            fragments("fp", {
              access: counter & 0xff,
              counter,
              parts: 3,
              records: energy(counter),
            }),
          );
          expect(stored).toHaveLength(storedBefore + 1);
          expect(lastStored()).toMatchObject({
            meter: "frag-property",
            readings: [{ obis: "1-0:1.8.0*255", value: counter }],
          });
        },
      ),
      { numRuns: 40 },
    );
    expect(logs.some((l) => l.kind === "internal" || l.msg === "datagram handling failed")).toBe(
      false,
    );
  }, 60_000);
});

/** The CRC-free frame of a telegram (to re-frame it). */
function decodeCrcFree(raw: Uint8Array): Uint8Array {
  const { body } = unwrapFrame(raw);
  return Uint8Array.of(body.length, ...body);
}
