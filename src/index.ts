/** srcfib's public entry: the LPM engine, address parsing, and the FIB model. */
export { createLpm, LPM_MISS, LPM_NH_MAX, LPM_DISTINCT_NH_MAX, type Lpm, type LpmStats } from "./lookup/lpm.js";
export { SrcfibError, type SrcfibErrorCode } from "./lookup/errors.js";
export {
  parsePrefix,
  parseAddress,
  formatPrefix,
  formatAddress,
  packPrefixes,
  type Family,
  type Prefix,
  type Address,
} from "./lookup/prefix.js";
export { ReferenceLpm } from "./lookup/reference.js";
export { FibModel, FibTable, type FibRoute } from "./fib/fib.js";
export { NexthopGroupTable, type NexthopGroup, type NexthopMember } from "./fib/nexthop.js";
