// Which unit may have which channel, decided from the policy alone. The IFM has already let the
// unit ask the TCM at all (the IPC flow unit -> tcm); here the TCM decides what the channel may
// reach. An outbound flow of the TCM (wan-gwa-session, wan-emt-delivery, wan-cls-relay) is open
// to a unit whose IPC flow to the TCM carries every data type that outbound flow carries: the
// unit may only send out what it may hand to the TCM. For the shipped policy that gives
// admin -> the GWA, meter -> the EMTs, cls -> the endpoints authorised for a CLS device.
import type { Endpoint, NetworkFlow, Policy, UnitName } from "@smgw/policy";

/** Data type of the channel messages themselves; says nothing about what a channel may carry. */
export const CHANNEL_DATA = "channel-data";
/** Data type of the CLS proxy's traffic: a channel for it names the CLS device it serves. */
export const CLS_TRAFFIC = "cls-traffic";

/** Where an outbound channel goes and how its peer is recognised. */
export interface OutboundRoute {
  /** The policy's flow (the request's purpose). */
  flow: string;
  endpoint: string;
  network: NetworkFlow["network"];
  address: string;
  port: number;
  /** The peer certificate's subject DN (RFC 2253), from the endpoint's credential. */
  subject: string;
  /** Name of the trust anchor the peer's chain must end in (the credential's issuer). */
  issuer: string;
  /** The CLS device the channel serves (cls-traffic flows only). */
  device?: string;
}

export type RouteDecision =
  | { ok: true; route: OutboundRoute }
  | { ok: false; code: "denied" | "invalid-body"; reason: string };

export interface ChannelRequest {
  endpoint: string;
  purpose: string;
  device?: string;
}

/** The data types a unit may hand the TCM (its IPC flows to tcm, channel-data aside). */
export function typesGivenToTcm(policy: Policy, unit: UnitName): Set<string> {
  const types = new Set<string>();
  for (const f of policy.ipcFlows) {
    if (f.from !== unit || f.to !== "tcm") continue;
    for (const c of f.carries) if (c !== CHANNEL_DATA) types.add(c);
  }
  return types;
}

/** The TCM's outbound TLS flows. */
export function outboundFlows(policy: Policy): NetworkFlow[] {
  return policy.networkFlows.filter(
    (f) => f.unit === "tcm" && f.direction === "outbound" && f.tls && f.protocol === "tcp",
  );
}

/** The outbound flows `unit` may use. */
export function flowsFor(policy: Policy, unit: UnitName): NetworkFlow[] {
  const given = typesGivenToTcm(policy, unit);
  return outboundFlows(policy).filter((f) => f.carries.every((c) => given.has(c)));
}

function denied(reason: string): RouteDecision {
  return { ok: false, code: "denied", reason };
}

/** May `unit` open a channel to `request.endpoint` for `request.purpose`, and where does it go? */
export function decideRoute(
  policy: Policy,
  unit: UnitName,
  request: ChannelRequest,
): RouteDecision {
  const flow = outboundFlows(policy).find((f) => f.id === request.purpose);
  if (!flow) {
    const known = outboundFlows(policy).map((f) => f.id);
    return denied(
      `purpose "${request.purpose}" is no outbound TLS flow of the TCM (the policy has ${known.join(", ") || "none"})`,
    );
  }
  const given = typesGivenToTcm(policy, unit);
  const missing = flow.carries.filter((c) => !given.has(c));
  if (missing.length > 0) {
    return denied(
      `${unit} may not use ${flow.id}: it carries ${flow.carries.join(", ")}, and ${unit}'s flow to the TCM does not carry ${missing.join(", ")}`,
    );
  }
  if (!flow.endpoints.includes(request.endpoint)) {
    return denied(
      `${flow.id} does not reach ${request.endpoint} (it reaches ${flow.endpoints.join(", ")})`,
    );
  }
  const endpoint = policy.endpoints[request.endpoint] as Endpoint;
  let device: string | undefined;
  if (flow.carries.includes(CLS_TRAFFIC)) {
    if (request.device === undefined) {
      return denied(`${flow.id} relays for a CLS device: the request must name it (device)`);
    }
    const cls = policy.endpoints[request.device];
    if (cls?.role !== "cls") return denied(`${request.device} is no CLS device of the policy`);
    if (!(cls.authorisedEndpoints ?? []).includes(request.endpoint)) {
      return denied(
        `${request.endpoint} is not authorised for CLS device ${request.device} (authorised: ${(cls.authorisedEndpoints ?? []).join(", ") || "none"})`,
      );
    }
    device = request.device;
  } else if (request.device !== undefined) {
    return {
      ok: false,
      code: "invalid-body",
      reason: `device applies to CLS relay flows only, not to ${flow.id}`,
    };
  }
  const credential = endpoint.credential;
  if (credential.kind !== "tls-certificate") {
    return denied(`${request.endpoint} has no TLS certificate in the policy`);
  }
  const address = endpoint.addresses[0];
  if (address === undefined) return denied(`${request.endpoint} has no address`);
  return {
    ok: true,
    route: {
      flow: flow.id,
      endpoint: request.endpoint,
      network: flow.network,
      address,
      port: flow.port,
      subject: credential.subject,
      issuer: credential.issuer,
      ...(device !== undefined ? { device } : {}),
    },
  };
}

/** Inbound TLS listeners the TCM terminates for a unit (network flows to it with tls). */
export interface InboundListener {
  /** The first flow's id; `tcm.accept` names the listener by it. */
  flow: string;
  flows: string[];
  unit: UnitName;
  network: NetworkFlow["network"];
  port: number;
  endpoints: string[];
}

export function inboundListeners(policy: Policy): InboundListener[] {
  const byKey = new Map<string, InboundListener>();
  for (const f of policy.networkFlows) {
    if (f.direction !== "inbound" || !f.tls || f.protocol !== "tcp") continue;
    const key = `${f.network}/${f.port}`;
    const known = byKey.get(key);
    if (known) {
      known.flows.push(f.id);
      known.endpoints = [...new Set([...known.endpoints, ...f.endpoints])];
      continue;
    }
    byKey.set(key, {
      flow: f.id,
      flows: [f.id],
      unit: f.unit,
      network: f.network,
      port: f.port,
      endpoints: [...f.endpoints],
    });
  }
  return [...byKey.values()];
}
