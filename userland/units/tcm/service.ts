// The trusted channel manager's service: channels for the domains, opened only where the policy
// lets the asking unit go, with the credentials the policy names; every refusal is logged with
// its reason, reported to the system log, and answered with a clear IPC error.
import { existsSync } from "node:fs";
import type { Logger } from "@smgw/daemon";
import { type DeliveryContext, IpcError, type RequestBody, type ResponseBody } from "@smgw/ipc";
import { isUnitName, type Policy, type RuleTable, type UnitName } from "@smgw/policy";
import { connectTls, createTlsContext, isTlsError, type TlsContext } from "@smgw/tls";
import {
  type ChannelLimits,
  ChannelTable,
  DEFAULT_LIMITS,
  MAX_RECEIVE,
  MAX_WAIT_MS,
} from "./channels.ts";
import {
  type CredentialLayout,
  crlsOf,
  filesWithPrivateKeys,
  type TcmKey,
  tcmProfile,
} from "./credentials.ts";
import { InboundListeners, summary } from "./listeners.ts";
import { decideRoute, type OutboundRoute } from "./routes.ts";

/** Within the IFM's 10 s for an answer: TCP connect and handshake together. */
const HANDSHAKE_TIMEOUT_MS = 7000;

/** The module key for outbound channels, by network. */
const OUTBOUND_KEYS: Partial<Record<OutboundRoute["network"], TcmKey>> = { WAN: "tls-wan" };

/** What the TCM needs from its IFM connection (ifm-link.ts; a stand-in in tests). */
export interface TcmIfm {
  request(
    to: "storage",
    type: "storage.append-log",
    body: RequestBody<"storage.append-log">,
  ): Promise<unknown>;
  signDigest(key: string, hash: string, digest: Uint8Array): Uint8Array;
}

export interface TcmOptions {
  policy: Policy;
  table: RuleTable;
  layout: CredentialLayout;
  ifm: TcmIfm;
  log: Logger;
  displayPort?: number;
  limits?: ChannelLimits;
}

export class TrustedChannelManager {
  readonly channels: ChannelTable;
  readonly inbound: InboundListeners;
  readonly #contexts = new Map<string, TlsContext>();
  /** Why the credentials cannot be used (private keys in the state directory), if they cannot. */
  readonly #credentialProblem: string | undefined;
  #lastSignFailure: { at: number; message: string } | undefined;
  readonly counters = { opened: 0, refused: 0, signatures: 0, signFailures: 0 };

  constructor(private readonly o: TcmOptions) {
    this.channels = new ChannelTable(o.log, o.limits ?? DEFAULT_LIMITS);
    const leaked = filesWithPrivateKeys(o.layout.dir);
    if (leaked.length > 0) {
      this.#credentialProblem = `private keys in the TCM's credentials (${leaked.join(", ")}); the TCM signs through the crypto manager only and refuses them`;
      o.log.error("credentials refused", { reason: this.#credentialProblem });
    }
    this.inbound = new InboundListeners({
      policy: o.policy,
      table: o.table,
      layout: o.layout,
      log: o.log,
      channels: this.channels,
      sign: (key) => this.#signer(key),
      ...(o.displayPort !== undefined ? { displayPort: o.displayPort } : {}),
      report: (event, detail) => this.#report(event, detail),
    });
  }

  /** Starts the inbound listeners (unless the credentials are refused). */
  start(): void {
    if (this.#credentialProblem) return;
    this.inbound.start();
  }

  stop(): void {
    this.inbound.stop();
    this.channels.closeAll();
    for (const c of this.#contexts.values()) c.free();
    this.#contexts.clear();
  }

  degraded(): boolean {
    return this.#credentialProblem !== undefined;
  }

  status(): Record<string, unknown> {
    return {
      channels: this.channels.size,
      byUnit: this.channels.countByOwner(),
      listeners: this.inbound.listening(),
      ...this.counters,
      ...(this.#credentialProblem ? { credentials: "refused" } : {}),
    };
  }

  async open(
    body: RequestBody<"tcm.open-channel">,
    { from }: DeliveryContext,
  ): Promise<ResponseBody<"tcm.open-channel">> {
    const unit = this.#unit(from);
    const decision = decideRoute(this.o.policy, unit, body);
    if (!decision.ok) {
      throw this.#refuse(unit, body, decision.reason, decision.code);
    }
    const route = decision.route;
    if (this.#credentialProblem)
      throw this.#refuse(unit, body, this.#credentialProblem, "unavailable");
    const key = OUTBOUND_KEYS[route.network];
    if (!key)
      throw this.#refuse(unit, body, `no TCM key for TLS on the ${route.network}`, "denied");
    this.channels.checkRoom(unit);
    let context: TlsContext;
    try {
      context = this.#clientContext(key, route.issuer);
    } catch (error) {
      throw this.#refuse(
        unit,
        body,
        `credentials not usable: ${(error as Error).message}`,
        "unavailable",
      );
    }
    const started = Date.now();
    let tls: Awaited<ReturnType<typeof connectTls>>;
    try {
      tls = await connectTls({
        context,
        host: route.address,
        port: route.port,
        // The peer is known by its certificate: the policy's subject under the policy's anchor.
        verifyHost: false,
        expectedPeer: { subject: route.subject },
        handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      });
    } catch (error) {
      const signFailure =
        this.#lastSignFailure && this.#lastSignFailure.at >= started
          ? this.#lastSignFailure
          : undefined;
      if (signFailure) {
        throw this.#refuse(
          unit,
          body,
          `the security module did not sign: ${signFailure.message}`,
          "unavailable",
          route,
        );
      }
      if (isTlsError(error)) {
        const code =
          error.kind === "network" || error.kind === "timeout" ? "unavailable" : "tls-refused";
        throw this.#refuse(
          unit,
          body,
          `${route.address}:${route.port}: ${error.kind}: ${error.reason}`,
          code,
          route,
        );
      }
      throw this.#refuse(unit, body, `${(error as Error).message}`, "unavailable", route);
    }
    const channel = this.channels.add(unit, tls, {
      direction: "outbound",
      flow: route.flow,
      endpoint: route.endpoint,
      ...(route.device ? { device: route.device } : {}),
    });
    this.counters.opened++;
    this.o.log.info("channel opened", {
      channel,
      from: unit,
      endpoint: route.endpoint,
      flow: route.flow,
      address: `${route.address}:${route.port}`,
      subject: tls.peer.subject,
      cipher: tls.peer.cipher,
      group: tls.peer.group,
      ...(route.device ? { device: route.device } : {}),
    });
    return { channel, peer: summary(route.endpoint, tls) };
  }

  send(body: RequestBody<"tcm.send">, { from }: DeliveryContext): ResponseBody<"tcm.send"> {
    return this.channels.send(this.#unit(from), body.channel, decodeBase64(body.data));
  }

  async receive(
    body: RequestBody<"tcm.receive">,
    { from }: DeliveryContext,
  ): Promise<ResponseBody<"tcm.receive">> {
    const max = Math.min(body.max ?? MAX_RECEIVE, MAX_RECEIVE);
    const waitMs = Math.min(body.waitMs ?? 0, MAX_WAIT_MS);
    const r = await this.channels.receive(this.#unit(from), body.channel, max, waitMs);
    return {
      data: r.data.toString("base64"),
      closed: r.closed,
      ...(r.reason ? { reason: r.reason.slice(0, 256) } : {}),
    };
  }

  close(body: RequestBody<"tcm.close">, { from }: DeliveryContext): ResponseBody<"tcm.close"> {
    this.channels.close(this.#unit(from), body.channel);
    return { closed: true };
  }

  accept(
    body: RequestBody<"tcm.accept">,
    { from }: DeliveryContext,
  ): Promise<ResponseBody<"tcm.accept">> {
    return this.inbound.accept(
      this.#unit(from),
      body.listener,
      Math.min(body.waitMs ?? 0, MAX_WAIT_MS),
    );
  }

  /** The CLS proxy's relay: data for a channel serving one CLS device. */
  relay(body: RequestBody<"cls.relay">, { from }: DeliveryContext): ResponseBody<"cls.relay"> {
    const unit = this.#unit(from);
    const info = this.channels.info(body.channel);
    if (!info || info.owner !== unit || info.device !== body.device) {
      throw new IpcError(
        "denied",
        `${unit} has no channel ${body.channel} for device ${body.device}`,
      );
    }
    return { sent: this.channels.send(unit, body.channel, decodeBase64(body.data)).sent };
  }

  #unit(from: string): UnitName {
    if (!isUnitName(from)) throw new IpcError("denied", `unknown unit ${from}`);
    return from;
  }

  /** The signing callback of `key`: a blocking crypto.sign through the IFM. */
  #signer(key: TcmKey): (digest: Uint8Array, hash: string) => Uint8Array {
    return (digest, hash) => {
      try {
        const signature = this.o.ifm.signDigest(key, hash, digest);
        this.counters.signatures++;
        return signature;
      } catch (error) {
        this.counters.signFailures++;
        const message = (error as Error).message;
        this.#lastSignFailure = { at: Date.now(), message };
        this.o.log.warn("TLS signature refused by the crypto manager", {
          key,
          hash,
          error: message,
        });
        throw error;
      }
    };
  }

  #clientContext(key: TcmKey, issuer: string): TlsContext {
    const name = `${key}/${issuer}`;
    const known = this.#contexts.get(name);
    if (known) return known;
    const anchor = this.o.layout.anchor(issuer);
    if (!existsSync(anchor)) throw new Error(`no trust anchor "${issuer}" (${anchor})`);
    const crl = crlsOf(this.o.layout);
    const context = createTlsContext({
      role: "client",
      profile: tcmProfile(),
      ca: anchor,
      cert: this.o.layout.chain(key),
      key: { kind: "callback", sign: this.#signer(key) },
      ...(crl ? { crl } : {}),
    });
    this.#contexts.set(name, context);
    return context;
  }

  #refuse(
    unit: UnitName,
    body: { endpoint: string; purpose: string; device?: string },
    reason: string,
    code: string,
    route?: OutboundRoute,
  ): IpcError {
    this.counters.refused++;
    this.o.log.warn("channel refused", {
      event: "tcm.channel-refused",
      from: unit,
      endpoint: body.endpoint,
      purpose: body.purpose,
      ...(body.device ? { device: body.device } : {}),
      ...(route ? { address: `${route.address}:${route.port}` } : {}),
      code,
      reason,
    });
    this.#report("tcm.channel-refused", {
      from: unit,
      endpoint: body.endpoint,
      purpose: body.purpose,
      reason: reason.slice(0, 500),
    });
    return new IpcError(code, reason);
  }

  /** A security event for the system log; the TCM goes on if storage cannot take it. */
  #report(event: string, detail: Record<string, string | number>): void {
    this.o.ifm
      .request("storage", "storage.append-log", { event, severity: "warning", detail })
      .catch(() => {});
  }
}

/** Strict base64: the alphabet (cls.relay's contract does not check it) and the length. */
export function decodeBase64(data: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
    throw new IpcError("invalid-body", "data is not base64: a character outside its alphabet");
  }
  if (data.length % 4 !== 0) {
    throw new IpcError(
      "invalid-body",
      `data is not base64: length ${data.length} is not a multiple of 4`,
    );
  }
  return Buffer.from(data, "base64");
}
