// What the SELinux output is made of, derived from the parsed policy: the type names and
// which unit may do what with them. compileSelinux turns this into CIL; the tests use it to
// know which rules must exist in the binary policy.
import type { NetworkFlow, Policy } from "@smgw/policy";
import { type NetworkName, UNIT_NAMES, type UnitName } from "@smgw/policy";

/** A policy the SELinux output cannot express faithfully. */
export class SelinuxCompileError extends Error {
  override name = "SelinuxCompileError";
}

/** Fixed places of the appliance (ARCHITECTURE.md); the policy file does not name them. */
export const PATHS = {
  exec: "/usr/lib/smgw/smgwd",
  etc: "/etc/smgw",
  run: "/run/smgw",
  ipc: "/run/smgw/ipc",
  state: "/var/lib/smgw",
  data: "/var/lib/smgw/data",
  pcscdSocket: "/run/pcscd/pcscd.comm",
  tpm: "/dev/tpmrm0",
} as const;

export const domainType = (u: UnitName) => `smgw_${u}_t`;
export const stateType = (u: UnitName) => `smgw_${u}_var_t`;
export const ipcType = (u: UnitName) => `smgw_${u}_ipc_t`;
const net = (n: NetworkName) => n.toLowerCase();
export const netifType = (n: NetworkName) => `smgw_${net(n)}_netif_t`;
export const nodeType = (n: NetworkName) => `smgw_${net(n)}_node_t`;
export const packetType = (n: NetworkName) => `smgw_${net(n)}_packet_t`;

export interface PortGroup {
  /** The SELinux type of these ports. */
  type: string;
  protocol: "tcp" | "udp";
  port: number;
  tls: boolean;
  /** Units the policy lets listen on the port, and those that open connections to it. */
  binders: UnitName[];
  connectors: UnitName[];
  flows: NetworkFlow[];
}

/**
 * A SECMARK packet label the packet filter sets. Each network has one for the packets of
 * every allowed flow (per port) and one, which no gateway unit may use, for all other packets
 * on its interface: a unit receives only the packets of its own flows.
 */
export interface PacketLabel {
  type: string;
  network: NetworkName;
  interface: string;
  /** Absent for the network's catch-all label. */
  protocol?: "tcp" | "udp";
  port?: number;
  /** inbound: the gateway listens on port; outbound: the gateway connects to port. */
  direction?: "inbound" | "outbound";
  units: UnitName[];
  flows: string[];
}

export interface NetworkUse {
  network: NetworkName;
  interface: string;
  /** The network's subnet, for nodecon. */
  address: string;
  mask: string;
  /** The gateway's own address on it. */
  gateway: string;
  units: UnitName[];
}

export interface SelinuxModel {
  units: UnitName[];
  /** Units that talk to the IFM (every unit on an IPC flow, the IFM itself excepted). */
  ipcClients: UnitName[];
  networks: NetworkUse[];
  ports: PortGroup[];
  packets: PacketLabel[];
  /** Units that listen (name_bind) or connect on a network: they need its packets and node. */
  listenersOn: Map<NetworkName, UnitName[]>;
}

function maskOf(bits: number): string {
  const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join(".");
}

function subnetOf(cidr: string): { address: string; mask: string; gateway: string } {
  const [addr = "", bitsText = ""] = cidr.split("/");
  const bits = Number(bitsText);
  const parts = addr.split(".").map(Number);
  if (parts.length !== 4 || !(bits >= 0 && bits <= 32)) {
    throw new SelinuxCompileError(`network address "${cidr}" is not IPv4 CIDR`);
  }
  const mask = maskOf(bits);
  const maskParts = mask.split(".").map(Number);
  const address = parts.map((p, i) => p & (maskParts[i] ?? 0)).join(".");
  return { address, mask, gateway: addr };
}

const sorted = <T extends string>(xs: Iterable<T>, order: readonly T[]) =>
  [...new Set(xs)].sort((a, b) => order.indexOf(a) - order.indexOf(b));

/** Names the port type after what the ports are for; one type may cover several ports. */
function portTypeName(flows: NetworkFlow[], protocol: string, port: number): string {
  const first = flows[0];
  if (!first) throw new SelinuxCompileError(`no flow for ${protocol}/${port}`);
  const sameNet = flows.every((f) => f.network === first.network);
  const n = net(first.network);
  if (sameNet && flows.every((f) => f.direction === "inbound" && f.unit === first.unit)) {
    return `smgw_${n}_${first.unit}_port_t`;
  }
  if (sameNet && flows.every((f) => f.direction === "outbound")) {
    return flows.every((f) => f.tls)
      ? `smgw_${n}_tls_port_t`
      : `smgw_${n}_${protocol}_${port}_port_t`;
  }
  return `smgw_${protocol}_${port}_port_t`;
}

export function buildModel(policy: Policy): SelinuxModel {
  const doc = policy.document;
  const units = UNIT_NAMES.filter((u) => doc.units[u] !== undefined);

  for (const f of policy.networkFlows) {
    // TLS sessions the gateway opens are the TCM's (TR-03109-1); the neverallow on the TLS
    // ports would refuse the module anyway, this says why at build time.
    if (f.direction === "outbound" && f.tls && f.unit !== "tcm") {
      throw new SelinuxCompileError(
        `flow ${f.id}: outbound TLS is opened by tcm only, not by ${f.unit}`,
      );
    }
  }

  const ipcClients = sorted(
    policy.ipcFlows.flatMap((f) => [f.from, f.to]).filter((u) => u !== "ifm"),
    UNIT_NAMES,
  );

  const byPort = new Map<string, NetworkFlow[]>();
  for (const f of policy.networkFlows) {
    const key = `${f.protocol}/${f.port}`;
    byPort.set(key, [...(byPort.get(key) ?? []), f]);
  }
  const ports: PortGroup[] = [...byPort.entries()]
    .map(([key, flows]) => {
      const [protocol, portText] = key.split("/") as ["tcp" | "udp", string];
      const port = Number(portText);
      return {
        type: portTypeName(flows, protocol, port),
        protocol,
        port,
        tls: flows.some((f) => f.tls),
        binders: sorted(
          flows.filter((f) => f.direction === "inbound").map((f) => f.socketUnit),
          UNIT_NAMES,
        ),
        connectors: sorted(
          flows.filter((f) => f.direction === "outbound").map((f) => f.socketUnit),
          UNIT_NAMES,
        ),
        flows,
      };
    })
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);

  const networks: NetworkUse[] = (Object.keys(doc.networks) as NetworkName[]).map((n) => {
    const def = doc.networks[n];
    return {
      network: n,
      interface: def.interface,
      ...subnetOf(def.address),
      units: sorted(
        // The unit a flow serves and the one holding its socket (the TCM for TLS) are both
        // on the flow's network.
        policy.networkFlows.filter((f) => f.network === n).flatMap((f) => [f.unit, f.socketUnit]),
        UNIT_NAMES,
      ),
    };
  });
  const listenersOn = new Map<NetworkName, UnitName[]>();
  for (const nu of networks) {
    listenersOn.set(
      nu.network,
      sorted(
        policy.networkFlows
          .filter((f) => f.network === nu.network && f.direction === "inbound")
          .map((f) => f.socketUnit),
        UNIT_NAMES,
      ),
    );
  }
  const packets: PacketLabel[] = [];
  for (const nu of networks) {
    packets.push({
      type: packetType(nu.network),
      network: nu.network,
      interface: nu.interface,
      units: [],
      flows: [],
    });
    for (const p of ports) {
      const flows = p.flows.filter((f) => f.network === nu.network);
      const first = flows[0];
      if (!first) continue;
      if (flows.some((f) => f.direction !== first.direction)) {
        throw new SelinuxCompileError(
          `${p.protocol} ${p.port} on ${nu.network} is used inbound and outbound ` +
            `(${flows.map((f) => f.id).join(", ")}): one packet label could not tell them apart`,
        );
      }
      const prefix = `smgw_${net(nu.network)}_`;
      packets.push({
        type: p.type.startsWith(prefix)
          ? p.type.replace(/_port_t$/, "_packet_t")
          : `${prefix}${p.protocol}_${p.port}_packet_t`,
        network: nu.network,
        interface: nu.interface,
        protocol: p.protocol,
        port: p.port,
        direction: first.direction,
        units: sorted(
          flows.map((f) => f.socketUnit),
          UNIT_NAMES,
        ),
        flows: [...new Set(flows.map((f) => f.id))],
      });
    }
  }
  return { units, ipcClients, networks, ports, packets, listenersOn };
}
