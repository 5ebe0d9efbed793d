export { ChannelTable, DEFAULT_LIMITS, MAX_RECEIVE, MAX_WAIT_MS } from "./channels.ts";
export {
  type CredentialLayout,
  credentialLayout,
  filesWithPrivateKeys,
  HAN_CLIENTS_ANCHOR,
  TCM_KEYS,
  type TcmKey,
  tcmProfile,
} from "./credentials.ts";
export { CLIENT_ADDRESS_HEADER, DisplayForwarder, SUBJECT_HEADER } from "./display-forward.ts";
export { IfmLink, type IfmLinkOptions, SIGN_ALGORITHMS } from "./ifm-link.ts";
export { SocketCallError, UnixStream } from "./libc.ts";
export { InboundListeners, type PeerSummary } from "./listeners.ts";
export { main } from "./main.ts";
// Personalisation (provision.ts) is a setup-time module, imported as
// "@smgw/unit-tcm/provision.ts": the running TCM does not load the security-module code.
export {
  type ChannelRequest,
  decideRoute,
  flowsFor,
  type InboundListener,
  inboundListeners,
  type OutboundRoute,
  outboundFlows,
  type RouteDecision,
  typesGivenToTcm,
} from "./routes.ts";
export { decodeBase64, type TcmIfm, type TcmOptions, TrustedChannelManager } from "./service.ts";
export { SignLink, type SignLinkOptions } from "./sign-link.ts";
