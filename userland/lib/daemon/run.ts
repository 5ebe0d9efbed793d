// The daemon skeleton shared by every unit: configuration, logging, systemd readiness and
// watchdog, clean shutdown on SIGTERM/SIGINT, and a non-zero exit on a fatal error so that
// the service manager restarts the unit.
import { notify, startWatchdog } from "@smgw/sdnotify";
import { type DaemonConfig, readConfig } from "./config.ts";
import { createLogger, type Logger } from "./log.ts";

export interface DaemonContext {
  config: DaemonConfig;
  log: Logger;
  startedAt: number;
}

export interface RunningDaemon {
  /** Stop serving and release resources; called once on SIGTERM/SIGINT. */
  stop(): Promise<void> | void;
  /** One line for systemd's STATUS=. */
  status?(): string;
}

export type DaemonMain = (ctx: DaemonContext) => Promise<RunningDaemon>;

export const VERSION = "0.1.0";

export async function runDaemon(unit: string, main: DaemonMain): Promise<void> {
  let config: DaemonConfig;
  const bootLog = createLogger(unit);
  try {
    config = readConfig(unit);
  } catch (e) {
    bootLog.error("cannot start", { error: (e as Error).message });
    process.exit(78); // EX_CONFIG: systemd's RestartPreventExitStatus can name it
  }
  const log = createLogger(unit, { level: config.SMGW_LOG_LEVEL ?? "info" });
  process.on("uncaughtException", (e) => {
    log.error("fatal: uncaught exception", { error: e.message, stack: e.stack });
    process.exit(70);
  });
  process.on("unhandledRejection", (e) => {
    log.error("fatal: unhandled rejection", { error: String(e) });
    process.exit(70);
  });

  const ctx: DaemonContext = { config, log, startedAt: Date.now() };
  let running: RunningDaemon;
  try {
    running = await main(ctx);
  } catch (e) {
    log.error("start failed", { error: (e as Error).message });
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    notify("STOPPING=1");
    const force = setTimeout(() => {
      log.error("stop took too long, exiting");
      process.exit(1);
    }, 10_000);
    try {
      await running.stop();
    } catch (e) {
      log.error("error while stopping", { error: (e as Error).message });
    }
    clearTimeout(force);
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  startWatchdog();
  notify({ READY: "1", STATUS: running.status?.() ?? "running", MAINPID: String(process.pid) });
  log.info("ready", { pid: process.pid, version: VERSION });
}
