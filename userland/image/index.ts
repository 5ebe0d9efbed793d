export { bootInteractive, startMeters, stopMachine } from "./boot.ts";
export {
  type BuildOptions,
  type BuiltImage,
  baseKey,
  buildImage,
  defaultBuildDir,
  fileContextOf,
  imagePaths,
  parsePackageList,
} from "./build.ts";
export { type ChannelEvent, LineSplitter, parseChannelLine, runCommandLine } from "./channel.ts";
export { IMAGE_USAGE, ImageUsageError, runImageCli } from "./cli.ts";
export {
  dataVolumeConf,
  kernelCommandLine,
  networkFiles,
  PortRecordError,
  portsLocal,
  readyMarkerUnit,
} from "./files.ts";
export { expectedInputs, findInputs, type Inputs, MissingInputError } from "./inputs.ts";
export { APPLIANCE, DATA_DEVICE, VM } from "./layout.ts";
export { type CommandResult, Machine, MachineError, peerNets, qemuArgs } from "./machine.ts";
export { curlOutcome, parseAvcDenials, probeTcp } from "./probe.ts";
