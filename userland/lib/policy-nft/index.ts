export {
  allowCounter,
  compileNftables,
  type Direction,
  dropCounter,
  dropCounters,
  TABLE,
} from "./compile.ts";
export {
  applyPacketFilter,
  type Counter,
  CounterListingError,
  checkRuleset,
  MAX_LISTING_BYTES,
  PacketFilterError,
  parseCounters,
  readCounters,
} from "./nft.ts";
export { NFTABLES_FILE, write } from "./write.ts";
