/** Helpers for tests that call the gRPC API. */
import * as grpc from "@grpc/grpc-js";
import { ApiCallError } from "../../src/api/client.js";

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
