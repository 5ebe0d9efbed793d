// Running the build and boot tools (mmdebstrap, semodule, qemu, ip ...) with their errors shown.
export class CommandError extends Error {
  override name = "CommandError";
}

export interface RunOptions {
  allowFail?: boolean;
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Keep this much of stderr in the error message. */
  tail?: number;
}

export function run(cmd: string[], o: RunOptions = {}): string {
  const p = Bun.spawnSync(cmd, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.env ? { env: o.env } : {}),
  });
  if (!p.success && !o.allowFail) {
    const err = p.stderr.toString().trim() || p.stdout.toString().trim();
    throw new CommandError(
      `${cmd.join(" ")} failed (exit ${p.exitCode}): ${err.slice(-(o.tail ?? 2000))}`,
    );
  }
  return p.stdout.toString();
}

export function ok(cmd: string[]): boolean {
  return Bun.spawnSync(cmd, { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).success;
}

/** Like run, for long steps: output goes to a log file, the error quotes its end. */
export async function runLogged(cmd: string[], logFile: string, o: RunOptions = {}): Promise<void> {
  const p = Bun.spawn(cmd, {
    stdin: "ignore",
    stdout: Bun.file(logFile),
    stderr: Bun.file(`${logFile}.err`),
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.env ? { env: o.env } : {}),
  });
  const code = await p.exited;
  if (code !== 0 && !o.allowFail) {
    const err = (await Bun.file(`${logFile}.err`).text()).trim();
    throw new CommandError(
      `${cmd.slice(0, 3).join(" ")} ... failed (exit ${code}); log ${logFile}: ${err.slice(-(o.tail ?? 2000))}`,
    );
  }
}

export function which(tool: string): boolean {
  return Bun.which(tool, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }) !== null;
}

export function requireTools(tools: readonly string[], purpose: string): void {
  const missing = tools.filter((t) => !which(t));
  if (missing.length > 0) {
    throw new Error(`${purpose} needs ${missing.join(", ")} (install with ci/setup or apt-get)`);
  }
}

export function requireRoot(purpose: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${purpose} needs root`);
}
