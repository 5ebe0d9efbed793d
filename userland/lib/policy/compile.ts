// The policy compiler's runtime output: the rule table the IFM enforces. Further outputs
// (SELinux CIL, nftables, systemd units) are pure functions of the same `Policy`.
import type { Policy } from "./resolve.ts";
import type { NetworkName, UnitName, WmbusMedium } from "./schema.ts";

export interface IpcRule {
  flow: string;
  rule: string;
  carries: string;
  scope?: "consumer-own-meters";
}

export interface Listener {
  flow: string;
  unit: UnitName;
  network: NetworkName;
  interface: string;
  address: string;
  protocol: "tcp" | "udp";
  port: number;
  tls: boolean;
  /** Addresses of the endpoints allowed to open this flow. */
  peers: string[];
}

export interface MeterEntry {
  /** The identity printed on the meter: SML server id, or manufacturer code and number. */
  id: string;
  addresses: string[];
  protocol: "sml" | "wmbus";
  /** A wireless M-Bus meter's link-layer address and security mode. */
  wmbus?: { manufacturer: string; id: string; medium: WmbusMedium; security: 5 | 7 };
}

export interface RuleTable {
  version: 1;
  /** SHA-256 of the policy document, so logs can name the policy a decision came from. */
  digest: string;
  /** ipc[from][to][messageType] */
  ipc: Partial<Record<UnitName, Partial<Record<UnitName, Record<string, IpcRule>>>>>;
  /** Message type -> data type it carries. */
  messages: Record<string, string>;
  /** consumer endpoint -> meter endpoints assigned to it */
  consumers: Record<string, string[]>;
  /** meter endpoint -> its identity on the LMN (SML server id / M-Bus id) */
  meters: Record<string, MeterEntry>;
  listeners: Listener[];
  users: Record<UnitName, string>;
}

export function compileRuleTable(policy: Policy): RuleTable {
  const doc = policy.document;
  const ipc: RuleTable["ipc"] = {};
  for (const f of policy.ipcFlows) {
    const byTo = ipc[f.from] ?? {};
    ipc[f.from] = byTo;
    const byType = byTo[f.to] ?? {};
    byTo[f.to] = byType;
    for (const m of f.messages) {
      byType[m] = {
        flow: f.id,
        rule: f.rule,
        carries: doc.messages[m]?.carries ?? "",
        ...(f.scope ? { scope: f.scope } : {}),
      };
    }
  }
  const consumers: Record<string, string[]> = {};
  const meters: RuleTable["meters"] = {};
  for (const ep of Object.values(policy.endpoints)) {
    if (ep.role === "consumer") consumers[ep.name] = [...(ep.meters ?? [])];
    if (ep.role === "meter" && ep.credential.kind === "meter-id") {
      meters[ep.name] = { id: ep.credential.id, addresses: ep.addresses, protocol: "sml" };
    }
    if (ep.role === "meter" && ep.credential.kind === "wmbus-id") {
      const { manufacturer, id, medium, security } = ep.credential;
      meters[ep.name] = {
        id: `${manufacturer}${id}`,
        addresses: ep.addresses,
        protocol: "wmbus",
        wmbus: { manufacturer, id, medium, security },
      };
    }
  }
  // One listener per (network, protocol, port); flows sharing it add their peers.
  const byKey = new Map<string, Listener>();
  for (const f of policy.networkFlows.filter((n) => n.direction === "inbound")) {
    const net = doc.networks[f.network];
    const peers = f.endpoints.flatMap((e) => policy.endpoints[e]?.addresses ?? []);
    const key = `${f.network}/${f.protocol}/${f.port}`;
    const known = byKey.get(key);
    if (known) {
      known.peers = [...new Set([...known.peers, ...peers])];
      continue;
    }
    byKey.set(key, {
      flow: f.id,
      unit: f.unit,
      network: f.network,
      interface: net.interface,
      address: net.address.split("/")[0] ?? "",
      protocol: f.protocol,
      port: f.port,
      tls: f.tls,
      peers,
    });
  }
  const listeners = [...byKey.values()];
  const users = Object.fromEntries(
    Object.entries(doc.units).map(([name, u]) => [name, u.user]),
  ) as Record<UnitName, string>;
  const messages = Object.fromEntries(
    Object.entries(doc.messages).map(([name, m]) => [name, m.carries]),
  );
  const digest = new Bun.CryptoHasher("sha256").update(JSON.stringify(doc)).digest("hex");
  return { version: 1, digest, ipc, messages, consumers, meters, listeners, users };
}

export type Decision =
  | { allowed: true; flow: string; rule: string; scope?: "consumer-own-meters" }
  | { allowed: false; reason: string };

/** Context the IFM extracts from a message for scoped flows. */
export interface DecisionContext {
  onBehalfOf?: string;
  meter?: string;
}

/** The IFM's decision for one message. Everything not explicitly allowed is denied. */
export function decide(
  table: RuleTable,
  from: UnitName,
  to: UnitName,
  type: string,
  context: DecisionContext = {},
): Decision {
  const rule = table.ipc[from]?.[to]?.[type];
  if (!rule) return { allowed: false, reason: `no flow allows ${from} -> ${to} ${type}` };
  if (rule.scope === "consumer-own-meters") {
    const consumer = context.onBehalfOf;
    if (!consumer) return { allowed: false, reason: `${rule.flow} needs the consumer it acts for` };
    const own = table.consumers[consumer];
    if (!own) return { allowed: false, reason: `unknown consumer "${consumer}"` };
    if (context.meter !== undefined && !own.includes(context.meter)) {
      return { allowed: false, reason: `meter ${context.meter} is not assigned to ${consumer}` };
    }
  }
  return {
    allowed: true,
    flow: rule.flow,
    rule: rule.rule,
    ...(rule.scope ? { scope: rule.scope } : {}),
  };
}
