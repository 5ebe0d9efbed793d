// For tests that need a running host mode: start `smgw up` under a name of their own, wait
// until it is ready, read its HAN passwords, and stop it again leaving nothing behind.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Subprocess } from "bun";

const REPO = path.resolve(import.meta.dir, "../..");

export interface RunningHostMode {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything `smgw up` printed so far. */
  output: string[];
  /** HAN account -> password, from the instance's credentials file. */
  passwords: Record<string, string>;
  /** Ctrl-C, then `smgw down` and removal of the instance's state. */
  stop(): Promise<void>;
}

export async function startHostMode(
  name: string,
  options: {
    meterIntervalSeconds?: number;
    readyTimeoutMs?: number;
    tafPeriodSeconds?: number;
    tafDeliverySeconds?: number;
  } = {},
): Promise<RunningHostMode> {
  const smgw = path.join(REPO, "smgw");
  const proc = Bun.spawn(
    [
      smgw,
      "up",
      "--name",
      name,
      "--meter-interval",
      String(options.meterIntervalSeconds ?? 0.5),
      ...(options.tafPeriodSeconds ? ["--taf-period", String(options.tafPeriodSeconds)] : []),
      ...(options.tafDeliverySeconds ? ["--taf-delivery", String(options.tafDeliverySeconds)] : []),
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const output: string[] = [];
  const decoder = new TextDecoder();
  void (async () => {
    for await (const c of proc.stdout) output.push(decoder.decode(c));
  })();
  void (async () => {
    for await (const c of proc.stderr) output.push(decoder.decode(c));
  })();
  const end = Date.now() + (options.readyTimeoutMs ?? 240_000);
  while (!output.join("").includes("\nready")) {
    if (proc.exitCode !== null || Date.now() > end) {
      throw new Error(`host mode ${name} did not become ready\n${output.join("")}`);
    }
    await Bun.sleep(250);
  }
  const passwords: Record<string, string> = {};
  for (const line of readFileSync(`/var/lib/${name}/credentials.txt`, "utf8").split("\n")) {
    const [n, , pw] = line.split(" ");
    if (n && pw && !n.startsWith("#")) passwords[n] = pw;
  }
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGINT");
      await Promise.race([proc.exited, Bun.sleep(30_000)]);
    }
    Bun.spawnSync([smgw, "down", "--name", name], { stdout: "ignore", stderr: "ignore" });
    Bun.spawnSync(["rm", "-rf", `/var/lib/${name}`]);
  };
  return { proc, output, passwords, stop };
}
