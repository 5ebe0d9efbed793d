// Client certificates as an alternative to passwords. TLS is the trusted channel manager's
// job: it terminates the consumer's TLS session, verifies the client certificate against the
// HAN trust anchors and forwards the request to the display over loopback, naming the
// verified subject in a header. The display believes that header only on the TCM's own
// listener and only from a loopback address; on the HAN listener it is ignored (and logged),
// so a HAN client cannot claim a certificate by sending the header itself.

/** Where a request came from: its peer address and the listener it arrived on. */
export interface Peer {
  address: string;
  /** "han": the HAN listener; "tcm": the loopback listener the TCM forwards TLS sessions to. */
  listener: "han" | "tcm";
}

/** Tells the display which verified client certificate, if any, a request was made with. */
export interface ClientCertificateSource {
  /** The verified subject, e.g. "CN=Alice", or undefined. */
  subjectOf(request: Request, peer: Peer): string | undefined;
  /** True if the request tried to name a certificate where that is not believed. */
  isForged?(request: Request, peer: Peer): boolean;
}

export const DEFAULT_SUBJECT_HEADER = "x-smgw-client-subject";

export function isLoopback(address: string): boolean {
  return (
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) ||
    address === "::1" ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(address)
  );
}

/** The subject header set by the TCM, believed on the TCM listener from loopback only. */
export function trustedHeaderSource(header = DEFAULT_SUBJECT_HEADER): ClientCertificateSource {
  const trusted = (peer: Peer) => peer.listener === "tcm" && isLoopback(peer.address);
  return {
    subjectOf(request, peer) {
      if (!trusted(peer)) return undefined;
      const v = request.headers.get(header);
      return v !== null && v.length >= 3 && v.length <= 256 ? v : undefined;
    },
    isForged(request, peer) {
      return !trusted(peer) && request.headers.has(header);
    },
  };
}
