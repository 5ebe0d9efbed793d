// A daemon's configuration comes from its environment (systemd's Environment= or the
// host-mode supervisor), validated once at start.
import path from "node:path";
import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

export const DaemonConfigSchema = T.Object({
  SMGW_POLICY: T.String({ minLength: 1 }),
  /** Runtime directory: IPC sockets under ipc/<unit>/. */
  SMGW_RUN_DIR: T.String({ minLength: 1 }),
  /** This unit's own state directory. */
  SMGW_STATE_DIR: T.String({ minLength: 1 }),
  SMGW_LOG_LEVEL: T.Optional(
    T.Union([T.Literal("debug"), T.Literal("info"), T.Literal("warn"), T.Literal("error")]),
  ),
});

export type DaemonConfig = Static<typeof DaemonConfigSchema> & { unit: string };

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function readConfig(
  unit: string,
  env: Record<string, string | undefined> = process.env,
): DaemonConfig {
  const picked = Object.fromEntries(
    Object.keys(DaemonConfigSchema.properties)
      .filter((k) => env[k] !== undefined)
      .map((k) => [k, env[k]]),
  );
  if (!Value.Check(DaemonConfigSchema, picked)) {
    const problems = [...Value.Errors(DaemonConfigSchema, picked)].map(
      (e) => `${e.path.slice(1) || "environment"}: ${e.message}`,
    );
    throw new ConfigError(`configuration of ${unit} invalid: ${problems.join("; ")}`);
  }
  return { ...picked, unit } as DaemonConfig;
}

/** Where the IFM listens for a unit: a directory only that unit's user (and the IFM) can enter. */
export function ifmSocketPath(runDir: string, unit: string): string {
  return path.join(runDir, "ipc", unit, "ifm.sock");
}
