export {
  type Access,
  type Call,
  createDisplay,
  type Display,
  type DisplayOptions,
  type Identity,
  json,
  problem,
  type RouteSpec,
  sameOrigin,
} from "./app.ts";
export {
  type Accounts,
  AccountsError,
  AccountsSchema,
  Authenticator,
  type AuthResult,
  checkAccounts,
  loadAccounts,
  parseBasic,
  type Role,
} from "./auth.ts";
export {
  type ClientCertificateSource,
  DEFAULT_SUBJECT_HEADER,
  isLoopback,
  type Peer,
  trustedHeaderSource,
} from "./client-cert.ts";
export { ApiError, ConsumerData, type IfmClient } from "./data.ts";
export { type Lang, pickLanguage } from "./i18n.ts";
export { main } from "./main.ts";
export { buildOpenApi, type OpenApiDocument } from "./openapi.ts";
export { listen, MAX_REQUEST_BODY } from "./serve.ts";
export { SessionStore } from "./sessions.ts";
export { LoginThrottle, type ThrottleOptions } from "./throttle.ts";
