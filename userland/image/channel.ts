// The machine-readable serial port of the test image (ttyS1): one line per event, written by
// /usr/libexec/smgw-test/{run,mark-ready} in the guest.
//   @@smgw-result ID EXIT-CODE BASE64(GZIP(OUTPUT))
//   @@smgw-ready UPTIME-SECONDS failed=UNIT,UNIT...
import { gunzipSync } from "node:zlib";

export type ChannelEvent =
  | { kind: "result"; id: string; code: number; output: string }
  | { kind: "ready"; uptime: number; failed: string[] }
  /** A line that is not ours (noise on the port); kept for the log. */
  | { kind: "other"; line: string }
  /** A line that claims to be ours but is malformed: what is wrong with it. */
  | { kind: "error"; reason: string };

/** Longest line accepted; a bigger output would take minutes on an emulated serial port. */
export const MAX_LINE = 16 * 1024 * 1024;
const MAX_OUTPUT = 64 * 1024 * 1024;

export function parseChannelLine(raw: string): ChannelEvent {
  const line = raw.replace(/\r$/, "");
  if (line.length > MAX_LINE) {
    return { kind: "error", reason: `line of ${line.length} characters, more than ${MAX_LINE}` };
  }
  const at = line.indexOf("@@smgw-");
  if (at < 0) return { kind: "other", line };
  const f = line.slice(at).split(" ");
  if (f[0] === "@@smgw-result") {
    const [, id, code, data] = f;
    if (f.length !== 4 || !id || !code || data === undefined) {
      return { kind: "error", reason: `result line has ${f.length} fields, not 4` };
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return { kind: "error", reason: "bad result id" };
    if (!/^\d{1,3}$/.test(code)) return { kind: "error", reason: `result ${id}: bad exit code` };
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
      return { kind: "error", reason: `result ${id}: output is not base64` };
    }
    let output: string;
    try {
      const bytes = gunzipSync(Buffer.from(data, "base64"), { maxOutputLength: MAX_OUTPUT });
      output = new TextDecoder().decode(bytes);
    } catch (e) {
      return {
        kind: "error",
        reason: `result ${id}: output is not gzip (${(e as Error).message})`,
      };
    }
    return { kind: "result", id, code: Number(code), output };
  }
  if (f[0] === "@@smgw-ready") {
    const [, uptime, failed] = f;
    if (f.length !== 3 || !uptime || !failed?.startsWith("failed=")) {
      return { kind: "error", reason: "ready line must be: @@smgw-ready UPTIME failed=LIST" };
    }
    const seconds = Number(uptime);
    if (!/^\d+(\.\d+)?$/.test(uptime) || !Number.isFinite(seconds)) {
      return { kind: "error", reason: `ready line: bad uptime "${uptime.slice(0, 20)}"` };
    }
    const list = failed.slice("failed=".length);
    return { kind: "ready", uptime: seconds, failed: list ? list.split(",") : [] };
  }
  return { kind: "error", reason: `unknown event "${(f[0] ?? "").slice(0, 40)}"` };
}

/** Splits a growing text into complete lines; the unfinished tail stays for the next read. */
export class LineSplitter {
  private tail = "";

  push(chunk: string): string[] {
    const text = this.tail + chunk;
    const lines = text.split("\n");
    this.tail = lines.pop() ?? "";
    if (this.tail.length > MAX_LINE) {
      // A runaway line without an end is dropped rather than kept growing.
      this.tail = "";
      lines.push("@@smgw-overlong");
    }
    return lines;
  }
}

/** The command line the test host types on the console to run `script` as root. */
export function runCommandLine(id: string, script: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`bad command id "${id}"`);
  const b64 = Buffer.from(script).toString("base64");
  // The console's line discipline holds 4095 characters per line.
  if (b64.length > 3900) throw new Error(`script too long for the console (${b64.length} > 3900)`);
  return `/usr/libexec/smgw-test/run ${id} ${b64}\n`;
}
