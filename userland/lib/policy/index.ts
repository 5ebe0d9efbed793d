export {
  compileRuleTable,
  type Decision,
  type DecisionContext,
  decide,
  type IpcRule,
  type Listener,
  type MeterEntry,
  type RuleTable,
} from "./compile.ts";
export { formatIssue, PolicyError, type PolicyIssue } from "./errors.ts";
export { checkInvariants } from "./invariants.ts";
export { loadPolicyFile, MAX_POLICY_BYTES, parsePolicy } from "./load.ts";
export {
  type Endpoint,
  type IpcFlow,
  inSubnet,
  isUnitName,
  type NetworkFlow,
  type Policy,
  type Profile,
} from "./resolve.ts";
export {
  ENDPOINT_ROLES,
  NETWORK_NAMES,
  type NetworkName,
  type PolicyDocument,
  type ProfileDocument,
  UNIT_NAMES,
  type UnitName,
  USE_CASES,
  WMBUS_MEDIA,
  type WmbusMedium,
} from "./schema.ts";
