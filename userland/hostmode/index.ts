export { layoutOf } from "./layout.ts";
export { topologyOf } from "./topology.ts";
export { buildBinary, checkPrefix, down, up } from "./up.ts";
