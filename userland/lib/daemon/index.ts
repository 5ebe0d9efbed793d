export { ConfigError, type DaemonConfig, ifmSocketPath, readConfig } from "./config.ts";
export { createLogger, type Level, type Logger } from "./log.ts";
export {
  type DaemonContext,
  type DaemonMain,
  type RunningDaemon,
  runDaemon,
  VERSION,
} from "./run.ts";
export { connectToIfm, serveStatus } from "./unit.ts";
