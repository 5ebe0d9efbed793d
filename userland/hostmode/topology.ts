// The host-mode network: a namespace for the gateway with its three NICs (wan0, lmn0, han0),
// each a veth whose other end sits in a peer namespace holding that network's endpoints.
import type { Policy } from "@smgw/policy";
import { NETWORK_NAMES, type NetworkName } from "@smgw/policy";
import { ok, run } from "./sh.ts";

export interface Topology {
  prefix: string;
  gateway: string;
  peers: Record<NetworkName, string>;
  nics: Record<
    NetworkName,
    { ifname: string; address: string; peerIfname: string; peerAddresses: string[] }
  >;
}

export function topologyOf(prefix: string, policy: Policy): Topology {
  const doc = policy.document;
  const peers = Object.fromEntries(
    NETWORK_NAMES.map((n) => [n, `${prefix}-${n.toLowerCase()}`]),
  ) as Record<NetworkName, string>;
  const nics = Object.fromEntries(
    NETWORK_NAMES.map((n) => {
      const net = doc.networks[n];
      const bits = net.address.split("/")[1];
      const addrs = Object.values(policy.endpoints)
        .filter((e) => e.network === n)
        .flatMap((e) => e.addresses.map((a) => `${a}/${bits}`));
      return [
        n,
        { ifname: net.interface, address: net.address, peerIfname: "gw0", peerAddresses: addrs },
      ];
    }),
  ) as Topology["nics"];
  return { prefix, gateway: `${prefix}-gw`, peers, nics };
}

export function namespaces(t: Topology): string[] {
  return [t.gateway, ...Object.values(t.peers)];
}

export function existingNamespaces(): string[] {
  return run(["ip", "netns", "list"], { allowFail: true })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

export function createTopology(t: Topology): void {
  for (const ns of namespaces(t)) {
    run(["ip", "netns", "add", ns]);
    run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }
  for (const n of NETWORK_NAMES) {
    const nic = t.nics[n];
    const peer = t.peers[n];
    // Created straight inside the namespaces: nothing appears in the host's own network.
    run([
      "ip",
      "-n",
      t.gateway,
      "link",
      "add",
      nic.ifname,
      "type",
      "veth",
      "peer",
      "name",
      nic.peerIfname,
      "netns",
      peer,
    ]);
    run(["ip", "-n", t.gateway, "addr", "add", nic.address, "dev", nic.ifname]);
    run(["ip", "-n", t.gateway, "link", "set", nic.ifname, "up"]);
    for (const a of nic.peerAddresses)
      run(["ip", "-n", peer, "addr", "add", a, "dev", nic.peerIfname]);
    run(["ip", "-n", peer, "link", "set", nic.peerIfname, "up"]);
  }
}

/** Kill whatever still runs in the namespaces, then delete them. Safe to call twice. */
export function destroyTopology(t: Topology): void {
  const present = new Set(existingNamespaces());
  for (const ns of namespaces(t)) {
    if (!present.has(ns)) continue;
    for (const pid of run(["ip", "netns", "pids", ns], { allowFail: true })
      .split(/\s+/)
      .filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    ok(["ip", "netns", "delete", ns]);
  }
}
