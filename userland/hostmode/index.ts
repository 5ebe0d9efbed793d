export { layoutOf } from "./layout.ts";
export { buildBinary, checkPrefix, down, up } from "./up.ts";
export { topologyOf } from "./topology.ts";
