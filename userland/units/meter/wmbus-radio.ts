// The wireless M-Bus radio of the meter domain: a UDP socket on the LMN address stands in for
// the radio receiver, each datagram one received telegram (the raw frame, format A or B with
// its block CRCs). Only the configured meters are heard, only in the OMS security mode each is
// configured for (5 or 7), and only fresh telegrams: decoded with the meter's key, checked
// against replay, mapped to readings, validated, stamped with the gateway's clock and stored.
// Bad input is logged with its reason, counted and dropped; the socket keeps serving.
//
// Replay rules, per meter, in memory (a restart forgets them):
// - a telegram whose CRC-free frame is identical to one of the last REPLAY_WINDOW accepted
//   frames is a replay (this also catches a telegram re-framed from format A to B); the frames
//   of an accepted fragmented message count one by one, so a repeated fragment is a replay;
// - mode 7: the AFL message counter must be greater than the last accepted one (the counter is
//   covered by the MAC and the key derivation, so it cannot be forged);
// - mode 5: the TPL access number must differ from the last accepted one. Mode 5 has no MAC:
//   the header in clear is not authenticated and CBC lets an attacker flip bits of later
//   blocks; its last line of defence is validate.ts (and the check below for registers that
//   would run backwards). Records after the encrypted blocks are ignored in mode 5.
// A telegram counts as accepted (and its replay state is kept) once it is authentic and fresh,
// even if the storage later fails, so that a replay never gets in.
// Storage: one `store` call per accepted telegram, in order per meter. A failure is logged
// ("readings not stored": meter, registers, capturedAt, error) and counted in storeFailures;
// the radio does not send those readings again. The IFM client behind `store` waits for (and
// reconnects to) the IFM before it sends, up to its timeout, but does not resend a request
// that failed; the meter's next telegram carries its registers anew, so a lost telegram costs
// one data point, not a register value.
// Compact frames (CI 0x79/0x7B/0x73) are expanded with the record layouts of the same meter's
// accepted full frames only, so that a refused or forged telegram cannot teach a layout.
// Fragmented messages (AFL, EN 13757-7): a telegram that carries one fragment of a longer
// message is held (counted in `fragments`) by an AflReassembler, per meter (manufacturer, id,
// version, device type of the link layer), until the last fragment completes the message;
// then the whole message goes through the same checks as a single telegram (meter, key,
// downgrade, mode 7 MAC over the whole message and counter, device type) and its readings are
// stored once. Before a fragment is held: the meter must be configured, the fragment must not
// repeat a frame of an accepted telegram or message, a first fragment's mode 7 counter must be
// new, and the link layer's device type and version must be the meter's. Fragments out of
// order, repeated, with a gap, too many or too large, and the late fragments of a message that
// timed out (FRAGMENT_TIMEOUT_MS after its first fragment) are refused and counted in
// badTelegrams (kind "fragment"); partial messages given up unfinished (timed out, or
// superseded by the meter's next first fragment) are logged and counted in
// partialMessagesDropped. Fragments are not authenticated one by one: anyone can break or
// supersede a partial message, never get one accepted that the MAC does not cover (mode 7).
import { createHash } from "node:crypto";
import type { Logger } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import {
  type AflFragment,
  AflFragmentError,
  AflReassembler,
  type DataRecord,
  type DecodedFrame,
  type DroppedMessage,
  decodeFrame,
  decodeReassembled,
  decodeTelegram,
  FormatCache,
  formatSignature,
  type Telegram,
  type TelegramHeaders,
  unwrapFrame,
  WmbusError,
} from "@smgw/wmbus";
import { type CalibrationRecorder, noteRefused, noteStored } from "./calibration.ts";
import { type MeterEntry, validateReadings } from "./validate.ts";

export type WmbusMedium = "electricity" | "water" | "heat" | "gas";

export interface WmbusMeter {
  /** The meter's endpoint name in the policy. */
  name: string;
  /** Three-letter manufacturer code (FLAG id). */
  manufacturer: string;
  /** Identification number, 8 digits as printed on the meter. */
  id: string;
  security: 5 | 7;
  /** AES-128 key of the meter. */
  key: Uint8Array;
  /**
   * The medium the meter measures. When given, telegrams whose device type is not of this
   * medium are refused; without it the device type of the first accepted telegram is kept
   * and a later change refused (the link layer's device type is not covered by the mode 7
   * MAC).
   */
  medium?: WmbusMedium;
}

export interface WmbusCounters {
  /** Telegrams accepted: authentic, fresh, from a configured meter. */
  telegrams: number;
  /** Readings stored. */
  accepted: number;
  /** Readings refused by validation. */
  rejected: number;
  /** Datagrams that are no good telegram: oversized, frame, CRC, truncated, wrong key, MAC … */
  badTelegrams: number;
  /** Datagrams from a source address not among the peers. */
  unknownPeers: number;
  /** Telegrams from a meter that is not configured. */
  unknownMeters: number;
  /** Telegrams from a configured meter without its security mode (unencrypted, unauthenticated). */
  downgrades: number;
  /** Telegrams already seen, or with an access number or message counter that is not new. */
  replays: number;
  /** Telegrams whose readings the storage did not take (logged with the error). */
  storeFailures: number;
  /** Telegrams holding one fragment of a longer message, held until the message is complete. */
  fragments: number;
  /** Partial messages given up unfinished: timed out, or superseded by a new first fragment. */
  partialMessagesDropped: number;
}

export function newWmbusCounters(): WmbusCounters {
  return {
    telegrams: 0,
    accepted: 0,
    rejected: 0,
    badTelegrams: 0,
    unknownPeers: 0,
    unknownMeters: 0,
    downgrades: 0,
    replays: 0,
    storeFailures: 0,
    fragments: 0,
    partialMessagesDropped: 0,
  };
}

export interface WmbusRadioOptions {
  hostname: string;
  port: number;
  meters: WmbusMeter[];
  /** Hands readings to the storage; a rejection is logged and counted (see above). */
  store: (meter: string, readings: Reading[]) => Promise<unknown>;
  log: Logger;
  counters: WmbusCounters;
  /** Source addresses allowed to send; datagrams from others are dropped and counted. */
  peers?: string[];
  /** The gateway's clock (tests replace it). */
  now?: () => Date;
  /** A partial fragmented message is dropped this long after its first fragment. */
  fragmentTimeoutMs?: number;
  /** Records registers that ran backwards in the calibration log. */
  calibration?: CalibrationRecorder;
}

export interface WmbusRadio {
  stop(): void;
  port: number;
}

/** Largest datagram taken as a telegram (a wM-Bus frame is at most 290 bytes in format A). */
export const MAX_DATAGRAM_BYTES = 512;
/** Frames of accepted telegrams (and fragments) remembered per meter for the replay check. */
export const REPLAY_WINDOW = 64;
/** A partial fragmented message is dropped this many milliseconds after its first fragment. */
export const FRAGMENT_TIMEOUT_MS = 60_000;
/** The largest fragmented message taken (AFL.ML), in bytes. */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** An unknown meter is logged at most once per this many milliseconds (it is always counted). */
const UNKNOWN_LOG_INTERVAL_MS = 60_000;
/** Unknown meters (and peers) remembered for the log rate limit. */
const MAX_REMEMBERED_UNKNOWN = 1024;
/** Telegrams of one meter waiting for the storage; beyond this they are dropped and counted. */
const MAX_PENDING_STORES = 64;
/** Compact frame layouts remembered per meter. */
const FORMATS_PER_METER = 16;

/**
 * The readings the radio takes from a telegram. Only current values count: storage number 0,
 * function instantaneous, subunit 0, a primary VIF without VIFEs (a VIFE may change the
 * meaning, e.g. "backward flow"), a numeric value. Everything else is ignored, not an error.
 *
 * | medium (device type)                        | quantity       | tariff | OBIS             | unit |
 * |---------------------------------------------|----------------|--------|------------------|------|
 * | electricity (0x02)                          | energy         | 0      | 1-0:1.8.0*255    | Wh   |
 * | electricity (0x02)                          | energy         | t 1-63 | 1-0:1.8.t*255    | Wh   |
 * | electricity (0x02)                          | power          | 0      | 1-0:1.7.0*255    | W    |
 * | heat (0x04 outlet, 0x0C inlet)              | energy         | 0      | 6-0:1.0.0*255    | Wh   |
 * | water (0x07 water, 0x16 cold water)         | volume         | 0      | 8-0:1.0.0*255    | m³   |
 * | warm/hot water (0x06, 0x15)                 | volume         | 0      | 9-0:1.0.0*255    | m³   |
 * | gas (0x03)                                  | volume         | 0      | 7-0:3.0.0*255    | m³   |
 *
 * Units are the gateway's symbols (as the SML path stores them): energy scaled to Wh, power to
 * W, volume in m³. The meter's own date and time records are never used.
 */
export const WMBUS_OBIS_MAPPINGS = [
  { medium: "electricity", quantity: "energy", tariff: "0", obis: "1-0:1.8.0*255", unit: "Wh" },
  { medium: "electricity", quantity: "energy", tariff: "1-63", obis: "1-0:1.8.t*255", unit: "Wh" },
  { medium: "electricity", quantity: "power", tariff: "0", obis: "1-0:1.7.0*255", unit: "W" },
  { medium: "heat", quantity: "energy", tariff: "0", obis: "6-0:1.0.0*255", unit: "Wh" },
  { medium: "water", quantity: "volume", tariff: "0", obis: "8-0:1.0.0*255", unit: "m³" },
  { medium: "warm water", quantity: "volume", tariff: "0", obis: "9-0:1.0.0*255", unit: "m³" },
  { medium: "gas", quantity: "volume", tariff: "0", obis: "7-0:3.0.0*255", unit: "m³" },
] as const;

const MEDIUM_OF_DEVICE_TYPE = new Map<number, WmbusMedium>([
  [0x02, "electricity"],
  [0x03, "gas"],
  [0x04, "heat"],
  [0x0c, "heat"],
  [0x06, "water"],
  [0x07, "water"],
  [0x15, "water"],
  [0x16, "water"],
]);
const WARM_WATER = new Set([0x06, 0x15]);
const MAX_TARIFF = 63;

/** Registers that only grow (validate.ts checks D = 8 itself; these are the others mapped). */
const CUMULATIVE = new Set(["6-0:1.0.0*255", "8-0:1.0.0*255", "9-0:1.0.0*255", "7-0:3.0.0*255"]);

/** Maps the records of a decoded telegram to meter entries (see WMBUS_OBIS_MAPPINGS). */
export function entriesFromRecords(
  records: readonly DataRecord[],
  deviceType: number,
  status: number,
): { entries: MeterEntry[]; ignored: number } {
  const medium = MEDIUM_OF_DEVICE_TYPE.get(deviceType);
  const entries: MeterEntry[] = [];
  const seen = new Set<string>();
  let ignored = 0;
  for (const r of records) {
    const mapped = medium ? mapRecord(r, medium, deviceType) : undefined;
    // A second record for the same register in one telegram is ignored: the first one counts.
    if (!mapped || seen.has(mapped.obis)) {
      ignored++;
      continue;
    }
    seen.add(mapped.obis);
    entries.push({ ...mapped, status });
  }
  return { entries, ignored };
}

function mapRecord(
  r: DataRecord,
  medium: WmbusMedium,
  deviceType: number,
): { obis: string; value: number; unit: string } | undefined {
  if (r.storage !== 0 || r.subunit !== 0 || r.function !== "instantaneous") return undefined;
  if (r.vifTable !== "primary" || r.rawVif.length !== 2 || typeof r.value !== "number")
    return undefined;
  const { quantity, unit, tariff } = r;
  if (quantity === "energy" && unit === "kWh") {
    const value = scaled(r.value, 1000);
    if (medium === "electricity" && tariff <= MAX_TARIFF)
      return { obis: `1-0:1.8.${tariff}*255`, value, unit: "Wh" };
    if (medium === "heat" && tariff === 0) return { obis: "6-0:1.0.0*255", value, unit: "Wh" };
    return undefined;
  }
  if (tariff !== 0) return undefined;
  if (quantity === "power" && unit === "kW" && medium === "electricity")
    return { obis: "1-0:1.7.0*255", value: scaled(r.value, 1000), unit: "W" };
  if (quantity === "volume" && unit === "m³") {
    const value = scaled(r.value, 1);
    if (medium === "gas") return { obis: "7-0:3.0.0*255", value, unit: "m³" };
    if (medium === "water")
      return { obis: `${WARM_WATER.has(deviceType) ? 9 : 8}-0:1.0.0*255`, value, unit: "m³" };
  }
  return undefined;
}

/** Scales and drops the binary noise of decimal scaling (12.345 kWh × 1000 = 12345 Wh). */
function scaled(value: number, factor: number): number {
  return Number((value * factor).toPrecision(15));
}

interface MeterState {
  config: WmbusMeter;
  /** Device type and version of the first accepted telegram. */
  deviceType?: number;
  version?: number | null;
  lastAccessNumber?: number;
  lastCounter?: number;
  /** Hashes of the last accepted telegrams, oldest first. */
  recent: string[];
  recentSet: Set<string>;
  /** Last stored value per register, to refuse registers that run backwards. */
  last: Map<string, number>;
  /** Stores run one after another, so that register order is kept. */
  chain: Promise<void>;
  pending: number;
  /** Record layouts of this meter's accepted full frames, for its compact frames. */
  formats: FormatCache;
}

/** Layouts learned while decoding are kept back until the telegram is accepted. */
class StagedFormatCache extends FormatCache {
  readonly learned: Uint8Array[] = [];
  constructor(private readonly committed: FormatCache) {
    super();
  }
  override remember(recordHeaders: Uint8Array): number {
    this.learned.push(Uint8Array.from(recordHeaders));
    return formatSignature(recordHeaders);
  }
  override lookup(signature: number): Uint8Array | undefined {
    return this.committed.lookup(signature);
  }
}

type Counter = keyof WmbusCounters;

class Refusal {
  constructor(
    readonly counter: Counter,
    readonly kind: string,
    readonly reason: string,
    readonly fields: Record<string, unknown> = {},
  ) {}
}

interface Identity {
  manufacturer: string;
  id: string;
  version: number | null;
  deviceType: number | null;
}

/** The meter a telegram is from: the TPL long header if there is one, else the link layer. */
function identityOf(h: TelegramHeaders): Identity | undefined {
  const t = h.transport;
  if (t?.manufacturer !== undefined && t.id !== undefined) {
    return {
      manufacturer: t.manufacturer,
      id: t.id,
      version: t.version ?? null,
      deviceType: t.deviceType ?? null,
    };
  }
  const l = h.link;
  if (!l?.manufacturer || !l.id) return undefined;
  return { manufacturer: l.manufacturer, id: l.id, version: l.version, deviceType: l.deviceType };
}

const meterKey = (manufacturer: string, id: string) => `${manufacturer}:${id}`;

/** Size of the ELL by CI-field: CI, CC, ACC, then address (8) and SN + payload CRC (6). */
const ELL_SIZE = new Map([
  [0x8c, 3],
  [0x8d, 9],
  [0x8e, 11],
  [0x8f, 17],
]);

/** Offset (from the L-field of the CRC-free frame) where the TPL's encrypted blocks end. */
function encryptedEnd(t: Telegram): number {
  let pos = 10; // L, C, M (2), A (6): the first CI-field
  if (t.ell) pos += ELL_SIZE.get(t.ell.ci) ?? 0;
  if (t.afl) pos += 2 + t.afl.length;
  const tpl = t.transport;
  pos += 1 + (tpl.headerType === "long" ? 8 : 0) + (tpl.headerType === "none" ? 0 : 4);
  if (tpl.securityMode === 7) pos += 1;
  return pos + (tpl.encryptedBlocks ?? 0) * 16;
}

function recordEnd(r: DataRecord): number {
  const lvar = r.annotations.some((a) => a.startsWith("LVAR ")) ? 1 : 0;
  return r.offset + (r.dif.length + r.rawVif.length + r.raw.length) / 2 + lvar;
}

export async function startWmbusRadio(o: WmbusRadioOptions): Promise<WmbusRadio> {
  const now = o.now ?? (() => new Date());
  const meters = new Map<string, MeterState>();
  for (const m of o.meters) {
    if (!/^[A-Z]{3}$/.test(m.manufacturer))
      throw new Error(`wM-Bus meter ${m.name}: manufacturer must be 3 letters A-Z`);
    if (!/^\d{8}$/.test(m.id)) throw new Error(`wM-Bus meter ${m.name}: id must be 8 digits`);
    if (m.security !== 5 && m.security !== 7)
      throw new Error(`wM-Bus meter ${m.name}: security mode must be 5 or 7`);
    if (!(m.key instanceof Uint8Array) || m.key.length !== 16)
      throw new Error(`wM-Bus meter ${m.name}: the key must be 16 bytes (AES-128)`);
    const key = meterKey(m.manufacturer, m.id);
    if (meters.has(key)) throw new Error(`wM-Bus meter ${m.manufacturer} ${m.id} configured twice`);
    meters.set(key, {
      config: { ...m, key: Uint8Array.from(m.key) },
      recent: [],
      recentSet: new Set(),
      last: new Map(),
      chain: Promise.resolve(),
      pending: 0,
      formats: new FormatCache(FORMATS_PER_METER),
    });
  }
  const peers = o.peers ? new Set(o.peers.map(plainAddress)) : undefined;
  /** When an unknown meter or peer was last logged, and how many were not logged since. */
  const unknownLogged = new Map<string, { at: number; suppressed: number }>();

  /** True if this unknown sender should be logged now (once per minute per sender). */
  const shouldLog = (key: string): { log: boolean; suppressed: number } => {
    const at = now().getTime();
    const entry = unknownLogged.get(key);
    if (entry && at - entry.at < UNKNOWN_LOG_INTERVAL_MS && at >= entry.at) {
      entry.suppressed++;
      return { log: false, suppressed: 0 };
    }
    if (!entry && unknownLogged.size >= MAX_REMEMBERED_UNKNOWN) unknownLogged.clear();
    unknownLogged.set(key, { at, suppressed: 0 });
    return { log: true, suppressed: entry?.suppressed ?? 0 };
  };

  const meterOfFragmentKey = (key: string): string | undefined => {
    const [manufacturer = "", id = ""] = key.split(":");
    return meters.get(meterKey(manufacturer, id))?.config.name;
  };
  // Fragments are held only for configured meters whose device type and version fit, so a
  // meter normally has one reassembly key; twice the meters leaves room before that is pinned.
  const reassembler = new AflReassembler({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    maxMeters: Math.max(1, 2 * meters.size),
    timeoutMs: o.fragmentTimeoutMs ?? FRAGMENT_TIMEOUT_MS,
    onDrop: (d: DroppedMessage) => {
      o.counters.partialMessagesDropped++;
      o.log.warn("partial message dropped", {
        meter: meterOfFragmentKey(d.key),
        reason: d.reason,
        fragments: d.fragments,
        bytes: d.bytes,
        messageLength: d.messageLength,
      });
    },
  });

  /** The device type must be the configured medium's and stay that of the accepted telegrams. */
  const checkDeviceType = (state: MeterState, deviceType: number, version: number | null) => {
    const cfg = state.config;
    const meter = cfg.name;
    const medium = MEDIUM_OF_DEVICE_TYPE.get(deviceType);
    if (cfg.medium !== undefined && medium !== cfg.medium) {
      throw new Refusal(
        "badTelegrams",
        "identity",
        `device type 0x${hex2(deviceType)} (${medium ?? "no mapped medium"}), the meter is ` +
          `configured as ${cfg.medium}`,
        { meter },
      );
    }
    if (
      state.deviceType !== undefined &&
      (state.deviceType !== deviceType || state.version !== version)
    ) {
      throw new Refusal(
        "badTelegrams",
        "identity",
        `device type 0x${hex2(deviceType)} version ${version} differ from the meter's ` +
          `earlier telegrams (0x${hex2(state.deviceType)} version ${state.version})`,
        { meter },
      );
    }
  };

  /** A fragment of a configured meter: checked, then held until its message is complete. */
  const holdFragment = (state: MeterState, fragment: AflFragment, frameHash: string) => {
    const cfg = state.config;
    const meter = cfg.name;
    if (state.recentSet.has(frameHash)) {
      throw new Refusal("replays", "replay", "identical to an accepted telegram", { meter });
    }
    // The first fragment carries the counter in clear: a stale one is refused at once (the MAC
    // over the whole message proves a new one later).
    const counter = fragment.afl.messageCounter;
    if (
      cfg.security === 7 &&
      fragment.afl.fragmentId === 1 &&
      counter !== undefined &&
      state.lastCounter !== undefined &&
      counter <= state.lastCounter
    ) {
      throw new Refusal(
        "replays",
        "replay",
        `AFL message counter ${counter} not greater than the last accepted ${state.lastCounter}`,
        { meter },
      );
    }
    checkDeviceType(state, fragment.link.deviceType ?? -1, fragment.link.version);
    try {
      return reassembler.push(fragment, now().getTime());
    } catch (e) {
      if (!(e instanceof AflFragmentError)) throw e;
      throw new Refusal("badTelegrams", "fragment", e.message, {
        meter,
        fragment: e.reason,
        ...(e.dropped ? { droppedFragments: e.dropped.fragments } : {}),
      });
    }
  };

  const examine = (raw: Uint8Array, truncatedByKernel: boolean) => {
    if (truncatedByKernel || raw.length > MAX_DATAGRAM_BYTES) {
      throw new Refusal(
        "badTelegrams",
        "oversized",
        `datagram of ${truncatedByKernel ? "more than " : ""}${raw.length} bytes ` +
          `(at most ${MAX_DATAGRAM_BYTES})`,
      );
    }
    // The data link layer: a radio hands over format A or B frames with their block CRCs.
    let frame: ReturnType<typeof unwrapFrame>;
    try {
      frame = unwrapFrame(raw);
    } catch (e) {
      const announced = (raw[0] ?? 0) + 1;
      if (
        e instanceof WmbusError &&
        e.kind === "frame" &&
        raw.length > 0 &&
        raw.length < announced
      ) {
        throw new Refusal(
          "badTelegrams",
          "truncated",
          `${raw.length} bytes, the L-field announces at least ${announced}: ${e.message}`,
        );
      }
      throw e;
    }
    if (frame.format === "wmbus-no-crc") {
      throw new Refusal("badTelegrams", "crc", "block CRCs match neither format A nor format B");
    }
    if (frame.format !== "wmbus-a" && frame.format !== "wmbus-b") {
      throw new Refusal("badTelegrams", "frame", "a wired M-Bus frame is no radio telegram");
    }
    // Who is it from? Decoded without a key as far as that goes (refusals keep the headers).
    let headers: TelegramHeaders | undefined;
    try {
      headers = decodeTelegram(raw);
    } catch (e) {
      if (!(e instanceof WmbusError)) throw e;
      headers = e.headers;
      if (!headers?.link) throw e;
    }
    const who = identityOf(headers);
    if (!who) throw new Refusal("badTelegrams", "frame", "the telegram names no meter");
    const state = meters.get(meterKey(who.manufacturer, who.id));
    if (!state) {
      throw new Refusal("unknownMeters", "unknown-meter", "telegram from an unknown meter", {
        manufacturer: who.manufacturer,
        id: who.id,
        deviceType: who.deviceType,
      });
    }
    const cfg = state.config;
    const meter = cfg.name;

    // Compact frames are expanded only with layouts of this meter's accepted telegrams.
    const formats = new StagedFormatCache(state.formats);
    let decoded: DecodedFrame;
    try {
      decoded = decodeFrame(raw, { key: cfg.key, formatCache: formats });
    } catch (e) {
      throw decodeRefusal(e, meter);
    }
    const frameHash = sha256(frame.body);
    let telegram: Telegram;
    /** The frames this telegram (or message) came in, for the replay check. */
    let hashes: string[];
    if (decoded.kind === "fragment") {
      const step = holdFragment(state, decoded.fragment, frameHash);
      if (step.status === "held") return { held: true as const, state, step };
      try {
        telegram = decodeReassembled(step.message, { key: cfg.key, formatCache: formats });
      } catch (e) {
        throw decodeRefusal(e, meter);
      }
      hashes = step.message.parts.map((part) => sha256(part.frame));
    } else {
      telegram = decoded.telegram;
      hashes = [frameHash];
    }
    const full = identityOf(telegram);
    if (!full || full.manufacturer !== who.manufacturer || full.id !== who.id) {
      throw new Refusal("badTelegrams", "identity", "the decrypted telegram names another meter", {
        meter,
      });
    }

    // Security: the configured mode, decrypted with the key, and for mode 7 a verified MAC.
    const tpl = telegram.transport;
    const mode = tpl.securityMode;
    const decrypted = tpl.payload === "decrypted";
    if (mode === 0 || !decrypted || (cfg.security === 7 && mode === 5)) {
      throw new Refusal(
        "downgrades",
        "downgrade",
        `telegram in security mode ${mode} (payload ${tpl.payload}) from a meter configured ` +
          `for mode ${cfg.security}`,
        { meter },
      );
    }
    if (mode !== cfg.security) {
      throw new Refusal(
        "badTelegrams",
        "security-mode",
        `telegram in security mode ${mode} from a meter configured for mode ${cfg.security}`,
        { meter },
      );
    }
    const counter = telegram.afl?.messageCounter;
    if (mode === 7 && (telegram.afl?.macVerified !== true || counter === undefined)) {
      throw new Refusal("downgrades", "downgrade", "mode 7 telegram without a verified AFL MAC", {
        meter,
      });
    }

    // The device type decides the registers; in mode 7 it is not under the MAC, so pin it.
    const deviceType = full.deviceType ?? -1;
    checkDeviceType(state, deviceType, full.version);

    // Replays.
    if (hashes.some((hash) => state.recentSet.has(hash))) {
      throw new Refusal("replays", "replay", "identical to an accepted telegram", { meter });
    }
    if (mode === 7 && state.lastCounter !== undefined && (counter ?? 0) <= state.lastCounter) {
      throw new Refusal(
        "replays",
        "replay",
        `AFL message counter ${counter} not greater than the last accepted ${state.lastCounter}`,
        { meter },
      );
    }
    const accessNumber = tpl.accessNumber ?? -1;
    if (mode === 5 && accessNumber === state.lastAccessNumber) {
      throw new Refusal(
        "replays",
        "replay",
        `access number ${accessNumber} repeats the last accepted telegram's`,
        { meter },
      );
    }

    // Accepted: keep the replay state.
    state.lastAccessNumber = accessNumber;
    if (counter !== undefined) state.lastCounter = counter;
    for (const hash of hashes) {
      state.recent.push(hash);
      state.recentSet.add(hash);
      if (state.recent.length > REPLAY_WINDOW)
        state.recentSet.delete(state.recent.shift() as string);
    }
    state.deviceType = deviceType;
    state.version = full.version;
    for (const layout of formats.learned) state.formats.remember(layout);

    // Mode 5 protects only the encrypted blocks; records after them are not the meter's word.
    // (A compact frame's records are checked by its full frame CRC, data after it included.)
    let records = telegram.records;
    let outside = 0;
    if (mode === 5 && tpl.formatSignature === undefined) {
      const end = encryptedEnd(telegram);
      records = records.filter((r) => recordEnd(r) <= end);
      outside = telegram.records.length - records.length;
    }
    const { entries, ignored } = entriesFromRecords(records, deviceType, tpl.status ?? 0);
    return { held: false as const, state, telegram, entries, ignored, outside };
  };

  const storeReadings = async (state: MeterState, entries: MeterEntry[], capturedAt: string) => {
    const meter = state.config.name;
    const fresh: MeterEntry[] = [];
    for (const e of entries) {
      const before = state.last.get(e.obis);
      if (CUMULATIVE.has(e.obis) && (e.value < 0 || (before ?? 0) > e.value)) {
        o.counters.rejected++;
        o.log.warn("reading refused", {
          meter,
          obis: e.obis,
          reason:
            e.value < 0 ? "negative register" : `register ran backwards (${before} -> ${e.value})`,
        });
        if (e.value >= 0 && before !== undefined)
          o.calibration?.registerRanBackwards(meter, e.obis, before, e.value);
        continue;
      }
      fresh.push(e);
    }
    const { accepted, rejected } = validateReadings(fresh, state.last, capturedAt);
    noteRefused(o.log, o.calibration, meter, rejected);
    o.counters.rejected += rejected.length;
    if (accepted.length === 0) return;
    try {
      await o.store(meter, accepted);
      noteStored(state.last, o.calibration, meter, accepted);
      o.counters.accepted += accepted.length;
      o.log.info("readings stored", { meter, count: accepted.length });
    } catch (e) {
      o.counters.storeFailures++;
      o.log.error("readings not stored", {
        meter,
        count: accepted.length,
        obis: accepted.map((r) => r.obis),
        capturedAt,
        error: (e as Error)?.message ?? String(e),
      });
    }
  };

  const onDatagram = (raw: Uint8Array, address: string, truncatedByKernel: boolean) => {
    const from = plainAddress(address);
    if (peers && !peers.has(from)) {
      o.counters.unknownPeers++;
      const { log, suppressed } = shouldLog(`peer ${from}`);
      if (log) o.log.warn("datagram from an unknown LMN address dropped", { from, suppressed });
      return;
    }
    // Partial messages that timed out are dropped (and counted) as time goes by.
    reassembler.expire(now().getTime());
    let result: ReturnType<typeof examine>;
    try {
      result = examine(raw, truncatedByKernel);
    } catch (e) {
      const r =
        e instanceof Refusal
          ? e
          : e instanceof WmbusError
            ? new Refusal("badTelegrams", e.kind, e.message)
            : new Refusal("badTelegrams", "internal", `decoder failed: ${(e as Error)?.message}`);
      o.counters[r.counter]++;
      if (r.counter === "unknownMeters") {
        const { log, suppressed } = shouldLog(`meter ${r.fields.manufacturer}:${r.fields.id}`);
        if (log) o.log.warn(r.reason, { from, ...r.fields, suppressed });
        return;
      }
      o.log.warn("telegram refused", { from, ...r.fields, kind: r.kind, reason: r.reason });
      return;
    }
    if (result.held) {
      o.counters.fragments++;
      const step = result.step;
      o.log.debug("fragment held", {
        meter: result.state.config.name,
        fragmentId: step.fragmentId,
        bytes: step.bytes,
        messageLength: step.messageLength,
      });
      return;
    }
    const { state, telegram, entries, ignored, outside } = result;
    const meter = state.config.name;
    o.counters.telegrams++;
    // The gateway, not the meter, stamps the time of a reading: at reception.
    const capturedAt = now().toISOString();
    if (outside > 0) {
      o.log.warn("records after the encrypted part ignored", { meter, count: outside });
    }
    o.log.debug("telegram accepted", {
      meter,
      accessNumber: telegram.transport.accessNumber,
      messageCounter: telegram.afl?.messageCounter,
      ...(telegram.fragments ? { fragments: telegram.fragments } : {}),
      readings: entries.length,
      ignored,
    });
    if (entries.length === 0) {
      o.log.info("telegram without readings", { meter, records: telegram.records.length });
      return;
    }
    if (state.pending >= MAX_PENDING_STORES) {
      o.counters.storeFailures++;
      o.log.error("readings not stored", {
        meter,
        count: entries.length,
        capturedAt,
        error: `${state.pending} telegrams already wait for the storage`,
      });
      return;
    }
    state.pending++;
    state.chain = state.chain
      .then(() => storeReadings(state, entries, capturedAt))
      .catch((e: unknown) => {
        o.counters.storeFailures++;
        o.log.error("readings not stored", { meter, capturedAt, error: String(e) });
      })
      .finally(() => {
        state.pending--;
      });
  };

  const socket = await Bun.udpSocket({
    hostname: o.hostname,
    port: o.port,
    binaryType: "uint8array",
    socket: {
      data: (_socket, data, _port, address, flags) => {
        try {
          onDatagram(data, address, flags?.truncated === true);
        } catch (e) {
          // Never reached by design; the socket must keep serving whatever happens.
          o.log.error("datagram handling failed", { error: (e as Error)?.message ?? String(e) });
        }
      },
      error: (_socket, e) => o.log.warn("wM-Bus radio socket error", { error: e.message }),
    },
  });
  return {
    port: socket.port,
    stop: () => socket.close(),
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A decoder refusal of a configured meter's telegram. */
function decodeRefusal(e: unknown, meter: string): Refusal {
  if (!(e instanceof WmbusError)) throw e;
  const hint =
    (e.kind === "decryption" || e.kind === "authentication") && !e.message.includes("wrong key")
      ? " (wrong key?)"
      : "";
  return new Refusal("badTelegrams", e.kind, `${e.message}${hint}`, { meter });
}

/** IPv4 addresses may arrive IPv4-mapped on a dual-stack socket. */
function plainAddress(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

function hex2(value: number): string {
  return (value & 0xff).toString(16).toUpperCase().padStart(2, "0");
}
