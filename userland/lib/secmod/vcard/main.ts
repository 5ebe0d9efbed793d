// The virtual security-module card as a program: attaches to pcscd's vpcd reader and serves
// APDUs from its state file. Started by ci/services for tests and host mode:
//   bun vcard/main.ts --state FILE [--port 35963] [--host 127.0.0.1] [--pin-file FILE]
//                     [--control SOCKET] [--ready-file FILE]
// The initial PIN (used only when the state file does not exist yet) comes from --pin-file,
// else SMGW_VCARD_PIN, else the test PIN 123456.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { createLogger } from "@smgw/daemon";
import { VirtualCard } from "./card.ts";
import { ControlError, parseControl } from "./control.ts";
import { FileCardStore } from "./state.ts";
import { VPCD_PORT, VpcdConnection } from "./vpcd.ts";

const log = createLogger("vcard");

function fail(msg: string): never {
  log.error(msg);
  process.exit(64);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        state: { type: "string" },
        port: { type: "string", default: String(VPCD_PORT) },
        host: { type: "string", default: "127.0.0.1" },
        "pin-file": { type: "string" },
        control: { type: "string" },
        "ready-file": { type: "string" },
      },
      strict: true,
    });
  } catch (e) {
    return fail((e as Error).message);
  }
})();

if (!values.state) fail("--state FILE is required");
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad --port ${values.port}`);
if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(values.host)) fail(`--host must be an IPv4 address`);

const pinText = values["pin-file"]
  ? fs.readFileSync(values["pin-file"], "utf8").trim()
  : (process.env.SMGW_VCARD_PIN ?? "123456");
const card = new VirtualCard(new FileCardStore(values.state), {
  initialPin: Buffer.from(pinText, "utf8"),
});
let powered = false;
const readyFile = values["ready-file"];
const clearReady = () => {
  if (readyFile) fs.rmSync(readyFile, { force: true });
};
clearReady();

const connection = new VpcdConnection(
  {
    atr: VirtualCard.ATR,
    powerOff: () => {
      powered = false;
      card.reset();
    },
    powerOn: () => {
      powered = true;
      card.reset();
    },
    reset: () => card.reset(),
    apdu: (c) => card.process(c),
  },
  {
    log: (level, msg, fields) => log[level](msg, fields),
    onAtr: () => {
      if (readyFile) fs.writeFileSync(readyFile, `${process.pid}\n`, { mode: 0o600 });
    },
    onDetach: clearReady,
  },
  values.host,
  port,
);
connection.start();

if (values.control) {
  const socketPath = values.control;
  fs.rmSync(socketPath, { force: true });
  Bun.listen<{ buf: string }>({
    unix: socketPath,
    socket: {
      open: (s) => {
        s.data = { buf: "" };
      },
      data: (s, chunk) => {
        s.data.buf += Buffer.from(chunk).toString("utf8");
        if (s.data.buf.length > 4096) {
          s.end(`${JSON.stringify({ ok: false, error: "control line too long" })}\n`);
          return;
        }
        let nl = s.data.buf.indexOf("\n");
        while (nl >= 0) {
          const line = s.data.buf.slice(0, nl);
          s.data.buf = s.data.buf.slice(nl + 1);
          s.write(`${JSON.stringify(control(line))}\n`);
          nl = s.data.buf.indexOf("\n");
        }
      },
    },
  });
  fs.chmodSync(socketPath, 0o600);
}

function control(line: string): Record<string, unknown> {
  try {
    const c = parseControl(line);
    switch (c.cmd) {
      case "status":
        return {
          ok: true,
          attached: connection.attached,
          powered,
          apdus: card.apdus,
          pinTriesLeft: card.pinTriesLeft,
        };
      case "misbehave":
        card.misbehave(c.mode, c.count, c.ins);
        log.info("told to misbehave", { mode: c.mode, count: c.count, ins: c.ins });
        return { ok: true };
      case "remove":
        log.info("leaving the reader", { ms: c.ms });
        connection.remove(c.ms);
        return { ok: true };
    }
  } catch (e) {
    if (e instanceof ControlError) return { ok: false, error: e.message };
    throw e;
  }
}

const stop = () => {
  connection.stop();
  card.close();
  clearReady();
  if (values.control) fs.rmSync(values.control, { force: true });
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
log.info("virtual card started", { state: values.state, port });
