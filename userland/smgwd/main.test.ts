// The daemon skeleton as systemd sees it: READY=1 on the notify socket, STOPPING=1 and a
// clean exit on SIGTERM, exit 78 on bad configuration.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { UNIT_NAMES } from "@smgw/policy";
import { NotifyListener } from "@smgw/sdnotify";
import { unitFromInvocation } from "./main.ts";

const MAIN = path.join(import.meta.dir, "main.ts");
const POLICY = path.resolve(import.meta.dir, "../../policy/smgw.policy.yaml");
const dir = mkdtempSync(path.join(tmpdir(), "smgwd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("smgwd", () => {
  test("dispatch by argument or by link name", () => {
    expect(unitFromInvocation("/usr/bin/smgwd", ["meter"])).toBe("meter");
    expect(unitFromInvocation("/usr/bin/smgw-display", [])).toBe("display");
  });

  test("ready, status and stop in systemd's notify protocol", async () => {
    for (const u of UNIT_NAMES)
      if (u !== "ifm") mkdirSync(path.join(dir, "ipc", u), { recursive: true, mode: 0o700 });
    const listener = NotifyListener.bind(path.join(dir, "notify.sock"));
    const seen: Record<string, string>[] = [];
    listener.onMessage((f) => seen.push({ ...f }));
    const proc = Bun.spawn([process.execPath, MAIN, "ifm"], {
      env: {
        SMGW_POLICY: POLICY,
        SMGW_RUN_DIR: dir,
        SMGW_STATE_DIR: dir,
        NOTIFY_SOCKET: path.join(dir, "notify.sock"),
        WATCHDOG_USEC: "200000",
        WATCHDOG_PID: "",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const until = async (f: () => boolean) => {
      const end = Date.now() + 15_000;
      while (!f() && Date.now() < end) await Bun.sleep(20);
    };
    await until(() => seen.some((m) => m.READY === "1"));
    expect(seen.find((m) => m.READY === "1")?.STATUS).toContain("brokering for 9 units");
    await until(() => seen.some((m) => m.WATCHDOG === "1"));
    expect(seen.some((m) => m.WATCHDOG === "1")).toBe(true);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    listener.poll();
    expect(seen.some((m) => m.STOPPING === "1")).toBe(true);
    const lines = (await new Response(proc.stdout).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.msg)).toContain("stopped");
    expect(lines.every((l) => l.unit === "ifm" && typeof l.ts === "string")).toBe(true);
    listener.close();
  });

  test("bad configuration exits 78 with the reason; unknown units 64", async () => {
    const bad = Bun.spawnSync([process.execPath, MAIN, "meter"], { env: {}, stdout: "pipe" });
    expect(bad.exitCode).toBe(78);
    expect(bad.stdout.toString()).toContain("SMGW_POLICY");
    const unknown = Bun.spawnSync([process.execPath, MAIN, "kettle"], { stderr: "pipe" });
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr.toString()).toContain('unknown unit "kettle"');
  });
});
