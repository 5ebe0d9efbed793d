// The cross-check of the enforcement layers: every flow of the policy is allowed in every
// layer it concerns, and no layer allows a flow the policy does not. Changing one flow in the
// policy changes every layer the same way.
import { describe, expect, test } from "bun:test";
import path from "node:path";
import { loadPolicyFile, type Policy, parsePolicy, UNIT_NAMES } from "@smgw/policy";
import { compileNftables } from "@smgw/policy-nft";
import { compileSelinux } from "@smgw/policy-selinux";
import { compileSystemd } from "@smgw/policy-systemd";
import { parseDocument } from "yaml";
import { nftAcceptLines, nftAllows, serviceNet } from "./layers.ts";

const FILE = path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml");
const shipped = await loadPolicyFile(FILE);

function gatewayAddress(policy: Policy, network: "WAN" | "LMN" | "HAN"): string {
  return policy.document.networks[network].address.split("/")[0] ?? "";
}

function check(policy: Policy): void {
  const nft = compileNftables(policy);
  const allows = nftAllows(nft);
  const units = compileSystemd(policy);
  const service = (u: string) => serviceNet(units[`smgw-${u}.service`] ?? "");
  const addressesOf = (eps: string[]) =>
    eps.flatMap((e) => policy.endpoints[e]?.addresses ?? []).sort();

  // Every network flow is allowed in both network layers.
  for (const f of policy.networkFlows) {
    const rules = allows.filter((a) => a.flow === f.id);
    expect({ flow: f.id, rules: rules.length }).toEqual({ flow: f.id, rules: 1 });
    const rule = rules[0];
    const gw = gatewayAddress(policy, f.network);
    const peers = addressesOf(f.endpoints);
    expect(rule?.protocol).toBe(f.protocol);
    expect(rule?.port).toBe(f.port);
    // The unit holding the flow's socket: the TCM for TLS, which terminates every session.
    const s = service(f.socketUnit);
    expect(s.families).toContain("AF_INET");
    expect(s.privateNetwork).toBe(false);
    for (const p of peers) expect(s.ipAllow).toContain(p);
    if (f.direction === "inbound") {
      expect([...(rule?.saddrs ?? [])].sort()).toEqual(peers);
      expect(rule?.daddrs).toEqual([gw]);
      expect(s.bindAllow).toContain(`ipv4:${f.protocol}:${f.port}`);
    } else {
      expect([...(rule?.daddrs ?? [])].sort()).toEqual(peers);
      expect(rule?.skuid).toBe(policy.document.units[f.socketUnit].user);
    }
  }

  // Nothing else: each accept is loopback, return traffic or a policy flow's rule.
  const ids = new Set(policy.networkFlows.map((f) => f.id));
  for (const line of nftAcceptLines(nft)) {
    const flow = /comment "([^"]+)"$/.exec(line)?.[1];
    const generic =
      /^(iif(name)? "lo"|oif(name)? "lo"|ct state (established,related|\{ established, related \})) accept$/.test(
        line,
      );
    expect({ line, ok: generic || (flow !== undefined && ids.has(flow)) }).toEqual({
      line,
      ok: true,
    });
  }
  for (const u of UNIT_NAMES) {
    const flows = policy.networkFlows.filter((f) => f.socketUnit === u);
    const s = service(u);
    if (flows.length === 0) {
      // No network flow: no IP sockets at all; and no network namespace either, except for
      // net, which must see the gateway's interfaces (over netlink) to report them.
      expect({
        u,
        privateNetwork: s.privateNetwork,
        inet: s.families.includes("AF_INET"),
        allow: s.ipAllow,
      }).toEqual({
        u,
        privateNetwork: u !== "net",
        inet: false,
        allow: [],
      });
    }
    const allowed = new Set(flows.flatMap((f) => addressesOf(f.endpoints)));
    for (const a of s.ipAllow) {
      if (a === "localhost" || a.startsWith("127.")) continue;
      expect({ u, a, inPolicy: allowed.has(a) }).toEqual({ u, a, inPolicy: true });
    }
    const binds = new Set(
      flows.filter((f) => f.direction === "inbound").map((f) => `ipv4:${f.protocol}:${f.port}`),
    );
    for (const b of s.bindAllow)
      expect({ u, b, inPolicy: binds.has(b) }).toEqual({ u, b, inPolicy: true });
  }
}

describe("enforcement layers against the policy", () => {
  test("the shipped policy: every flow in every layer, nothing more", () => {
    check(shipped);
  });

  test("changing one flow changes every layer consistently", async () => {
    const doc = parseDocument(await Bun.file(FILE).text());
    const flows = doc.get("flows") as { items: { get: (k: string) => unknown }[] };
    const i = flows.items.findIndex((f) => f.get("id") === "lmn-meter-readings");
    doc.setIn(["flows", i, "transport", "port"], 7300);
    const changed = parsePolicy(doc.toString());
    check(changed);
    const nft = compileNftables(changed);
    const meter = compileSystemd(changed)["smgw-meter.service"] ?? "";
    expect(nft).toContain("tcp dport 7300");
    expect(nft).not.toContain("7259");
    expect(meter).toContain("SocketBindAllow=ipv4:tcp:7300");
    expect(meter).not.toContain("7259");
    const selinux = compileSelinux(changed);
    expect(selinux["smgw.cil"]).toContain(
      "(portcon tcp 7300 (system_u object_r smgw_lmn_meter_port_t",
    );
    expect(selinux["smgw.cil"]).not.toContain("7259");
    expect(selinux["smgw.semanage"]).toContain("7300");
  });

  test("removing a flow removes it from every layer", async () => {
    const doc = parseDocument(await Bun.file(FILE).text());
    const flows = doc.get("flows") as { items: { get: (k: string) => unknown }[] };
    const i = flows.items.findIndex((f) => f.get("id") === "han-cls-proxy");
    doc.deleteIn(["flows", i]);
    const changed = parsePolicy(doc.toString());
    check(changed);
    expect(compileNftables(changed)).not.toContain("han-cls-proxy");
    expect(serviceNet(compileSystemd(changed)["smgw-cls.service"] ?? "").privateNetwork).toBe(true);
  });
});
