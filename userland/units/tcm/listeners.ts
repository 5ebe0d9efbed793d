// Inbound TLS: for every inbound network flow of the policy with `tls: true`, the TCM listens
// on that port of the gateway's address in the flow's network, terminates TLS with its own
// certificate (key in the security module), checks the peer, and hands the plaintext on:
//
// - to the display: as HTTP over loopback, with the verified client-certificate subject named
//   (display-forward.ts), when the display's TCM port is configured;
// - to any other unit (the CLS proxy): as a channel the unit takes with tcm.accept and then
//   uses with tcm.receive / tcm.send / tcm.close like an outbound one, through the IFM.
//
// Peers with TLS certificates in the policy (CLS devices) must present exactly the certificate
// the policy names and connect from the endpoint's address; consumers of the display may
// present a client certificate (verified against anchors/han-clients.pem) or none.

import { existsSync } from "node:fs";
import type { Logger } from "@smgw/daemon";
import { IpcError } from "@smgw/ipc";
import type { Endpoint, Policy, RuleTable, UnitName } from "@smgw/policy";
import {
  createTlsContext,
  listenTls,
  type TlsChannel,
  type TlsContext,
  type TlsError,
  type TlsListener,
} from "@smgw/tls";
import type { ChannelTable } from "./channels.ts";
import {
  type CredentialLayout,
  crlsOf,
  HAN_CLIENTS_ANCHOR,
  type TcmKey,
  tcmProfile,
} from "./credentials.ts";
import { DisplayForwarder } from "./display-forward.ts";
import { type InboundListener, inboundListeners } from "./routes.ts";

/** The module key each unit's TLS listener presents. */
const INBOUND_KEYS: Partial<Record<UnitName, TcmKey>> = { display: "tls-han", cls: "tls-cls" };

/** Sessions a unit has not taken yet, per listener, and how long they wait. */
const MAX_WAITING = 8;
const WAITING_MS = 30_000;

export interface PeerSummary {
  endpoint: string;
  subject: string;
  protocol: string;
  cipher: string;
}

interface Waiting {
  tls: TlsChannel;
  endpoint: string;
  since: number;
}

interface Running {
  spec: InboundListener;
  address: string;
  tls: TlsListener;
  context: TlsContext;
  waiting: Waiting[];
  takers: ((w: Waiting | undefined) => void)[];
  forwarder?: DisplayForwarder;
}

export interface InboundDeps {
  policy: Policy;
  table: RuleTable;
  layout: CredentialLayout;
  log: Logger;
  channels: ChannelTable;
  /** The signing callback for a key (a blocking crypto.sign through the IFM). */
  sign: (key: TcmKey) => (digest: Uint8Array, hash: string) => Uint8Array;
  /** The display's loopback listener for the TCM; no display termination without it. */
  displayPort?: number;
  /** Listen here instead of the policy's gateway address (tests). */
  address?: string;
  /** A refusal worth the system log. */
  report: (event: string, detail: Record<string, string | number>) => void;
}

export class InboundListeners {
  readonly #running: Running[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly d: InboundDeps) {}

  /** Starts what the policy and the credentials allow; says in the log why a listener is not. */
  start(): void {
    for (const spec of inboundListeners(this.d.policy)) {
      try {
        const r = this.#start(spec);
        if (r) this.#running.push(r);
      } catch (error) {
        this.d.log.error("TLS listener not started", {
          flow: spec.flow,
          port: spec.port,
          error: (error as Error).message,
        });
      }
    }
    this.#timer = setInterval(() => this.#expire(), 1000);
    this.#timer.unref?.();
  }

  listening(): { flow: string; unit: string; address: string; port: number }[] {
    return this.#running.map((r) => ({
      flow: r.spec.flow,
      unit: r.spec.unit,
      address: r.address,
      port: r.tls.port,
    }));
  }

  /** tcm.accept: the next session that reached `unit`'s listener `flow`, waiting up to `waitMs`. */
  async accept(
    unit: UnitName,
    flow: string,
    waitMs: number,
  ): Promise<{ channel?: string; peer?: PeerSummary }> {
    const r = this.#running.find((x) => x.spec.flows.includes(flow));
    if (!r) {
      throw new IpcError("denied", `the TCM has no TLS listener for ${flow}`);
    }
    if (r.spec.unit !== unit || r.forwarder) {
      throw new IpcError("denied", `${flow} is not ${unit}'s to accept on`);
    }
    this.d.channels.checkRoom(unit);
    let w = r.waiting.shift();
    if (!w && waitMs > 0) {
      w = await new Promise<Waiting | undefined>((resolve) => {
        const timer = setTimeout(() => {
          r.takers.splice(r.takers.indexOf(taker), 1);
          resolve(undefined);
        }, waitMs);
        const taker = (x: Waiting | undefined) => {
          clearTimeout(timer);
          resolve(x);
        };
        r.takers.push(taker);
      });
    }
    if (!w) return {};
    if (!w.tls.isOpen) return {};
    const channel = this.d.channels.add(unit, w.tls, {
      direction: "inbound",
      flow: r.spec.flow,
      endpoint: w.endpoint,
      device: w.endpoint,
    });
    this.d.log.info("inbound channel taken", {
      channel,
      owner: unit,
      endpoint: w.endpoint,
      flow: r.spec.flow,
    });
    return { channel, peer: summary(w.endpoint, w.tls) };
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const r of this.#running) {
      r.forwarder?.stop();
      for (const w of r.waiting) w.tls.close();
      for (const t of r.takers) t(undefined);
      r.tls.stop(true);
      r.context.free();
    }
    this.#running.length = 0;
  }

  #start(spec: InboundListener): Running | undefined {
    const { layout, log } = this.d;
    const listener = this.d.table.listeners.find(
      (l) => l.network === spec.network && l.port === spec.port && l.protocol === "tcp",
    );
    const address = this.d.address ?? listener?.address;
    if (!address) throw new Error(`the policy gives ${spec.flow} no gateway address`);
    const endpoints = spec.endpoints.map((e) => this.d.policy.endpoints[e] as Endpoint);
    const certified = endpoints.filter((e) => e.credential.kind === "tls-certificate");
    const key = INBOUND_KEYS[spec.unit];
    if (!key) throw new Error(`the TCM has no key for TLS to ${spec.unit}`);
    let context: TlsContext;
    let forwarder: DisplayForwarder | undefined;
    const crl = crlsOf(layout);
    const common = {
      role: "server" as const,
      cert: layout.chain(key),
      key: { kind: "callback" as const, sign: this.d.sign(key) },
      ...(crl ? { crl } : {}),
    };
    if (spec.unit === "display") {
      if (this.d.displayPort === undefined) {
        log.warn("TLS for the display not started: SMGW_DISPLAY_TCM_PORT is not set", {
          flow: spec.flow,
        });
        return undefined;
      }
      const anchor = layout.anchor(HAN_CLIENTS_ANCHOR);
      if (!existsSync(anchor)) {
        log.warn("TLS for the display not started: no anchor for client certificates", { anchor });
        return undefined;
      }
      context = createTlsContext({
        ...common,
        profile: tcmProfile({ mutualAuthentication: false }),
        ca: anchor,
        clientCertificate: "optional",
      });
      forwarder = new DisplayForwarder({ displayPort: this.d.displayPort, log });
    } else {
      if (certified.length !== endpoints.length || certified.length === 0) {
        throw new Error(`${spec.flow}: TLS peers without certificates in the policy`);
      }
      const anchors = [
        ...new Set(
          certified.map((e) =>
            layout.anchor(e.credential.kind === "tls-certificate" ? e.credential.issuer : ""),
          ),
        ),
      ];
      context = createTlsContext({ ...common, profile: tcmProfile(), ca: anchors });
    }
    const expectedPeer = certified.map((e) => ({
      subject: e.credential.kind === "tls-certificate" ? e.credential.subject : "",
    }));
    // The handlers need the running listener; it exists once listenTls has returned.
    let running: Running | undefined;
    let tls: TlsListener;
    try {
      tls = listenTls({
        context,
        hostname: address,
        port: spec.port,
        handshakeTimeoutMs: 10_000,
        ...(forwarder ? {} : { expectedPeer }),
        onConnection: (c) => {
          if (running) this.#connected(running, endpoints, c);
          else c.close();
        },
        onRefused: (error, remote) => this.#refused(spec.flow, error, remote),
      });
    } catch (error) {
      forwarder?.stop();
      context.free();
      throw error;
    }
    running = {
      spec,
      address,
      context,
      tls,
      waiting: [],
      takers: [],
      ...(forwarder ? { forwarder } : {}),
    };
    log.info("TLS listener started", {
      flow: spec.flow,
      for: spec.unit,
      address,
      port: tls.port,
      key,
    });
    return running;
  }

  #connected(r: Running, endpoints: Endpoint[], tls: TlsChannel): void {
    if (r.forwarder) {
      this.d.log.info("display session", {
        client: tls.remoteAddress,
        subject: tls.peer.subject || "(none)",
      });
      r.forwarder.attach(tls);
      return;
    }
    // The certificate names the device; the device must also be where the policy puts it.
    const endpoint = endpoints.find(
      (e) => e.credential.kind === "tls-certificate" && e.credential.subject === tls.peer.subject,
    );
    if (!endpoint?.addresses.includes(tls.remoteAddress)) {
      const reason = endpoint
        ? `${endpoint.name} connected from ${tls.remoteAddress}, not from ${endpoint.addresses.join(", ")}`
        : `no endpoint of ${r.spec.flow} has subject ${tls.peer.subject}`;
      this.d.log.warn("inbound session refused", { flow: r.spec.flow, reason });
      this.d.report("tcm.inbound-refused", { flow: r.spec.flow, reason });
      tls.close();
      return;
    }
    const taker = r.takers.shift();
    const waiting: Waiting = { tls, endpoint: endpoint.name, since: Date.now() };
    if (taker) {
      taker(waiting);
      return;
    }
    if (r.waiting.length >= MAX_WAITING) {
      this.d.log.warn("inbound session refused: the unit takes none", {
        flow: r.spec.flow,
        for: r.spec.unit,
        endpoint: endpoint.name,
      });
      tls.close();
      return;
    }
    r.waiting.push(waiting);
    tls.on("close", () => {
      const i = r.waiting.indexOf(waiting);
      if (i >= 0) r.waiting.splice(i, 1);
    });
  }

  #refused(flow: string, error: TlsError, remote: { address: string; port: number }): void {
    this.d.log.warn("inbound TLS refused", {
      flow,
      client: remote.address,
      kind: error.kind,
      reason: error.reason,
    });
    this.d.report("tcm.inbound-refused", {
      flow,
      client: remote.address,
      reason: `${error.kind}: ${error.reason}`,
    });
  }

  #expire(): void {
    const now = Date.now();
    for (const r of this.#running) {
      for (const w of [...r.waiting]) {
        if (now - w.since < WAITING_MS) continue;
        this.d.log.warn("inbound session closed: not taken in time", {
          flow: r.spec.flow,
          for: r.spec.unit,
          endpoint: w.endpoint,
        });
        r.waiting.splice(r.waiting.indexOf(w), 1);
        w.tls.close();
      }
    }
  }
}

export function summary(endpoint: string, tls: TlsChannel): PeerSummary {
  return {
    endpoint,
    subject: tls.peer.subject,
    protocol: tls.peer.protocol,
    cipher: tls.peer.cipher,
  };
}
