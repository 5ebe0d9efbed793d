// The LMN listener: SML over TCP from the meters the policy names.

import type { Logger } from "@smgw/daemon";
import type { Reading } from "@smgw/ipc";
import { SmlFrameExtractor } from "@smgw/sml";
import type { TCPSocketListener } from "bun";
import { type CalibrationRecorder, noteRefused, noteStored } from "./calibration.ts";
import { readingsFromPayload } from "./sml-readings.ts";
import { validateReadings } from "./validate.ts";

export interface IngestCounters {
  accepted: number;
  rejected: number;
  badFrames: number;
  unknownPeers: number;
}

export interface LmnOptions {
  hostname: string;
  port: number;
  meters: Record<string, { id: string; addresses: string[] }>;
  store: (meter: string, readings: Reading[]) => Promise<unknown>;
  log: Logger;
  counters: IngestCounters;
  /** Records registers that ran backwards in the calibration log. */
  calibration?: CalibrationRecorder;
}

interface Conn {
  meter: string;
  extractor: SmlFrameExtractor;
  /** Frames are handled one after another, so register order is kept. */
  chain: Promise<void>;
}

/** Largest SML frame accepted from a meter (a meter sends small files); larger input is dropped. */
const MAX_FRAME_BYTES = 64 * 1024;

export function startLmnListener(o: LmnOptions): TCPSocketListener<Conn | undefined> {
  const byAddress = new Map<string, string>();
  for (const [name, m] of Object.entries(o.meters))
    for (const a of m.addresses) byAddress.set(a, name);
  /** Last value per meter and register, to refuse registers that run backwards. */
  const last = new Map<string, Map<string, number>>();

  const handleFrame = async (meter: string, payload: Uint8Array) => {
    const decoded = readingsFromPayload(payload);
    if (!decoded.ok) {
      o.counters.badFrames++;
      o.log.warn("SML file refused", { meter, reason: decoded.error });
      return;
    }
    const expected = o.meters[meter]?.id;
    if (decoded.serverId !== expected) {
      o.counters.rejected += decoded.entries.length;
      o.log.warn("SML file names another meter", {
        meter,
        serverId: decoded.serverId.slice(0, 40),
      });
      return;
    }
    const seen = last.get(meter) ?? new Map<string, number>();
    last.set(meter, seen);
    // The gateway, not the meter, stamps the time of a reading.
    const { accepted, rejected } = validateReadings(
      decoded.entries,
      seen,
      new Date().toISOString(),
    );
    noteRefused(o.log, o.calibration, meter, rejected);
    o.counters.rejected += rejected.length;
    if (accepted.length === 0) return;
    try {
      await o.store(meter, accepted);
      noteStored(seen, o.calibration, meter, accepted);
      o.counters.accepted += accepted.length;
      o.log.info("readings stored", { meter, count: accepted.length });
    } catch (e) {
      o.log.error("readings not stored", {
        meter,
        count: accepted.length,
        error: (e as Error).message,
      });
    }
  };

  return Bun.listen<Conn | undefined>({
    hostname: o.hostname,
    port: o.port,
    socket: {
      open: (socket) => {
        const meter = byAddress.get(socket.remoteAddress);
        if (!meter) {
          o.counters.unknownPeers++;
          o.log.warn("connection from an unknown LMN address refused", {
            from: socket.remoteAddress,
          });
          socket.end();
          return;
        }
        socket.data = {
          meter,
          extractor: new SmlFrameExtractor({ maxFrameBytes: MAX_FRAME_BYTES }),
          chain: Promise.resolve(),
        };
      },
      data: (socket, data) => {
        const c = socket.data;
        if (!c) return;
        for (const r of c.extractor.push(data)) {
          if (!r.ok) {
            o.counters.badFrames++;
            o.log.warn("bad SML frame", {
              meter: c.meter,
              kind: r.error.kind,
              reason: r.error.message,
            });
            continue;
          }
          const payload = r.frame.payload;
          c.chain = c.chain.then(() => handleFrame(c.meter, payload));
        }
      },
      error: (_socket, e) => o.log.warn("LMN connection error", { error: e.message }),
    },
  });
}
