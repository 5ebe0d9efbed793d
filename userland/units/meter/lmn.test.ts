// The LMN listener under bad input: garbage, truncated and corrupted frames, the wrong
// meter, unknown addresses. Nothing crashes, nothing already accepted is lost.
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { createLogger } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import { buildMeterReadingFile } from "@smgw/sml";
import { CalibrationRecorder } from "./calibration.ts";
import { type IngestCounters, startLmnListener } from "./lmn.ts";

const stored: { meter: string; readings: Reading[] }[] = [];
const logs: Record<string, unknown>[] = [];
const counters: IngestCounters = { accepted: 0, rejected: 0, badFrames: 0, unknownPeers: 0 };
const calibrationLog: unknown[] = [];
const calibration = new CalibrationRecorder(
  {
    // biome-ignore lint/suspicious/noExplicitAny: the one message the recorder sends
    request: async (_to: string, _type: string, body: any): Promise<any> => {
      calibrationLog.push(...body.entries);
      return { last: calibrationLog.length };
    },
  },
  createLogger("meter", { write: () => {} }),
);
const server = startLmnListener({
  hostname: "127.0.0.1",
  port: 0,
  meters: { "meter-1": { id: "1ESY1161234561", addresses: ["127.0.0.1"] } },
  store: async (meter, readings) => {
    stored.push({ meter, readings });
  },
  log: createLogger("meter", { write: (l) => logs.push(JSON.parse(l)) }),
  counters,
  calibration,
});
afterAll(() => server.stop(true));

const file = (wh: number, id = "1ESY1161234561") =>
  buildMeterReadingFile({
    serverId: new TextEncoder().encode(id),
    transactionId: wh,
    entries: [
      { obis: "1-0:1.8.0*255", unit: 30, scaler: -1, value: BigInt(wh * 10), status: 0x0702 },
    ],
  });

async function send(chunks: Uint8Array[], localAddress = "127.0.0.1"): Promise<void> {
  const s = net.connect({ host: "127.0.0.1", port: server.port, localAddress });
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  for (const c of chunks) {
    s.write(c);
    await Bun.sleep(5);
  }
  await new Promise<void>((r) => s.end(r));
  await Bun.sleep(50);
}

describe("LMN listener", () => {
  test("a good file is validated, time-stamped and stored", async () => {
    const before = Date.now();
    await send([file(1000)]);
    expect(stored).toHaveLength(1);
    const r = stored[0]?.readings[0];
    expect(r).toMatchObject({ obis: "1-0:1.8.0*255", value: 1000, unit: "Wh", status: 0x0702 });
    expect(Date.parse(r?.capturedAt ?? "")).toBeGreaterThanOrEqual(before - 1);
  });

  test("garbage, truncation, corrupted CRC and oversized input are dropped; good frames around them kept", async () => {
    const good = file(1001);
    const corrupt = file(1002);
    corrupt[corrupt.length - 20] = (corrupt[corrupt.length - 20] ?? 0) ^ 0xff;
    const huge = new Uint8Array(200_000).fill(0x42);
    await send([
      new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
      good.subarray(0, 20),
      corrupt,
      huge,
      file(1003),
      good.subarray(0, good.length - 3),
    ]);
    expect(stored.map((s) => s.readings[0]?.value)).toEqual([1000, 1003]);
    expect(counters.badFrames).toBeGreaterThan(0);
  });

  test("a file naming another meter is refused", async () => {
    await send([file(1004, "1XXX0000000000")]);
    expect(stored).toHaveLength(2);
    expect(logs.some((l) => l.msg === "SML file names another meter")).toBe(true);
  });

  test("a register running backwards is refused, the next good value accepted", async () => {
    await send([file(900), file(1005)]);
    expect(stored.map((s) => s.readings[0]?.value)).toEqual([1000, 1003, 1005]);
    expect(logs.some((l) => String(l.reason).includes("ran backwards"))).toBe(true);
    // Once in the calibration log, with both values.
    await calibration.flush();
    expect(calibrationLog).toEqual([
      {
        event: "register.ran-backwards",
        meter: "meter-1",
        detail: { obis: "1-0:1.8.0*255", last: 1003, value: 900 },
      },
    ]);
  });

  test("an address the policy does not name is refused", async () => {
    await send([file(2000)], "127.0.0.2");
    expect(counters.unknownPeers).toBe(1);
    expect(stored).toHaveLength(3);
  });
});
