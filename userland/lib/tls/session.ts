// One TLS session as a state machine over two memory BIOs: ciphertext from the network goes in
// with receive(), ciphertext for the network comes out with peekOutput()/consumeOutput() (in
// place) or readOutput()/takeOutput() (copied). No I/O and no callbacks into user code happen in
// here, so the caller decides when bytes move and when events run. Received ciphertext is read by
// OpenSSL where it lies, and outgoing ciphertext can be written to a socket from where OpenSSL
// put it: no copies on the way in or out besides OpenSSL's own.
import { type Pointer, ptr, toArrayBuffer } from "bun:ffi";
import type { TlsContext } from "./context.ts";
import { TlsError } from "./errors.ts";
import {
  BIO_C_FILE_SEEK,
  BIO_C_FILE_TELL,
  BIO_C_SET_BUF_MEM,
  BIO_C_SET_BUF_MEM_EOF_RETURN,
  BIO_CTRL_INFO,
  BIO_NOCLOSE,
  cString,
  drainBio,
  freeBio,
  freeSsl,
  freeX509,
  lib,
  newMemBio,
  newSsl,
  nidShortName,
  peerCertificate,
  readCString,
  SSL_CTRL_GET_EXTMS_SUPPORT,
  SSL_CTRL_GET_NEGOTIATED_GROUP,
  SSL_CTRL_SET_TLSEXT_HOSTNAME,
  SSL_ERROR_SSL,
  SSL_ERROR_SYSCALL,
  SSL_ERROR_WANT_READ,
  SSL_ERROR_WANT_WRITE,
  SSL_ERROR_ZERO_RETURN,
  takeErrors,
  verifyErrorText,
  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
  X509_V_OK,
  XN_FLAG_RFC2253,
} from "./ffi.ts";

/** A certificate the peer must present; every given field must match. */
export interface PeerExpectation {
  /** Exact subject distinguished name in RFC 2253 form, e.g. "CN=gwa-1,O=GWA,C=DE". */
  readonly subject?: string;
  /** SHA-256 fingerprint of the DER certificate, hex; colons, spaces and case are ignored. */
  readonly fingerprint?: string;
}

export interface SessionOptions {
  /** Client: the DNS name or IP address the server certificate must carry (SSL_set1_host). */
  readonly verifyHost?: string;
  /** Client: the server name indication to send (DNS names only). */
  readonly serverName?: string;
  /** The peer must match one of these (certificate pinning). */
  readonly expectedPeer?: PeerExpectation | readonly PeerExpectation[];
}

/** What was negotiated, and who the peer is. */
export interface PeerInfo {
  readonly protocol: string;
  readonly cipher: string;
  /** The key exchange group, e.g. "brainpoolP256r1". */
  readonly group: string;
  readonly extendedMasterSecret: boolean;
  /** Subject DN of the peer certificate, RFC 2253; empty when the peer sent none. */
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 fingerprint of the peer certificate, lower-case hex without separators. */
  readonly fingerprint: string;
}

export type SessionState = "handshake" | "open" | "closed" | "failed" | "freed";

/** The outcome of feeding received ciphertext into a session. */
export interface ReceiveResult {
  /** Set in the call in which the handshake completed and the peer passed all checks. */
  established?: PeerInfo;
  /** Application data decrypted in this call (a fresh copy), or null. */
  data: Buffer | null;
  /** The peer sent close_notify. */
  peerClosed: boolean;
  /** The session failed; it accepts nothing more. Pending output may hold an alert to send. */
  error?: TlsError;
}

// One thread runs all sessions, and nothing in here calls back into user code, so one buffer
// serves every small SSL_read.
const readScratch: Buffer = Buffer.allocUnsafe(64 * 1024);
/** Room for one partial TLS record held inside OpenSSL (16 KiB plaintext and its overhead). */
const RECORD_SLACK = 17 * 1024;
/** Out-parameter for BIO_get_mem_data. */
const outputPointer = new BigUint64Array(1);
/** OpenSSL's BUF_MEM (openssl/buffer.h): size_t length; char *data; size_t max; unsigned long flags. */
const BUF_MEM_SIZE = 32;
const EMPTY = new Uint8Array(0);

export function normalizeFingerprint(text: string): string {
  return text.replace(/[\s:]/g, "").toLowerCase();
}

function nameText(name: Pointer | null): string {
  if (!name) return "";
  const bio = newMemBio();
  if (!bio) return "";
  try {
    lib().X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    return drainBio(bio).toString("utf8");
  } finally {
    freeBio(bio);
  }
}

const digest = Buffer.alloc(64);
const digestLength = new Uint32Array(1);

function certificateInfo(x509: Pointer): { subject: string; issuer: string; fingerprint: string } {
  const l = lib();
  const subject = nameText(l.X509_get_subject_name(x509) as Pointer | null);
  const issuer = nameText(l.X509_get_issuer_name(x509) as Pointer | null);
  let fingerprint = "";
  if (l.X509_digest(x509, l.EVP_sha256(), digest, digestLength) === 1) {
    fingerprint = digest.toString("hex", 0, digestLength[0]);
  }
  return { subject, issuer, fingerprint };
}

function matches(info: { subject: string; fingerprint: string }, e: PeerExpectation): boolean {
  if (e.subject === undefined && e.fingerprint === undefined) return true;
  if (e.subject !== undefined && e.subject !== info.subject) return false;
  if (e.fingerprint !== undefined && normalizeFingerprint(e.fingerprint) !== info.fingerprint) {
    return false;
  }
  return true;
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

export class TlsSession {
  readonly role: "client" | "server";
  #ssl: Pointer | null;
  #rbio: Pointer;
  #wbio: Pointer;
  #state: SessionState = "handshake";
  #expected: readonly PeerExpectation[];
  #requireEms: boolean;
  #peer: PeerInfo | undefined;
  #depth = 0;
  #freePending = false;
  // The read BIO reads received ciphertext where it lies (BIO_set_mem_buf over this BUF_MEM)
  // instead of a copy; between receive() calls it points at nothing, or at #leftover.
  #inputMemory = new ArrayBuffer(BUF_MEM_SIZE);
  #input = new DataView(this.#inputMemory);
  #leftover: Buffer | null = null;
  // A view over the write BIO's buffer (see peekOutput) and where that buffer starts.
  #outputView: Uint8Array | null = null;
  #outputBase = 0;

  constructor(context: TlsContext, options: SessionOptions = {}) {
    const l = lib();
    this.role = context.role;
    this.#requireEms = context.profile.requireExtendedMasterSecret;
    const ssl = newSsl(context.handle);
    if (!ssl) {
      const { lines, reason } = takeErrors();
      throw new TlsError("config", `SSL_new failed${reason ? `: ${reason}` : ""}`, {
        openssl: lines,
      });
    }
    const rbio = newMemBio();
    const wbio = newMemBio();
    if (!rbio || !wbio) {
      if (rbio) freeBio(rbio);
      if (wbio) freeBio(wbio);
      freeSsl(ssl, 0);
      throw new TlsError("config", "BIO_new failed");
    }
    // An empty read BIO means "wait for more", not end of stream.
    l.BIO_ctrl(rbio, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, null);
    // From now on the read BIO's buffer is ours (BIO_NOCLOSE): OpenSSL frees its own one here
    // and never frees or grows ours (nothing writes into a read BIO).
    l.BIO_ctrl(rbio, BIO_C_SET_BUF_MEM, BIO_NOCLOSE, ptr(this.#inputMemory));
    l.SSL_set_bio(ssl, rbio, wbio);
    this.#ssl = ssl;
    this.#rbio = rbio;
    this.#wbio = wbio;
    const e = options.expectedPeer;
    this.#expected = e === undefined ? [] : Array.isArray(e) ? e : [e as PeerExpectation];
    try {
      if (this.role === "client") {
        if (options.verifyHost !== undefined) {
          l.SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          if (l.SSL_set1_host(ssl, cString(options.verifyHost)) !== 1) {
            throw this.#configError(`host name ${options.verifyHost} not accepted`);
          }
        }
        const sni =
          options.serverName ??
          (options.verifyHost !== undefined && !isIpAddress(options.verifyHost)
            ? options.verifyHost
            : undefined);
        if (
          sni !== undefined &&
          Number(l.SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, 0, cString(sni))) !== 1
        ) {
          throw this.#configError(`server name ${sni} not accepted`);
        }
        l.SSL_set_connect_state(ssl);
      } else {
        l.SSL_set_accept_state(ssl);
      }
    } catch (error) {
      this.free();
      throw error;
    }
  }

  get state(): SessionState {
    return this.#state;
  }

  /** Set once the handshake completed and the peer passed the checks. */
  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  /** Client: writes the ClientHello into the output. Server: nothing to do until data arrives. */
  start(): TlsError | undefined {
    if (this.role !== "client" || this.#state !== "handshake") return undefined;
    return this.#handshake().error;
  }

  /** Feeds ciphertext received from the network. */
  receive(ciphertext: Uint8Array): ReceiveResult {
    const result: ReceiveResult = { data: null, peerClosed: false };
    const ssl = this.#ssl;
    if (!ssl || (this.#state !== "handshake" && this.#state !== "open")) return result;
    let input = ciphertext;
    if (this.#leftover) {
      input = ciphertext.length > 0 ? Buffer.concat([this.#leftover, ciphertext]) : this.#leftover;
      this.#leftover = null;
    }
    this.#pointInputAt(input);
    try {
      if (this.#state === "handshake") {
        const step = this.#handshake();
        if (step.error) {
          result.error = step.error;
          return result;
        }
        if (!step.done) return result;
        result.established = step.peer;
      }
      this.#readData(ssl, result);
      return result;
    } finally {
      this.#releaseInput(input);
    }
  }

  /** Encrypts all of `plaintext` into the output. */
  write(plaintext: Uint8Array): void {
    const ssl = this.#ssl;
    if (!ssl || this.#state !== "open") {
      throw new TlsError("usage", `cannot send in session state ${this.#state}`);
    }
    const l = lib();
    let offset = 0;
    while (offset < plaintext.length) {
      const length = Math.min(plaintext.length - offset, 0x40000000);
      l.ERR_clear_error();
      const n = l.SSL_write(ssl, offset === 0 ? plaintext : ptr(plaintext, offset), length);
      if (n <= 0) {
        const code = l.SSL_get_error(ssl, n);
        const error = this.#error("protocol", code);
        this.#state = "failed";
        throw error;
      }
      offset += n;
    }
  }

  /** Bytes of ciphertext waiting to be sent. */
  pendingOutput(): number {
    if (!this.#ssl) return 0;
    return Number(lib().BIO_ctrl_pending(this.#wbio));
  }

  /**
   * The pending ciphertext where OpenSSL holds it, without a copy; null when there is none.
   * Valid only until the next call into this session: hand it to a synchronous write, then
   * consumeOutput() what was taken.
   */
  peekOutput(): Uint8Array | null {
    if (!this.#ssl) return null;
    const l = lib();
    const length = Number(l.BIO_ctrl(this.#wbio, BIO_CTRL_INFO, 0, outputPointer));
    const at = Number(outputPointer[0]);
    if (length <= 0 || at === 0) return null;
    // The write BIO's buffer starts `offset` bytes before the pending data and keeps its place
    // until it grows, so one view over it serves many calls (a new view of external memory
    // costs more than copying the bytes). Only [offset, offset + length) is read: what OpenSSL
    // holds now.
    const offset = Number(l.BIO_ctrl(this.#wbio, BIO_C_FILE_TELL, 0, null));
    const base = at - offset;
    const end = offset + length;
    let view = this.#outputView;
    if (view === null || this.#outputBase !== base || view.length < end) {
      view = new Uint8Array(toArrayBuffer(base as Pointer, 0, end));
      this.#outputView = view;
      this.#outputBase = base;
    }
    return view.subarray(offset, end);
  }

  /** Drops the first `length` bytes of the pending ciphertext (after a write of peekOutput()). */
  consumeOutput(length: number): void {
    if (!this.#ssl || length <= 0) return;
    const l = lib();
    const offset = Number(l.BIO_ctrl(this.#wbio, BIO_C_FILE_TELL, 0, null));
    l.BIO_ctrl(this.#wbio, BIO_C_FILE_SEEK, offset + length, null);
  }

  /** Moves up to `target.length - offset` bytes of pending ciphertext into `target`. */
  readOutput(target: Uint8Array, offset = 0): number {
    if (!this.#ssl || offset >= target.length) return 0;
    const n = lib().BIO_read(this.#wbio, ptr(target, offset), target.length - offset);
    return Math.max(n, 0);
  }

  /** All pending ciphertext as one new Buffer, or null. */
  takeOutput(): Buffer | null {
    const pending = this.pendingOutput();
    if (pending === 0) return null;
    const out = Buffer.allocUnsafe(pending);
    const n = this.readOutput(out);
    return n === pending ? out : out.subarray(0, n);
  }

  /** Queues a close_notify (when the session is open) and stops accepting data. */
  close(): void {
    const ssl = this.#ssl;
    if (!ssl) return;
    if (this.#state === "open") {
      const l = lib();
      l.ERR_clear_error();
      l.SSL_shutdown(ssl);
      l.ERR_clear_error();
    }
    if (this.#state === "open" || this.#state === "handshake") this.#state = "closed";
  }

  /**
   * Runs `fn` with the session held: a free() requested meanwhile (for instance by a socket close
   * handler that runs synchronously inside socket.end()) happens when the outermost hold ends.
   */
  hold<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
      if (this.#depth === 0 && this.#freePending) this.free();
    }
  }

  /** Frees the SSL and its BIOs. Idempotent; deferred while held. */
  free(): void {
    if (this.#depth > 0) {
      this.#freePending = true;
      return;
    }
    const ssl = this.#ssl;
    if (!ssl) return;
    this.#ssl = null;
    this.#freePending = false;
    this.#state = "freed";
    this.#leftover = null;
    this.#outputView = null;
    freeSsl(ssl, 2);
  }

  /** Lets the read BIO read `bytes` in place. */
  #pointInputAt(bytes: Uint8Array): void {
    const view = this.#input;
    const length = BigInt(bytes.length);
    view.setBigUint64(0, length, true);
    view.setBigUint64(8, bytes.length > 0 ? BigInt(ptr(bytes)) : 0n, true);
    view.setBigUint64(16, length, true);
    view.setBigUint64(24, 0n, true);
    lib().BIO_ctrl(this.#rbio, BIO_C_SET_BUF_MEM, BIO_NOCLOSE, ptr(this.#inputMemory));
  }

  /**
   * After a receive: the read BIO must not keep pointing into the caller's bytes. What OpenSSL
   * left unread (nothing, normally: it reads until it wants more) is kept in a copy of our own.
   */
  #releaseInput(input: Uint8Array): void {
    if (!this.#ssl) return;
    const unread =
      this.#state === "handshake" || this.#state === "open"
        ? Number(lib().BIO_ctrl_pending(this.#rbio))
        : 0;
    if (unread > 0 && unread <= input.length) {
      this.#leftover = Buffer.from(input.subarray(input.length - unread));
      this.#pointInputAt(this.#leftover);
    } else {
      this.#pointInputAt(EMPTY);
    }
  }

  #handshake(): { done: boolean; peer?: PeerInfo; error?: TlsError } {
    const ssl = this.#ssl;
    if (!ssl) return { done: false };
    const l = lib();
    l.ERR_clear_error();
    const r = l.SSL_do_handshake(ssl);
    if (r === 1) {
      const checked = this.#checkPeer(ssl);
      if (checked instanceof TlsError) {
        this.#state = "failed";
        l.SSL_shutdown(ssl);
        l.ERR_clear_error();
        return { done: false, error: checked };
      }
      this.#state = "open";
      this.#peer = checked;
      return { done: true, peer: checked };
    }
    const code = l.SSL_get_error(ssl, r);
    if (code === SSL_ERROR_WANT_READ || code === SSL_ERROR_WANT_WRITE) return { done: false };
    this.#state = "failed";
    return { done: false, error: this.#error("handshake", code) };
  }

  #readData(ssl: Pointer, result: ReceiveResult): void {
    const l = lib();
    // Plaintext is never longer than the ciphertext it came from: what waits in the read BIO
    // plus at most one partial record already inside OpenSSL. Large input is decrypted straight
    // into a buffer of that size (one copy less); small input goes through the shared scratch.
    const pending = Number(l.BIO_ctrl_pending(this.#rbio));
    const direct = pending + RECORD_SLACK > readScratch.length;
    let out = direct ? Buffer.allocUnsafe(pending + RECORD_SLACK) : readScratch;
    const parts: Buffer[] = [];
    let filled = 0;
    // SSL_get_error needs an empty queue before the call; successful reads add nothing to it.
    l.ERR_clear_error();
    for (;;) {
      if (filled === out.length) {
        parts.push(direct ? out : Buffer.from(out));
        out = Buffer.allocUnsafe(RECORD_SLACK);
        filled = 0;
      }
      const n = l.SSL_read(ssl, ptr(out, filled), out.length - filled);
      if (n > 0) {
        filled += n;
        continue;
      }
      const code = l.SSL_get_error(ssl, n);
      if (code === SSL_ERROR_WANT_READ || code === SSL_ERROR_WANT_WRITE) break;
      if (code === SSL_ERROR_ZERO_RETURN) {
        result.peerClosed = true;
        this.close();
        this.#state = "closed";
        break;
      }
      this.#fail(result, this.#error("protocol", code));
      break;
    }
    if (filled > 0) {
      parts.push(
        out === readScratch ? Buffer.from(out.subarray(0, filled)) : out.subarray(0, filled),
      );
    }
    if (parts.length === 1) result.data = parts[0] ?? null;
    else if (parts.length > 1) result.data = Buffer.concat(parts);
  }

  #fail(result: ReceiveResult, error: TlsError): ReceiveResult {
    this.#state = "failed";
    result.error = error;
    return result;
  }

  #configError(what: string): TlsError {
    const { lines, reason } = takeErrors();
    return new TlsError("config", reason ? `${what}: ${reason}` : what, { openssl: lines });
  }

  /** Builds the error for a failed SSL call from the verify result and the error queue. */
  #error(kind: "handshake" | "protocol", code: number): TlsError {
    const l = lib();
    const ssl = this.#ssl;
    const { lines, reason } = takeErrors();
    if (ssl && kind === "handshake") {
      const verifyCode = Number(l.SSL_get_verify_result(ssl));
      if (verifyCode !== X509_V_OK) {
        const text = verifyErrorText(verifyCode);
        return new TlsError("verify", text, { openssl: lines, verify: { code: verifyCode, text } });
      }
    }
    if (reason !== undefined) return new TlsError(kind, reason, { openssl: lines });
    if (code === SSL_ERROR_SYSCALL) {
      return new TlsError(kind, "unexpected end of the TLS stream", { openssl: lines });
    }
    if (code === SSL_ERROR_ZERO_RETURN) return new TlsError("closed", "peer closed the session");
    return new TlsError(kind, `OpenSSL reported error ${code === SSL_ERROR_SSL ? "SSL" : code}`, {
      openssl: lines,
    });
  }

  #checkPeer(ssl: Pointer): PeerInfo | TlsError {
    const l = lib();
    const protocol = readCString(l.SSL_get_version(ssl));
    const cipherHandle = l.SSL_get_current_cipher(ssl) as Pointer | null;
    const cipher = cipherHandle ? readCString(l.SSL_CIPHER_get_name(cipherHandle)) : "";
    const nid = Number(l.SSL_ctrl(ssl, SSL_CTRL_GET_NEGOTIATED_GROUP, 0, null));
    const group = nid > 0 ? nidShortName(nid) || `group ${nid}` : "";
    const extendedMasterSecret =
      protocol === "TLSv1.3" || Number(l.SSL_ctrl(ssl, SSL_CTRL_GET_EXTMS_SUPPORT, 0, null)) === 1;
    let cert = { subject: "", issuer: "", fingerprint: "" };
    const x509 = peerCertificate(ssl);
    if (x509) {
      try {
        cert = certificateInfo(x509);
      } finally {
        freeX509(x509);
      }
    }
    l.ERR_clear_error();
    const info: PeerInfo = { protocol, cipher, group, extendedMasterSecret, ...cert };
    // Profile: extended master secret is mandatory (RFC 7627); OpenSSL 3 cannot demand it itself.
    if (this.#requireEms && !extendedMasterSecret) {
      return new TlsError("peer", "extended master secret was not negotiated");
    }
    if (this.#expected.length > 0) {
      if (!x509) return new TlsError("peer", "the peer presented no certificate to match");
      if (!this.#expected.some((e) => matches(cert, e))) {
        return new TlsError(
          "peer",
          `unexpected peer certificate: subject "${cert.subject}", SHA-256 ${cert.fingerprint}`,
        );
      }
    }
    return info;
  }
}
