// A simulated wireless M-Bus meter on the LMN: every interval it sends one OMS telegram (the
// raw frame with its block CRCs, format A or B, as a radio receiver hands it over) in a UDP
// datagram to the gateway's wM-Bus radio, from its own address. Security mode 5 or 7; the
// access number rises with every telegram, in mode 7 also the AFL message counter. Its
// register rises steadily: energy in Wh (electricity, heat) or volume in m³ (water, gas);
// an electricity meter also sends its current power, every meter its own clock (which the
// gateway ignores).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  fragmentedTelegrams,
  linkHeader,
  mode5Payload,
  mode7Payload,
  toFormatA,
  toFormatB,
  wirelessFrame,
} from "@smgw/wmbus/frame-builder.ts";

export type SimDevice = "electricity" | "water" | "heat" | "gas";

/** Device type codes of the A-field (EN 13757-7). */
export const SIM_DEVICE_TYPES: Record<SimDevice, number> = {
  electricity: 0x02,
  gas: 0x03,
  heat: 0x04,
  water: 0x07,
};

export interface SimTelegramState {
  manufacturer: string;
  /** 8 digits as printed. */
  id: string;
  version: number;
  deviceType: SimDevice;
  security: 5 | 7;
  key: Uint8Array;
  /** TPL access number, 0-255. */
  accessNumber: number;
  /** AFL message counter (mode 7), 32 bits. */
  messageCounter: number;
  /** Energy in Wh (electricity, heat) or volume in m³ (water, gas). */
  register: number;
  /** Current power in W (electricity only). */
  powerW?: number;
  /** The meter's clock, sent as a date/time record. */
  meterTime?: Date;
  /** TPL status byte. */
  status?: number;
  format: "A" | "B";
  /** Send each message as this many AFL fragments (EN 13757-7); 1 or absent: one telegram. */
  fragments?: number;
}

const INT32_MAX = 0x7fffffff;

function int32(value: number): number[] {
  const v = Math.max(-INT32_MAX, Math.min(INT32_MAX, Math.floor(value)));
  return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
}

/** Date and time, type F (minutes), in the meter's local time; the year counts from 2000. */
function typeF(d: Date): number[] {
  const year = Math.max(0, Math.min(127, d.getFullYear() - 2000));
  return [
    d.getMinutes(),
    d.getHours(),
    d.getDate() | ((year & 0x07) << 5),
    (d.getMonth() + 1) | ((year >> 3) << 4),
  ];
}

/** The data records of one telegram (without the 2F2F marker). */
export function simRecords(s: SimTelegramState): Uint8Array {
  const out: number[] = [];
  if (s.deviceType === "electricity" || s.deviceType === "heat") {
    out.push(0x04, 0x03, ...int32(s.register)); // energy, Wh, 32-bit integer
  } else {
    out.push(0x04, 0x13, ...int32(s.register * 1000)); // volume, litres, 32-bit integer
  }
  if (s.deviceType === "electricity") {
    out.push(0x04, 0x2b, ...int32(s.powerW ?? 0)); // power, W
  }
  if (s.deviceType === "heat") {
    out.push(0x02, 0x5a, 0x8a, 0x02); // flow temperature 65.0 °C, 0.1 °C steps
  }
  out.push(0x04, 0x6d, ...typeF(s.meterTime ?? new Date())); // the meter's date and time
  return Uint8Array.from(out);
}

/** The telegrams of one message: one, or its AFL fragments in order. */
export function buildSimTelegrams(s: SimTelegramState): Uint8Array[] {
  if ((s.fragments ?? 1) <= 1) return [buildSimTelegram(s)];
  return fragmentedTelegrams({
    security: s.security,
    key: s.key,
    header: simHeader(s),
    accessNumber: s.accessNumber & 0xff,
    messageCounter: s.messageCounter >>> 0,
    records: simRecords(s),
    status: s.status ?? 0,
    fragments: s.fragments ?? 1,
    format: s.format,
  });
}

function simHeader(s: SimTelegramState): Uint8Array {
  return linkHeader({
    c: 0x44, // SND-NR
    manufacturer: s.manufacturer,
    id: s.id,
    version: s.version,
    deviceType: SIM_DEVICE_TYPES[s.deviceType],
  });
}

/** One telegram of the simulated meter: the raw frame with its CRCs. */
export function buildSimTelegram(s: SimTelegramState): Uint8Array {
  const header = simHeader(s);
  const records = simRecords(s);
  const access = s.accessNumber & 0xff;
  const payload =
    s.security === 5
      ? mode5Payload(s.key, header, access, records, s.status ?? 0)
      : mode7Payload(s.key, header, access, s.messageCounter >>> 0, records, s.status ?? 0);
  const frame = wirelessFrame(header, payload);
  return s.format === "B" ? toFormatB(frame) : toFormatA(frame);
}

export interface WmbusSimOptions {
  target: { hostname: string; port: number };
  /** Source address to send from (the meter's address on the LMN). */
  bind?: string;
  manufacturer: string;
  id: string;
  version?: number;
  deviceType: SimDevice;
  security: 5 | 7;
  key: Uint8Array;
  intervalMs: number;
  /** Register at start: Wh (electricity, heat) or m³ (water, gas). */
  startValue?: number;
  /** Rise of the register per hour: Wh (electricity, heat) or m³ (water, gas). */
  ratePerHour?: number;
  format?: "A" | "B";
  /** Send each message as this many AFL fragments (1 or absent: one telegram). */
  fragments?: number;
  /** Stop after this many telegrams (0 or absent: until stopped). */
  count?: number;
  /** Called when the last of `count` telegrams has been sent. */
  onDone?: () => void;
}

export interface WmbusSim {
  stop(): void;
  /** Telegrams handed to the socket so far. */
  sent(): number;
}

const DEFAULTS: Record<SimDevice, { start: number; rate: number }> = {
  electricity: { start: 1_000_000, rate: 500 },
  heat: { start: 5_000_000, rate: 2_000 },
  water: { start: 100, rate: 0.05 },
  gas: { start: 1_000, rate: 0.2 },
};

export async function startWmbusSimMeter(o: WmbusSimOptions): Promise<WmbusSim> {
  if (!(o.intervalMs >= 1)) throw new RangeError("intervalMs must be at least 1");
  if (o.key.length !== 16) throw new RangeError("the key must be 16 bytes (AES-128)");
  const socket = await Bun.udpSocket({ ...(o.bind ? { hostname: o.bind } : {}), port: 0 });
  const start = o.startValue ?? DEFAULTS[o.deviceType].start;
  const rate = o.ratePerHour ?? DEFAULTS[o.deviceType].rate;
  const startedAt = Date.now();
  const state: SimTelegramState = {
    manufacturer: o.manufacturer,
    id: o.id,
    version: o.version ?? 1,
    deviceType: o.deviceType,
    security: o.security,
    key: o.key,
    accessNumber: Math.floor(Math.random() * 256),
    // A real meter keeps its counter; the sim starts at the seconds since 2020, so that after a
    // restart it still sends counters above its earlier ones (at up to one telegram a second).
    messageCounter: Math.floor((Date.now() - Date.UTC(2020, 0, 1)) / 1000),
    register: start,
    format: o.format ?? "A",
    ...(o.fragments ? { fragments: o.fragments } : {}),
  };
  let sent = 0;
  let stopped = false;

  const sendOne = () => {
    if (stopped) return;
    const now = Date.now();
    state.register = start + (rate * (now - startedAt)) / 3_600_000;
    if (o.deviceType === "electricity") state.powerW = rate; // Wh per hour = W
    state.meterTime = new Date(now);
    try {
      const telegrams = buildSimTelegrams(state);
      let all = true;
      for (const t of telegrams) all = socket.send(t, o.target.port, o.target.hostname) && all;
      if (all) sent++;
    } catch (e) {
      process.stderr.write(`sim-wmbus ${o.manufacturer} ${o.id}: ${(e as Error).message}\n`);
    }
    state.accessNumber = (state.accessNumber + 1) & 0xff;
    state.messageCounter = (state.messageCounter + 1) >>> 0;
    if (o.count && sent >= o.count) {
      stop();
      o.onDone?.();
    }
  };
  const timer = setInterval(sendOne, o.intervalMs);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    socket.close();
  };
  sendOne();
  return { stop, sent: () => sent };
}

export class WmbusSimUsageError extends Error {
  override name = "WmbusSimUsageError";
}

export const WMBUS_SIM_USAGE = `smgw sim wmbus --manufacturer ABC --id 12345678 --medium electricity|water|heat|gas
    --security 5|7 (--key HEX | --key-file FILE) --gateway ADDR --port PORT
    [--source ADDR] [--interval MS] [--count N] [--format A|B] [--version N]
    [--start VALUE] [--rate PER_HOUR] [--fragments N]`;

/**
 * `smgw sim wmbus …` (argv without "sim wmbus"): runs until `--count` telegrams are sent, or
 * until SIGINT/SIGTERM. Returns the exit code; a bad argument throws WmbusSimUsageError.
 */
export async function runWmbusSimCli(argv: string[]): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        manufacturer: { type: "string" },
        id: { type: "string" },
        medium: { type: "string" },
        security: { type: "string" },
        key: { type: "string" },
        "key-file": { type: "string" },
        gateway: { type: "string" },
        port: { type: "string" },
        source: { type: "string" },
        interval: { type: "string", default: "5000" },
        count: { type: "string", default: "0" },
        format: { type: "string", default: "A" },
        version: { type: "string", default: "1" },
        start: { type: "string" },
        rate: { type: "string" },
        fragments: { type: "string", default: "1" },
      },
    }).values;
  } catch (e) {
    throw new WmbusSimUsageError((e as Error).message);
  }
  const need = (k: string): string => {
    const v = values[k];
    if (!v) throw new WmbusSimUsageError(`sim wmbus needs --${k}`);
    return v;
  };
  const manufacturer = need("manufacturer");
  if (!/^[A-Z]{3}$/.test(manufacturer))
    throw new WmbusSimUsageError("--manufacturer must be 3 letters A-Z");
  const id = need("id");
  if (!/^\d{8}$/.test(id)) throw new WmbusSimUsageError("--id must be 8 digits");
  const medium = need("medium");
  if (!(medium in SIM_DEVICE_TYPES))
    throw new WmbusSimUsageError("--medium must be electricity, water, heat or gas");
  const security = Number(need("security"));
  if (security !== 5 && security !== 7) throw new WmbusSimUsageError("--security must be 5 or 7");
  if (values.key && values["key-file"])
    throw new WmbusSimUsageError("give --key or --key-file, not both");
  const keyHex = values["key-file"] ? readFileSync(values["key-file"], "utf8").trim() : need("key");
  if (!/^[0-9a-fA-F]{32}$/.test(keyHex))
    throw new WmbusSimUsageError("the key must be 32 hex digits (AES-128)");
  const port = Number(need("port"));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new WmbusSimUsageError("--port must be 1 to 65535");
  const intervalMs = Number(values.interval);
  if (!(intervalMs >= 10)) throw new WmbusSimUsageError("--interval must be at least 10 ms");
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 0)
    throw new WmbusSimUsageError("--count must be a whole number");
  const format = values.format;
  if (format !== "A" && format !== "B") throw new WmbusSimUsageError("--format must be A or B");
  const version = Number(values.version);
  if (!Number.isInteger(version) || version < 0 || version > 255)
    throw new WmbusSimUsageError("--version must be 0 to 255");
  const number = (k: string): number | undefined => {
    if (values[k] === undefined) return undefined;
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n < 0) throw new WmbusSimUsageError(`--${k} must be a number ≥ 0`);
    return n;
  };
  const fragments = Number(values.fragments);
  if (!Number.isInteger(fragments) || fragments < 1 || fragments > 16)
    throw new WmbusSimUsageError("--fragments must be 1 to 16");
  const startValue = number("start");
  const ratePerHour = number("rate");

  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const sim = await startWmbusSimMeter({
    target: { hostname: need("gateway"), port },
    ...(values.source ? { bind: values.source } : {}),
    manufacturer,
    id,
    version,
    deviceType: medium as SimDevice,
    security,
    key: Buffer.from(keyHex, "hex"),
    intervalMs,
    ...(startValue !== undefined ? { startValue } : {}),
    ...(ratePerHour !== undefined ? { ratePerHour } : {}),
    format,
    fragments,
    count,
    onDone: () => finish(),
  });
  const onSignal = () => {
    sim.stop();
    finish();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await done;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return 0;
}
