// A misbehaving IFM for the signing connection's tests: it answers crypto.sign requests in the
// way the request's key names (the key is the scenario). Runs in its own process, because the
// signing connection blocks its caller's event loop.
//
//   bun fake-ifm.ts SOCKET-PATH
import { unlinkSync } from "node:fs";
import { encodeFrame, FrameDecoder } from "@smgw/ipc";
import type { Socket } from "bun";

const socketPath = process.argv[2];
if (!socketPath) {
  console.error("usage: bun fake-ifm.ts SOCKET-PATH");
  process.exit(2);
}
try {
  unlinkSync(socketPath);
} catch {}

/** Deterministic bytes for the "random-N" scenarios. */
function noise(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function frame(value: unknown): Uint8Array {
  return encodeFrame(value);
}

function rawFrame(text: string): Uint8Array {
  const body = Buffer.from(text);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

const SIGNATURE = { signature: "3006020101020101" };

function act(socket: Socket<FrameDecoder>, id: string, key: string): void {
  const ok = (body: unknown) => frame({ kind: "response", id, ok: true, body });
  switch (key) {
    case "answer":
      socket.write(ok(SIGNATURE));
      return;
    case "noisy": {
      // Everything a confused IFM could send before the answer.
      socket.write(rawFrame("{not json"));
      socket.write(frame({ kind: "response", id: "someone-else", ok: true, body: SIGNATURE }));
      socket.write(
        frame({ kind: "deliver", id: "f77", from: "meter", type: "tcm.send", body: {} }),
      );
      socket.write(frame({ kind: "nonsense" }));
      // The answer in two pieces.
      const answer = ok(SIGNATURE);
      socket.write(answer.subarray(0, 3));
      setTimeout(() => socket.write(answer.subarray(3)), 20);
      return;
    }
    case "refuse":
      socket.write(
        frame({
          kind: "response",
          id,
          ok: false,
          error: { code: "denied", message: "tcm may not sign with refuse" },
        }),
      );
      return;
    case "contract":
      socket.write(ok({ signature: "not hex" }));
      return;
    case "silent":
      return;
    case "close":
      socket.end();
      return;
    case "oversized": {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(10 * 1024 * 1024, 0);
      socket.write(b);
      return;
    }
    default: {
      const m = /^random-(\d+)$/.exec(key);
      if (m) {
        const seed = Number(m[1]);
        socket.write(noise(seed, 1 + ((seed * 37) % 600)));
        if (seed % 2 === 0) socket.end();
        return;
      }
      socket.write(ok(SIGNATURE));
    }
  }
}

Bun.listen<FrameDecoder>({
  unix: socketPath,
  socket: {
    open(socket) {
      socket.data = new FrameDecoder();
    },
    data(socket, data) {
      for (const f of socket.data.push(data)) {
        if (!f.ok) continue;
        const m = f.value as { kind?: string; id?: string; body?: { key?: string }; ok?: boolean };
        if (m.kind === "request" && typeof m.id === "string") act(socket, m.id, m.body?.key ?? "");
        // The stray delivery's answer: reported so the test sees it was not dropped.
        if (m.kind === "response" && m.id === "f77" && m.ok === false)
          console.log("stray answered");
      }
    },
  },
});
console.log("fake ifm ready");
