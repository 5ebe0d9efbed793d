// A simulated electricity meter on the LMN: every interval it sends an SML file (Open,
// GetList response with its registers, Close) over TCP to the gateway's LMN listener, from
// its own address. Consumption follows a simple daily load curve.
import net from "node:net";
import { buildMeterReadingFile } from "@smgw/sml";

export interface SimMeterOptions {
  serverId: string;
  source: string;
  gateway: string;
  port: number;
  intervalMs: number;
  /** Stop after this many files (0: run until killed). */
  count?: number;
  startWh?: number;
}

export async function runSimMeter(o: SimMeterOptions): Promise<void> {
  let importWh = o.startWh ?? 1_000_000;
  let exportWh = 50_000;
  let tx = 1;
  let sent = 0;
  let socket: net.Socket | undefined;

  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: o.gateway, port: o.port, localAddress: o.source });
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });

  for (;;) {
    const hour = new Date().getHours();
    const powerW =
      300 + 900 * Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI)) + Math.random() * 200;
    importWh += (powerW * o.intervalMs) / 3_600_000;
    if (hour >= 10 && hour <= 16) exportWh += (150 * o.intervalMs) / 3_600_000;
    const file = buildMeterReadingFile({
      serverId: new TextEncoder().encode(o.serverId),
      transactionId: tx++,
      entries: [
        {
          obis: "1-0:1.8.0*255",
          unit: 30,
          scaler: -1,
          value: BigInt(Math.round(importWh * 10)),
          status: 0x00070202,
        },
        {
          obis: "1-0:2.8.0*255",
          unit: 30,
          scaler: -1,
          value: BigInt(Math.round(exportWh * 10)),
          status: 0x00070202,
        },
        { obis: "1-0:16.7.0*255", unit: 27, scaler: 0, value: BigInt(Math.round(powerW)) },
      ],
    });
    try {
      socket ??= await connect();
      socket.write(file);
      sent++;
    } catch (e) {
      socket?.destroy();
      socket = undefined;
      process.stderr.write(`sim-meter ${o.serverId}: ${(e as Error).message}\n`);
    }
    if (o.count && sent >= o.count) break;
    await Bun.sleep(o.intervalMs);
  }
  await new Promise<void>((r) => (socket ? socket.end(() => r()) : r()));
}
