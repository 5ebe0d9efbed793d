/** Raised for a failed notification socket operation or an invalid notification setting. */
export class SdNotifyError extends Error {
  /** libc errno of the failed call, when a call failed. */
  readonly errno: number | undefined;
  /** Symbolic errno name such as "ENOENT", when known. */
  readonly code: string | undefined;

  constructor(message: string, errno?: number, code?: string) {
    super(message);
    this.name = "SdNotifyError";
    this.errno = errno;
    this.code = code;
  }
}
