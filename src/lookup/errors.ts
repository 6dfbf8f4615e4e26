/**
 * The one error class for failures that come from native code. Argument errors are thrown as
 * TypeError / RangeError by the TypeScript layer before native code runs; what is left (out of
 * memory, a build that failed) becomes a SrcfibError with a stable string `code`, created here
 * and nowhere else.
 */

export type SrcfibErrorCode = "ENOMEM" | "ENATIVE" | "EBUSY";

export class SrcfibError extends Error {
  readonly code: SrcfibErrorCode;

  constructor(code: SrcfibErrorCode, message: string) {
    super(message);
    this.name = "SrcfibError";
    this.code = code;
  }
}
