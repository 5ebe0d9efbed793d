export {
  applyUsersAndDirectories,
  type SecurityScore,
  SystemdToolError,
  securityScores,
  systemdRoot,
  type VerifyResult,
  verifyUnits,
} from "./analyze.ts";
export {
  compileSystemd,
  GENERATED_HEADER,
  INSTALL,
  ipcDir,
  serviceName,
  stateDir,
  type UnitFacts,
  unitFacts,
  unitFileText,
  WATCHDOG_SEC,
} from "./compile.ts";
export { GENERATED_DIR, staleSystemdFiles, writeSystemd } from "./write.ts";
