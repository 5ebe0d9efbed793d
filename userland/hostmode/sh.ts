// Running the system tools host mode needs (ip, setpriv, useradd), with their errors shown.
export class CommandError extends Error {
  override name = "CommandError";
}

export function run(cmd: string[], options: { allowFail?: boolean; input?: string } = {}): string {
  const p = Bun.spawnSync(cmd, {
    stdin: options.input !== undefined ? new TextEncoder().encode(options.input) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!p.success && !options.allowFail) {
    throw new CommandError(
      `${cmd.join(" ")} failed (${p.exitCode}): ${p.stderr.toString().trim()}`,
    );
  }
  return p.stdout.toString();
}

export function ok(cmd: string[]): boolean {
  return Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" }).success;
}
