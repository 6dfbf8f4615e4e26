/** Helpers for tests that call the gRPC API. */
import * as grpc from "@grpc/grpc-js";
import { ApiCallError, type ApiClient, type Msg } from "../../src/api/client.js";

/** How a call ended: "OK", or the status name, the server's message and the bad entry's index. */
export async function codeOf(p: Promise<unknown>): Promise<{ code: string; details: string; index: string | undefined }> {
  try {
    await p;
  } catch (err: unknown) {
    if (err instanceof ApiCallError) return { code: grpc.status[err.code]!, details: err.details, index: err.metadata?.get("srcfib-bad-index")[0]?.toString() };
    throw err;
  }
  return { code: "OK", details: "", index: undefined };
}

/** Everything the API can read, without counters (and clocks: an SA's added time); with ipsec,
 *  the SAs and policies too. */
export async function apiState(c: ApiClient, ipsec = false): Promise<unknown> {
  const fibs = ((await c.call("Fibs", "List")).fibs as Msg[]).map((f) => ({
    ...f,
    packets: 0,
    subfibs: (f.subfibs as Msg[]).map((s) => ({ ...s, packets: 0 })),
    rules: (f.rules as Msg[]).map((r) => ({ ...r, hits: 0 })),
  }));
  const state: Record<string, unknown> = {
    interfaces: (await c.call("Interfaces", "List")).interfaces,
    fibs,
    bindings: await c.call("Bindings", "List"),
    groups: await c.call("NexthopGroups", "List"),
    routes: await c.collect("Routes", "List", { all_candidates: true, include_local: true }),
  };
  if (ipsec) {
    state.sas = ((await c.call("Ipsec", "ListSas")).sas as Msg[]).map((s) => ({ ...s, added: "", packets: 0, bytes: 0, replay_drops: 0, auth_drops: 0, other_drops: 0 }));
    state.sps = ((await c.call("Ipsec", "ListSps")).policies as Msg[]).map((s) => ({ ...s, hits: 0 }));
  }
  return state;
}
