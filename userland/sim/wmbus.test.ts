// The simulated wM-Bus meter: its telegrams decode with lib/wmbus, and the meter domain's
// radio accepts them end to end over loopback, for every medium, both security modes and
// both frame formats, and from the CLI entry.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLogger } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import {
  newWmbusCounters,
  startWmbusRadio,
  type WmbusMeter,
  type WmbusRadio,
} from "@smgw/unit-meter/wmbus-radio.ts";
import { decodeTelegram } from "@smgw/wmbus";
import {
  buildSimTelegram,
  runWmbusSimCli,
  type SimDevice,
  type SimTelegramState,
  startWmbusSimMeter,
  WmbusSimUsageError,
} from "./wmbus.ts";

const KEY = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

const state = (over: Partial<SimTelegramState> = {}): SimTelegramState => ({
  manufacturer: "SIM",
  id: "00000001",
  version: 3,
  deviceType: "electricity",
  security: 7,
  key: KEY,
  accessNumber: 17,
  messageCounter: 1234,
  register: 1_000_123.7,
  powerW: 640,
  meterTime: new Date(2031, 4, 6, 7, 8),
  status: 0,
  format: "A",
  ...over,
});

describe("buildSimTelegram", () => {
  for (const security of [5, 7] as const) {
    for (const format of ["A", "B"] as const) {
      test(`electricity, mode ${security}, format ${format}: decodes with the key`, () => {
        const t = decodeTelegram(buildSimTelegram(state({ security, format })), { key: KEY });
        expect(t.link).toMatchObject({
          frameFormat: format === "A" ? "wmbus-a" : "wmbus-b",
          manufacturer: "SIM",
          id: "00000001",
          version: 3,
          deviceType: 0x02,
        });
        expect(t.transport).toMatchObject({ securityMode: security, payload: "decrypted" });
        expect(t.transport.accessNumber).toBe(17);
        if (security === 7)
          expect(t.afl).toMatchObject({ messageCounter: 1234, macVerified: true });
        expect(t.records.map((r) => [r.quantity, r.unit, r.value])).toEqual([
          ["energy", "kWh", 1000.123],
          ["power", "kW", 0.64],
          ["date and time", "", "2031-05-06T07:08"],
        ]);
      });
    }
  }

  test("water, gas and heat registers", () => {
    const decode = (deviceType: SimDevice, register: number) =>
      decodeTelegram(buildSimTelegram(state({ deviceType, register })), { key: KEY });
    expect(decode("water", 12.3456).records[0]).toMatchObject({
      quantity: "volume",
      unit: "m³",
      value: 12.345,
    });
    expect(decode("gas", 4321.5).link.deviceType).toBe(0x03);
    expect(decode("heat", 77_000).records.map((r) => r.quantity)).toEqual([
      "energy",
      "flow temperature",
      "date and time",
    ]);
  });

  test("without the key it is refused as encrypted", () => {
    expect(() => decodeTelegram(buildSimTelegram(state()))).toThrow("encrypted, no key");
  });
});

describe("sim meters against the radio over loopback", () => {
  const stored: { meter: string; readings: Reading[] }[] = [];
  const logs: Record<string, unknown>[] = [];
  const counters = newWmbusCounters();
  const meters: (WmbusMeter & { deviceType: SimDevice; format: "A" | "B" })[] = [
    {
      name: "sim-elec",
      manufacturer: "SIM",
      id: "10000001",
      security: 7,
      key: KEY,
      medium: "electricity",
      deviceType: "electricity",
      format: "A",
    },
    {
      name: "sim-water",
      manufacturer: "SIM",
      id: "10000002",
      security: 5,
      key: KEY,
      deviceType: "water",
      format: "B",
    },
    {
      name: "sim-heat",
      manufacturer: "SIM",
      id: "10000003",
      security: 7,
      key: KEY,
      medium: "heat",
      deviceType: "heat",
      format: "B",
    },
    {
      name: "sim-gas",
      manufacturer: "SIM",
      id: "10000004",
      security: 5,
      key: KEY,
      medium: "gas",
      deviceType: "gas",
      format: "A",
    },
    {
      name: "sim-cli",
      manufacturer: "CLI",
      id: "20000001",
      security: 7,
      key: KEY,
      deviceType: "electricity",
      format: "A",
    },
  ];
  let radio: WmbusRadio;

  beforeAll(async () => {
    radio = await startWmbusRadio({
      hostname: "127.0.0.1",
      port: 0,
      meters,
      store: async (meter, readings) => {
        stored.push({ meter, readings });
      },
      log: createLogger("meter", { write: (l) => logs.push(JSON.parse(l)) }),
      counters,
      peers: ["127.0.0.1"],
    });
  });
  afterAll(() => radio.stop());

  const readingsOf = (meter: string) =>
    stored.filter((s) => s.meter === meter).flatMap((s) => s.readings);

  async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error("timed out");
      await Bun.sleep(5);
    }
  }

  test("every medium, mode 5 and 7, format A and B: three telegrams each stored", async () => {
    const sims = await Promise.all(
      meters
        .filter((m) => m.name !== "sim-cli")
        .map((m) =>
          startWmbusSimMeter({
            target: { hostname: "127.0.0.1", port: radio.port },
            bind: "127.0.0.1",
            manufacturer: m.manufacturer,
            id: m.id,
            deviceType: m.deviceType,
            security: m.security,
            key: KEY,
            intervalMs: 20,
            ratePerHour: 3_600_000, // fast enough to rise between telegrams
            format: m.format,
            count: 3,
          }),
        ),
    );
    await waitFor(() => stored.filter((s) => s.meter !== "sim-cli").length >= 12);
    for (const s of sims) {
      expect(s.sent()).toBe(3);
      s.stop();
    }
    expect(counters.telegrams).toBe(12);
    expect(counters.badTelegrams + counters.replays + counters.downgrades).toBe(0);

    const elec = readingsOf("sim-elec");
    expect(elec.map((r) => r.obis)).toEqual([
      "1-0:1.8.0*255",
      "1-0:1.7.0*255",
      "1-0:1.8.0*255",
      "1-0:1.7.0*255",
      "1-0:1.8.0*255",
      "1-0:1.7.0*255",
    ]);
    const energy = elec.filter((r) => r.obis === "1-0:1.8.0*255").map((r) => r.value);
    expect(energy[0]).toBeGreaterThanOrEqual(1_000_000);
    expect(energy[2]).toBeGreaterThan(energy[0] as number);
    expect(elec.find((r) => r.obis === "1-0:1.7.0*255")).toMatchObject({
      value: 3_600_000,
      unit: "W",
    });
    expect(readingsOf("sim-water").map((r) => [r.obis, r.unit])).toEqual(
      Array(3).fill(["8-0:1.0.0*255", "m³"]),
    );
    expect(readingsOf("sim-heat").map((r) => [r.obis, r.unit])).toEqual(
      Array(3).fill(["6-0:1.0.0*255", "Wh"]),
    );
    expect(readingsOf("sim-gas")[0]).toMatchObject({ obis: "7-0:3.0.0*255", unit: "m³" });
    // Stamped by the gateway, not with the meter's clock.
    for (const r of stored.flatMap((s) => s.readings))
      expect(Math.abs(Date.parse(r.capturedAt) - Date.now())).toBeLessThan(10_000);
  });

  test("the CLI entry sends --count telegrams, accepted by the radio", async () => {
    const code = await runWmbusSimCli([
      "--manufacturer",
      "CLI",
      "--id",
      "20000001",
      "--medium",
      "electricity",
      "--security",
      "7",
      "--key",
      Buffer.from(KEY).toString("hex"),
      "--gateway",
      "127.0.0.1",
      "--source",
      "127.0.0.1",
      "--port",
      String(radio.port),
      "--interval",
      "20",
      "--count",
      "2",
      "--start",
      "5000",
    ]);
    expect(code).toBe(0);
    await waitFor(() => readingsOf("sim-cli").length >= 4);
    expect(readingsOf("sim-cli")[0]).toMatchObject({ obis: "1-0:1.8.0*255", value: 5000 });
  });

  test("the CLI refuses bad arguments", async () => {
    const base = ["--manufacturer", "CLI", "--id", "20000001", "--medium", "electricity"];
    const rest = ["--gateway", "127.0.0.1", "--port", "1", "--key", "00".repeat(16)];
    await expect(runWmbusSimCli([...base, "--security", "6", ...rest])).rejects.toThrow(
      WmbusSimUsageError,
    );
    await expect(runWmbusSimCli([...base, "--security", "5", "--bogus"])).rejects.toThrow(
      WmbusSimUsageError,
    );
    await expect(
      runWmbusSimCli([
        ...base,
        "--security",
        "5",
        "--gateway",
        "127.0.0.1",
        "--port",
        "1",
        "--key",
        "abc",
      ]),
    ).rejects.toThrow("32 hex digits");
  });
});

describe("simulated meter: fragmented messages", () => {
  test("--fragments 3: the radio reassembles the message and stores it once", async () => {
    const key = new Uint8Array(16).fill(0x21);
    const stored: { meter: string; readings: Reading[] }[] = [];
    const counters = newWmbusCounters();
    const radio = await startWmbusRadio({
      hostname: "127.0.0.1",
      port: 0,
      meters: [{ name: "heat-1", manufacturer: "XSM", id: "40000001", security: 7, key }],
      store: async (meter, readings) => {
        stored.push({ meter, readings });
      },
      log: createLogger("meter", { level: "error", write: () => {} }),
      counters,
    });
    const sim = await startWmbusSimMeter({
      target: { hostname: "127.0.0.1", port: radio.port },
      bind: "127.0.0.1",
      manufacturer: "XSM",
      id: "40000001",
      deviceType: "heat",
      security: 7,
      key,
      intervalMs: 50,
      fragments: 3,
      count: 2,
    });
    for (let i = 0; i < 100 && stored.length < 2; i++) await Bun.sleep(20);
    sim.stop();
    radio.stop();
    expect(stored.map((s) => s.meter)).toEqual(["heat-1", "heat-1"]);
    expect(stored[0]?.readings.map((r) => r.obis)).toContain("6-0:1.0.0*255");
    expect(counters.fragments).toBe(4);
  });
});
