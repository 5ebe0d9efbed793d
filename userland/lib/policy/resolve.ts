// Cross-reference checks and normalisation: turns the document into one flow entry per
// (source, destination) pair, with endpoint groups expanded to endpoint names.
import type { PolicyIssue } from "./errors.ts";
import {
  type EndpointDocument,
  type EndpointRole,
  type NetworkName,
  type PolicyDocument,
  type ProfileDocument,
  UNIT_NAMES,
  type UnitName,
} from "./schema.ts";

export interface Endpoint extends EndpointDocument {
  name: string;
}

export interface Profile extends ProfileDocument {
  name: string;
}

export interface IpcFlow {
  id: string;
  /** Index in the document's `flows`, for locating problems. */
  index: number;
  from: UnitName;
  to: UnitName;
  messages: string[];
  carries: string[];
  scope?: "consumer-own-meters";
  rule: string;
  why: string;
}

export interface NetworkFlow {
  id: string;
  index: number;
  /** inbound: an endpoint opens the flow to a gateway unit; outbound: a unit opens it. */
  direction: "inbound" | "outbound";
  /** The unit the flow's data is for (inbound) or from (outbound). */
  unit: UnitName;
  /**
   * The unit that holds the flow's socket: the TCM for every TLS flow (it terminates and opens
   * every TLS session; the unit gets the plaintext through the IFM), else `unit` itself.
   */
  socketUnit: UnitName;
  endpoints: string[];
  network: NetworkName;
  protocol: "tcp" | "udp";
  port: number;
  tls: boolean;
  carries: string[];
  rule: string;
  why: string;
}

export interface Policy {
  document: PolicyDocument;
  endpoints: Record<string, Endpoint>;
  ipcFlows: IpcFlow[];
  networkFlows: NetworkFlow[];
  /** The tariff use cases, by name. */
  profiles: Record<string, Profile>;
}

type Side = { kind: "units"; units: UnitName[] } | { kind: "endpoints"; endpoints: string[] };

export function isUnitName(s: string): s is UnitName {
  return (UNIT_NAMES as readonly string[]).includes(s);
}

export function resolvePolicy(doc: PolicyDocument): { policy?: Policy; issues: PolicyIssue[] } {
  const issues: PolicyIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path, message });

  const endpoints: Record<string, Endpoint> = {};
  for (const [name, ep] of Object.entries(doc.endpoints)) endpoints[name] = { ...ep, name };

  // Units: distinct users, so that the operating system can tell them apart.
  const users = new Map<string, string>();
  for (const [name, unit] of Object.entries(doc.units)) {
    const other = users.get(unit.user);
    if (other) issue(`/units/${name}/user`, `user ${unit.user} already used by unit ${other}`);
    users.set(unit.user, name);
  }

  for (const [name, msg] of Object.entries(doc.messages)) {
    if (!doc.dataTypes[msg.carries]) {
      issue(`/messages/${name}/carries`, `unknown data type "${msg.carries}"`);
    }
  }

  // Endpoints: addresses inside their network, unique; references well typed.
  const addressOwner = new Map<string, string>();
  const meterOwner = new Map<string, string>();
  const meterIds = new Map<string, string>();
  for (const [name, ep] of Object.entries(endpoints)) {
    const net = doc.networks[ep.network];
    ep.addresses.forEach((a, i) => {
      if (!inSubnet(a, net.address)) {
        issue(
          `/endpoints/${name}/addresses/${i}`,
          `${a} is not inside ${ep.network} ${net.address}`,
        );
      }
      if (a === net.address.split("/")[0]) {
        issue(
          `/endpoints/${name}/addresses/${i}`,
          `${a} is the gateway's own ${ep.network} address`,
        );
      }
      const other = addressOwner.get(a);
      if (other) issue(`/endpoints/${name}/addresses/${i}`, `${a} already belongs to ${other}`);
      addressOwner.set(a, name);
    });
    if (ep.meters !== undefined && ep.role !== "consumer") {
      issue(`/endpoints/${name}/meters`, `only consumers have meters (role is ${ep.role})`);
    }
    ep.meters?.forEach((m, i) => {
      if (endpoints[m]?.role !== "meter") {
        issue(`/endpoints/${name}/meters/${i}`, `"${m}" is not an endpoint with role meter`);
        return;
      }
      const owner = meterOwner.get(m);
      if (owner) issue(`/endpoints/${name}/meters/${i}`, `meter ${m} already assigned to ${owner}`);
      meterOwner.set(m, name);
    });
    if (ep.authorisedEndpoints !== undefined && ep.role !== "cls") {
      issue(`/endpoints/${name}/authorisedEndpoints`, `only CLS devices have authorised endpoints`);
    }
    ep.authorisedEndpoints?.forEach((t, i) => {
      const target = endpoints[t];
      if (target?.network !== "WAN") {
        issue(`/endpoints/${name}/authorisedEndpoints/${i}`, `"${t}" is not a WAN endpoint`);
      }
    });
    const wantsCredential: Partial<Record<EndpointRole, string[]>> = {
      meter: ["meter-id", "wmbus-id"],
      gwa: ["tls-certificate"],
      emt: ["tls-certificate"],
      cls: ["tls-certificate"],
    };
    const want = wantsCredential[ep.role];
    if (want && !want.includes(ep.credential.kind)) {
      issue(
        `/endpoints/${name}/credential/kind`,
        `a ${ep.role} is identified by ${want.join(" or ")}`,
      );
    }
    if (
      ep.role !== "meter" &&
      (ep.credential.kind === "meter-id" || ep.credential.kind === "wmbus-id")
    ) {
      issue(
        `/endpoints/${name}/credential/kind`,
        `only meters are identified by ${ep.credential.kind}`,
      );
    }
    // A meter's identity on the LMN names one meter only.
    const lmnId =
      ep.credential.kind === "meter-id"
        ? `sml:${ep.credential.id}`
        : ep.credential.kind === "wmbus-id"
          ? `wmbus:${ep.credential.manufacturer}${ep.credential.id}`
          : undefined;
    if (lmnId) {
      const other = meterIds.get(lmnId);
      if (other) issue(`/endpoints/${name}/credential`, `the same meter identity as ${other}`);
      meterIds.set(lmnId, name);
    }
  }

  const resolveSide = (ref: string | string[], path: string): Side | undefined => {
    const refs = Array.isArray(ref) ? ref : [ref];
    const units: UnitName[] = [];
    const eps: string[] = [];
    refs.forEach((r, i) => {
      const p = Array.isArray(ref) ? `${path}/${i}` : path;
      if (r.startsWith("role:")) {
        const role = r.slice(5);
        const found = Object.values(endpoints).filter((e) => e.role === role);
        if (found.length === 0) issue(p, `no endpoint has role "${role}"`);
        eps.push(...found.map((e) => e.name));
      } else if (r.startsWith("endpoint:")) {
        const name = r.slice(9);
        if (!endpoints[name]) issue(p, `unknown endpoint "${name}"`);
        else eps.push(name);
      } else if (isUnitName(r)) {
        units.push(r);
      } else {
        issue(p, `unknown unit "${r}" (endpoints are written endpoint:NAME or role:ROLE)`);
      }
    });
    if (units.length > 0 && eps.length > 0) {
      issue(path, "a flow side is either units or endpoints, not both");
      return undefined;
    }
    if (units.length > 0) return { kind: "units", units };
    if (eps.length > 0) return { kind: "endpoints", endpoints: [...new Set(eps)] };
    return undefined;
  };

  const ipcFlows: IpcFlow[] = [];
  const networkFlows: NetworkFlow[] = [];
  const ids = new Set<string>();
  doc.flows.forEach((f, index) => {
    const at = `/flows/${index}`;
    if (ids.has(f.id)) issue(`${at}/id`, `duplicate flow id "${f.id}"`);
    ids.add(f.id);
    f.carries.forEach((c, i) => {
      if (!doc.dataTypes[c]) issue(`${at}/carries/${i}`, `unknown data type "${c}"`);
    });
    const from = resolveSide(f.from, `${at}/from`);
    const to = resolveSide(f.to, `${at}/to`);
    if (!from || !to) return;

    if (from.kind === "units" && to.kind === "units") {
      if (f.network !== undefined || f.transport !== undefined) {
        issue(
          at,
          "a flow between units is IPC through the IFM: it has messages, not network/transport",
        );
      }
      if (!f.messages) {
        issue(`${at}/messages`, "a flow between units must list its message types");
        return;
      }
      f.messages.forEach((m, i) => {
        const def = doc.messages[m];
        if (!def) issue(`${at}/messages/${i}`, `unknown message type "${m}"`);
        else if (!f.carries.includes(def.carries)) {
          issue(`${at}/messages/${i}`, `${m} carries ${def.carries}, which the flow does not list`);
        }
      });
      for (const a of from.units) {
        for (const b of to.units) {
          if (a === b) issue(at, `unit ${a} sends to itself`);
          if (a === "ifm" || b === "ifm") issue(at, "the IFM brokers flows; it is no flow's end");
          ipcFlows.push({
            id: f.id,
            index,
            from: a,
            to: b,
            messages: f.messages,
            carries: f.carries,
            ...(f.scope ? { scope: f.scope } : {}),
            rule: f.rule,
            why: f.why,
          });
        }
      }
      return;
    }
    if (from.kind === "endpoints" && to.kind === "endpoints") {
      issue(at, "a flow between two endpoints would bypass the gateway");
      return;
    }
    if (f.messages !== undefined) issue(`${at}/messages`, "a network flow carries no IPC messages");
    if (f.scope !== undefined) issue(`${at}/scope`, "scope applies to IPC flows only");
    if (!f.network) {
      issue(`${at}/network`, "a flow with an endpoint must name its network");
      return;
    }
    if (!f.transport) {
      issue(`${at}/transport`, "a flow with an endpoint must name its transport");
      return;
    }
    const unitSide = from.kind === "units" ? from : (to as { kind: "units"; units: UnitName[] });
    const epSide =
      from.kind === "endpoints" ? from : (to as { kind: "endpoints"; endpoints: string[] });
    for (const e of epSide.endpoints) {
      if (endpoints[e]?.network !== f.network) {
        issue(at, `endpoint ${e} is on ${endpoints[e]?.network}, not on ${f.network}`);
      }
    }
    for (const u of unitSide.units) {
      networkFlows.push({
        id: f.id,
        index,
        direction: from.kind === "endpoints" ? "inbound" : "outbound",
        unit: u,
        socketUnit: (f.transport.tls ?? false) ? "tcm" : u,
        endpoints: epSide.endpoints,
        network: f.network,
        protocol: f.transport.protocol,
        port: f.transport.port,
        tls: f.transport.tls ?? false,
        carries: f.carries,
        rule: f.rule,
        why: f.why,
      });
    }
  });

  // Two inbound flows on one network may share a listener only if they go to the same unit.
  const listeners = new Map<string, NetworkFlow>();
  for (const nf of networkFlows.filter((n) => n.direction === "inbound")) {
    const key = `${nf.network}/${nf.protocol}/${nf.port}`;
    const other = listeners.get(key);
    if (other && other.unit !== nf.unit) {
      issue(
        `/flows/${nf.index}/transport/port`,
        `${key} already goes to ${other.unit} (${other.id})`,
      );
    }
    listeners.set(key, nf);
  }

  const profiles: Record<string, Profile> = {};
  for (const [name, p] of Object.entries(doc.profiles ?? {})) {
    const at = `/profiles/${name}`;
    profiles[name] = { ...p, name };
    p.meters.forEach((m, i) => {
      if (endpoints[m]?.role !== "meter") {
        issue(`${at}/meters/${i}`, `"${m}" is not an endpoint with role meter`);
      }
    });
    const recipient = endpoints[p.recipient];
    if (recipient?.role !== "emt") {
      issue(`${at}/recipient`, `"${p.recipient}" is not an endpoint with role emt`);
    } else {
      // PP-LMN-1: the data leaves only over a flow the policy lists to that EMT.
      const route = networkFlows.some(
        (f) =>
          f.direction === "outbound" &&
          f.unit === "tcm" &&
          f.tls &&
          f.endpoints.includes(p.recipient) &&
          f.carries.includes(
            p.useCase === 7 || p.useCase === 6 ? "meter-reading" : "tariff-result",
          ),
      );
      if (!route) {
        issue(
          `${at}/recipient`,
          `no outbound TLS flow of tcm carries this profile's data to ${p.recipient}`,
        );
      }
    }
    const billed = p.useCase === 1 || p.useCase === 2;
    // The tariff engines bill electricity registers (1-0:1.8.x) only.
    p.meters.forEach((m, i) => {
      const c = endpoints[m]?.credential;
      if (billed && c?.kind === "wmbus-id" && c.medium !== "electricity") {
        issue(`${at}/meters/${i}`, `TAF${p.useCase} bills electricity; ${m} measures ${c.medium}`);
      }
    });
    if (billed && p.tariff === undefined) {
      issue(`${at}/tariff`, `TAF${p.useCase} bills with a supplier tariff file; name it`);
    }
    if (!billed && p.tariff !== undefined) {
      issue(`${at}/tariff`, `TAF${p.useCase} uses no tariff file`);
    }
    if (p.tariff?.split("/").includes("..")) {
      issue(`${at}/tariff`, "the tariff file must lie beside the policy file or below it");
    }
    if (p.periodSeconds !== undefined && 86400 % p.periodSeconds !== 0) {
      issue(`${at}/periodSeconds`, "the measuring period must divide a day");
    }
    if (p.deliverEverySeconds !== undefined && p.useCase !== 7) {
      issue(
        `${at}/deliverEverySeconds`,
        `TAF${p.useCase} delivers at the end of each billing period`,
      );
    }
  }

  if (issues.length > 0) return { issues };
  return { policy: { document: doc, endpoints, ipcFlows, networkFlows, profiles }, issues };
}

function ipv4ToInt(a: string): number | undefined {
  const parts = a.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    return undefined;
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function inSubnet(address: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  const a = ipv4ToInt(address);
  const n = ipv4ToInt(net ?? "");
  if (a === undefined || n === undefined || !(bits >= 0 && bits <= 32)) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(n / size);
}
