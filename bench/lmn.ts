// Benchmark: wireless M-Bus telegrams decoded, decrypted (security mode 5) and stored per
// second, against their raw cost in the same run: AES-128-CBC decryption of the same payload
// bytes plus the EN 13757 CRC over the same frames (the work no decoder can avoid).
//
//   userland/node_modules/.bin/bun bench/lmn.ts [--count N]
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { aesCbcDecrypt, crc16En13757, decodeTelegram } from "../userland/lib/wmbus/index.ts";
import { linkHeader, mode5Payload, toFormatA, wirelessFrame } from "../userland/lib/wmbus/frame-builder.ts";

const { values } = parseArgs({ args: process.argv.slice(2), options: { count: { type: "string", default: "20000" } } });
const COUNT = Number(values.count);
const key = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

// A typical electricity telegram: energy import/export and power, in mode 5, format A.
function telegram(i: number): Uint8Array {
  const header = linkHeader({ manufacturer: "ABC", id: String(10000000 + (i % 8)), deviceType: 2 });
  const wh = 1_000_000 + i * 25;
  const records = Uint8Array.of(
    0x04, 0x03, wh & 0xff, (wh >> 8) & 0xff, (wh >> 16) & 0xff, wh >>> 24, // energy, Wh, 32-bit
    0x84, 0x10, 0x03, 0x10, 0x27, 0x00, 0x00, // energy, tariff 1
    0x02, 0x2b, 0x2c, 0x01, // power, W, 16-bit
  );
  return toFormatA(wirelessFrame(header, mode5Payload(key, header, i & 0xff, records)));
}

const frames = Array.from({ length: COUNT }, (_, i) => telegram(i));
// The bench measures real work only if the telegrams really decode to their values.
const check = decodeTelegram(frames[3] as Uint8Array, { key });
const energy = check.records.find((r) => r.quantity === "energy" && r.tariff === 0)?.value;
if (energy !== (1_000_000 + 3 * 25) / 1000) throw new Error(`telegram decoded wrongly: ${energy}`);
const bytes = frames.reduce((n, f) => n + f.length, 0);

function rate(name: string, run: () => void): number {
  run(); // warm-up
  const t = performance.now();
  run();
  const s = (performance.now() - t) / 1000;
  const r = COUNT / s;
  console.log(`${name.padEnd(44)} ${r.toFixed(0).padStart(9)} telegrams/s  (${((bytes / s) / 1e6).toFixed(1)} MB/s)`);
  return r;
}

// The bound: CRC over each frame's blocks and AES-CBC over a payload of the same size.
const raw = rate("raw cost: CRC + AES-128-CBC of the same bytes", () => {
  const iv = new Uint8Array(16);
  for (const f of frames) {
    crc16En13757(f);
    const enc = f.length - 30 - ((f.length - 30) % 16);
    aesCbcDecrypt(key, iv, f.subarray(16, 16 + Math.max(16, enc)));
  }
});

const decode = rate("decode + decrypt", () => {
  for (const f of frames) decodeTelegram(f, { key });
});

const dir = mkdtempSync(path.join(tmpdir(), "smgw-bench-lmn-"));
const db = new Database(path.join(dir, "meter.sqlite"), { create: true, strict: true });
db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
db.exec(
  "CREATE TABLE readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, meter TEXT, obis TEXT, value REAL, unit TEXT, captured_at TEXT, captured_ms INTEGER, status INTEGER)",
);
const insert = db.prepare(
  "INSERT INTO readings (meter, obis, value, unit, captured_at, captured_ms, status) VALUES ($meter, $obis, $value, $unit, $at, $ms, 0)",
);
// Stored as the meter domain stores them: one transaction per telegram (each acknowledged).
const store = db.transaction((meter: string, recs: { quantity: string; value: unknown; unit: string }[]) => {
  const now = new Date();
  for (const r of recs) {
    if (typeof r.value !== "number") continue;
    insert.run({ meter, obis: r.quantity, value: r.value, unit: r.unit, at: now.toISOString(), ms: now.getTime() });
  }
});
const full = rate("decode + decrypt + store (one commit each)", () => {
  for (const f of frames) {
    const t = decodeTelegram(f, { key });
    store(t.link.id ?? "unknown", t.records as never);
  }
});
db.close();
rmSync(dir, { recursive: true, force: true });

console.log(`ratio decode+decrypt / raw bound: ${(decode / raw).toFixed(2)}x`);
console.log(`ratio decode+decrypt+store / raw bound: ${(full / raw).toFixed(2)}x`);
