// The virtual card's test control channel: one JSON object per line on a UNIX socket that
// only root can open. It exists only when the card is started with --control; it can make
// the card answer wrongly or leave the reader, never read a key.
import type { Misbehaviour } from "./card.ts";

export type ControlCommand =
  | { cmd: "status" }
  | { cmd: "misbehave"; mode: Misbehaviour; count: number; ins?: number }
  | { cmd: "remove"; ms: number };

export class ControlError extends Error {
  override name = "ControlError";
}

const MODES: readonly Misbehaviour[] = ["truncate", "garbage", "bad-sw", "none"];

/** Parse one control line; ControlError says what is wrong with it. */
export function parseControl(line: string): ControlCommand {
  if (line.length > 1024) throw new ControlError(`control line of ${line.length} chars too long`);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ControlError("control line is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ControlError("control line must be a JSON object");
  }
  const o = v as Record<string, unknown>;
  switch (o.cmd) {
    case "status":
      return { cmd: "status" };
    case "misbehave": {
      const mode = o.mode;
      const count = o.count ?? 1;
      if (typeof mode !== "string" || !MODES.includes(mode as Misbehaviour)) {
        throw new ControlError(`misbehave mode must be one of ${MODES.join(", ")}`);
      }
      if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > 1000) {
        throw new ControlError("misbehave count must be an integer 0…1000");
      }
      const ins = o.ins;
      if (
        ins !== undefined &&
        (typeof ins !== "number" || !Number.isInteger(ins) || ins < 0 || ins > 255)
      ) {
        throw new ControlError("misbehave ins must be a byte");
      }
      return {
        cmd: "misbehave",
        mode: mode as Misbehaviour,
        count,
        ...(ins === undefined ? {} : { ins }),
      };
    }
    case "remove": {
      const ms = o.ms;
      if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 0 || ms > 600_000) {
        throw new ControlError("remove needs ms, an integer 0…600000");
      }
      return { cmd: "remove", ms };
    }
  }
  throw new ControlError(`unknown control command ${JSON.stringify(o.cmd)}`);
}

/** Send one command to a running card's control socket and return its answer. */
export async function sendControl(
  socketPath: string,
  command: ControlCommand,
  timeoutMs = 5000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new ControlError("no answer from the card")), timeoutMs);
    Bun.connect({
      unix: socketPath,
      socket: {
        open: (s) => {
          s.write(`${JSON.stringify(command)}\n`);
        },
        data: (s, chunk) => {
          buf += Buffer.from(chunk).toString("utf8");
          const nl = buf.indexOf("\n");
          if (nl < 0) return;
          clearTimeout(timer);
          s.end();
          try {
            resolve(JSON.parse(buf.slice(0, nl)));
          } catch {
            reject(new ControlError("card answered with something that is not JSON"));
          }
        },
        error: (_s, e) => {
          clearTimeout(timer);
          reject(e);
        },
      },
    }).catch((e: Error) => {
      clearTimeout(timer);
      reject(new ControlError(`cannot reach the card's control socket: ${e.message}`));
    });
  });
}
