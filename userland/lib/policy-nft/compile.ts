// The policy compiler's packet-filter output: an nftables ruleset for the gateway's three
// NICs that lets through exactly the policy's network flows and drops (and counts) the rest.
// A pure function of the parsed policy, so that a policy change shows up as a ruleset diff.
import { NETWORK_NAMES, type NetworkFlow, type NetworkName, type Policy } from "@smgw/policy";

/** The one table the gateway owns; loading replaces it and leaves other tables alone. */
export const TABLE = "smgw";

export type Direction = "in" | "out" | "fwd";

/** Packets per second logged per drop chain; the counters count every drop regardless. */
const LOG_RATE = "limit rate 10/second burst 20 packets";

const DIRECTION_WORDS: Record<Direction, string> = {
  in: "arriving for the gateway on",
  out: "sent by the gateway on",
  fwd: "to be routed from",
};

/** Name of the counter of drops in one direction on one network ("other": any other NIC). */
export function dropCounter(direction: Direction, network: NetworkName | "other"): string {
  return `drop_${direction}_${network.toLowerCase()}`;
}

/** Name of the counter of new connections (or datagrams) a flow let through. */
export function allowCounter(flowId: string): string {
  return `allow_${flowId}`;
}

/** Every drop counter the ruleset defines, in the order it defines them. */
export function dropCounters(): string[] {
  const dirs: Direction[] = ["in", "out", "fwd"];
  return dirs.flatMap((d) => [...NETWORK_NAMES, "other" as const].map((n) => dropCounter(d, n)));
}

export function compileNftables(policy: Policy): string {
  const doc = policy.document;
  const gatewayAddress = (n: NetworkName) => doc.networks[n].address.split("/")[0] ?? "";
  const nic = (n: NetworkName) => doc.networks[n].interface;
  const out: string[] = [];
  const line = (s = "") => out.push(s);

  line("# Generated from policy/smgw.policy.yaml by `smgw policy build`; do not edit.");
  line("# The gateway's packet filter: only the policy's network flows pass, every other");
  line("# packet is dropped, counted per network and direction, and logged (rate-limited).");
  line("# The policy's addresses are IPv4; IPv6 packets match no flow and are dropped as well.");
  line("# Read the counters with: nft list counters table inet smgw. Log lines from a network");
  line("# namespace other than the host's reach the kernel log only with the sysctl");
  line("# net.netfilter.nf_log_all_netns=1; the counters count either way.");
  line("# User names (meta skuid) are resolved when the file is loaded: load it after the");
  line("# units' users exist.");
  line("");
  line("# Declaring the table first lets the delete succeed on the first load too (nft 1.0.6");
  line("# has no `destroy`); the whole file is one transaction, so no gap opens while reloading.");
  line(`table inet ${TABLE}`);
  line(`delete table inet ${TABLE}`);
  line("");
  line(`table inet ${TABLE} {`);

  // Counters first, so that rules can name them.
  for (const d of ["in", "out", "fwd"] as const) {
    for (const n of [...NETWORK_NAMES, "other" as const]) {
      const where = n === "other" ? "a NIC outside the policy" : `${nic(n)} (${n})`;
      line(`\tcounter ${dropCounter(d, n)} {`);
      line(`\t\tcomment ${quote(`dropped: ${DIRECTION_WORDS[d]} ${where}`)}`);
      line("\t}");
    }
  }
  const flowIds = [...new Set(policy.networkFlows.map((f) => f.id))];
  for (const id of flowIds) {
    line(`\tcounter ${allowCounter(id)} {`);
    line(`\t\tcomment ${quote(`allowed: flow ${id}`)}`);
    line("\t}");
  }
  line("");

  // Base chains: loopback and return traffic, then one chain per NIC.
  line("\tchain input {");
  line("\t\ttype filter hook input priority filter; policy drop;");
  line('\t\tiif "lo" accept');
  line("\t\tct state established,related accept");
  for (const n of NETWORK_NAMES) line(`\t\tiifname ${quote(nic(n))} jump in_${n.toLowerCase()}`);
  dropTail("in", "other");
  line("\t}");
  line("");
  line("\tchain output {");
  line("\t\ttype filter hook output priority filter; policy drop;");
  line('\t\toif "lo" accept');
  line("\t\tct state established,related accept");
  for (const n of NETWORK_NAMES) line(`\t\toifname ${quote(nic(n))} jump out_${n.toLowerCase()}`);
  dropTail("out", "other");
  line("\t}");
  line("");
  line("\t# The gateway never routes between its networks: every flow ends in one of its units.");
  line("\tchain forward {");
  line("\t\ttype filter hook forward priority filter; policy drop;");
  for (const n of NETWORK_NAMES) line(`\t\tiifname ${quote(nic(n))} jump fwd_${n.toLowerCase()}`);
  dropTail("fwd", "other");
  line("\t}");

  for (const n of NETWORK_NAMES) {
    const inbound = policy.networkFlows.filter((f) => f.network === n && f.direction === "inbound");
    const outbound = policy.networkFlows.filter(
      (f) => f.network === n && f.direction === "outbound",
    );
    line("");
    line(`\tchain in_${n.toLowerCase()} {`);
    if (inbound.length > 0) {
      line("\t\t# Inbound packets carry no owner yet: the endpoints' addresses and the listener's");
      line("\t\t# address and port stand for the flow.");
    }
    for (const f of inbound) {
      flowComment(f);
      const from = addressesOf(f);
      line(
        `\t\tip saddr ${set(from)} ip daddr ${gatewayAddress(n)} ${f.protocol} dport ${f.port} ` +
          `ct state new counter name ${quote(allowCounter(f.id))} accept comment ${quote(f.id)}`,
      );
    }
    dropTail("in", n);
    line("\t}");
    line("");
    line(`\tchain out_${n.toLowerCase()} {`);
    if (outbound.length > 0) {
      line("\t\t# meta skuid is the owner of the sending socket, which only packets this host");
      line("\t\t# generates have: so only the named unit's own connections pass.");
    }
    for (const f of outbound) {
      flowComment(f);
      const user = doc.units[f.unit].user;
      line(
        `\t\tmeta skuid ${quote(user)} ip saddr ${gatewayAddress(n)} ip daddr ${set(addressesOf(f))} ` +
          `${f.protocol} dport ${f.port} ct state new counter name ${quote(allowCounter(f.id))} ` +
          `accept comment ${quote(f.id)}`,
      );
    }
    dropTail("out", n);
    line("\t}");
    line("");
    line(`\tchain fwd_${n.toLowerCase()} {`);
    dropTail("fwd", n);
    line("\t}");
  }
  line("}");
  return `${out.join("\n")}\n`;

  function dropTail(d: Direction, n: NetworkName | "other"): void {
    const name = dropCounter(d, n);
    const prefix = `smgw ${name}: `;
    line(`\t\t${LOG_RATE} log prefix ${quote(prefix)}`);
    line(`\t\tcounter name ${quote(name)} drop`);
  }

  function flowComment(f: NetworkFlow): void {
    const ends = f.endpoints.join(", ");
    const path = f.direction === "inbound" ? `${ends} -> ${f.unit}` : `${f.unit} -> ${ends}`;
    const head = `${f.id} (${f.rule}): ${path}`;
    for (const l of wrap(`${head}. ${oneLine(f.why)}`, 90)) line(`\t\t# ${l}`);
  }

  function addressesOf(f: NetworkFlow): string[] {
    return [...new Set(f.endpoints.flatMap((e) => policy.endpoints[e]?.addresses ?? []))];
  }
}

function set(items: string[]): string {
  return items.length === 1 ? (items[0] ?? "") : `{ ${items.join(", ")} }`;
}

/** nft strings cannot hold a double quote; policy names never contain one, but be safe. */
function quote(s: string): string {
  return `"${s.replaceAll('"', "'").replaceAll("\\", "/")}"`;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(" ")) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  if (current) lines.push(current);
  return lines;
}
