export {
  compileCil,
  compileFileContexts,
  compileSelinux,
  compileSemanage,
  type FileContextEntry,
  fileContextEntries,
  type SelinuxOutput,
} from "./cil.ts";
export {
  buildModel,
  domainType,
  ipcType,
  netifType,
  nodeType,
  PATHS,
  type PortGroup,
  packetType,
  SelinuxCompileError,
  type SelinuxModel,
  stateType,
} from "./model.ts";
export {
  type BuiltPolicy,
  buildPolicy,
  type CheckResult,
  CheckScriptError,
  expectedRules,
  formatTable,
  type PortLabel,
  parseSemanagePorts,
  type RuleExpectation,
  runChecks,
  SemanagePortsError,
  SemoduleError,
  selinuxToolsPresent,
} from "./verify.ts";
export { write } from "./write.ts";
