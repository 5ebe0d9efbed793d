export { CmsError, type CmsErrorKind } from "./errors.ts";
export { CURVES, type CurveName, type DigestName, OID } from "./oids.ts";
export {
  type CmsAttribute,
  type CmsSignedAttributes,
  type CmsSignerInfo,
  DEFAULT_MAX_BYTES,
  MAX_ITEMS,
  type ParsedCms,
  type ParseOptions,
  parseCms,
} from "./parse.ts";
export { type SignOptions, signCms } from "./sign.ts";
export {
  type CmsVerifyResult,
  type SignerCertificate,
  type VerifyFailure,
  type VerifyOptions,
  verifyCms,
} from "./verify.ts";
export type { CmsName } from "./x509.ts";
