/** Why a CMS could not be built, read or checked. Stable names for callers and logs. */
export type CmsErrorKind =
  | "malformed" // not DER, truncated, or not the structure RFC 5652 describes
  | "unsupported" // well-formed, but a feature this package does not implement
  | "too-large" // input, a length or a count beyond this package's limits
  | "invalid-argument" // an option given to signCms/verifyCms is not usable
  | "sign" // the sign callback failed or returned an unusable signature
  | "unavailable"; // the system OpenSSL 3 (libcrypto.so.3) could not be loaded

export interface CmsErrorOptions {
  /** Where in the structure, e.g. "SignedData.signerInfos[0].signedAttrs". */
  readonly path?: string;
  /** Byte offset in the input where the offending element starts. */
  readonly offset?: number;
  readonly cause?: unknown;
}

/** The only error class this package throws. */
export class CmsError extends Error {
  readonly kind: CmsErrorKind;
  readonly path: string | undefined;
  readonly offset: number | undefined;

  constructor(kind: CmsErrorKind, message: string, options: CmsErrorOptions = {}) {
    super(CmsError.compose(message, options), { cause: options.cause });
    this.name = "CmsError";
    this.kind = kind;
    this.path = options.path;
    this.offset = options.offset;
  }

  /** "message (at path, byte N)", leaving out what is not known. */
  private static compose(message: string, { path, offset }: CmsErrorOptions): string {
    const where = [path, offset === undefined ? undefined : `byte ${offset}`].filter(Boolean);
    return where.length === 0 ? message : `${message} (at ${where.join(", ")})`;
  }
}
