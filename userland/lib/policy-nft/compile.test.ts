import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Policy, parsePolicy } from "@smgw/policy";
import fc from "fast-check";
import { parseDocument } from "yaml";
import { allowCounter, compileNftables, dropCounter, dropCounters } from "./compile.ts";
import { checkRuleset } from "./nft.ts";
import { NFTABLES_FILE, write } from "./write.ts";

const REPO = path.resolve(import.meta.dir, "../../..");
const SHIPPED = path.join(REPO, "policy", "smgw.policy.yaml");
const COMMITTED = path.join(REPO, "image", "generated", NFTABLES_FILE);
const shippedText = readFileSync(SHIPPED, "utf8");
const shipped = parsePolicy(shippedText, SHIPPED);
const ruleset = compileNftables(shipped);

const hasNft = Bun.which("nft") !== null && Bun.which("unshare") !== null;
// On CI the check must run; a developer machine without nftables skips it.
const checkable = hasNft || Boolean(process.env.CI);

function edited(edit: (doc: ReturnType<typeof parseDocument>) => void): Policy {
  const doc = parseDocument(shippedText);
  edit(doc);
  return parsePolicy(doc.toString(), "edited.yaml");
}

function flowIndex(id: string): number {
  const i = shipped.document.flows.findIndex((f) => f.id === id);
  if (i < 0) throw new Error(`no flow ${id}`);
  return i;
}

function users(policy: Policy): string[] {
  return Object.values(policy.document.units).map((u) => u.user);
}

/** The rules of one chain, comments left out. */
function chain(text: string, name: string): string[] {
  const lines = text.split("\n");
  const start = lines.indexOf(`\tchain ${name} {`);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l === "\t}");
  return lines
    .slice(start + 1, end)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

function lineSet(text: string): Set<string> {
  return new Set(text.split("\n"));
}

describe("generated packet filter", () => {
  test("the committed image/generated/nftables.conf is current (golden file)", () => {
    // On a difference: run `smgw policy build` and review the diff like any policy change.
    expect(readFileSync(COMMITTED, "utf8")).toBe(ruleset);
  });

  test("first line says where it comes from", () => {
    expect(ruleset.split("\n")[0]).toBe(
      "# Generated from policy/smgw.policy.yaml by `smgw policy build`; do not edit.",
    );
  });

  test("is flush-safe: declares, deletes, then defines only table inet smgw", () => {
    const statements = ruleset.split("\n").filter((l) => /^[a-z]/.test(l));
    expect(statements).toEqual(["table inet smgw", "delete table inet smgw", "table inet smgw {"]);
    expect(ruleset).not.toContain("flush ruleset");
  });

  test("input, output and forward drop by default; forward accepts nothing", () => {
    for (const hook of ["input", "output", "forward"]) {
      expect(chain(ruleset, hook)[0]).toBe(
        `type filter hook ${hook} priority filter; policy drop;`,
      );
    }
    for (const n of ["forward", "fwd_wan", "fwd_lmn", "fwd_han"]) {
      expect(chain(ruleset, n).some((l) => l.includes("accept"))).toBe(false);
    }
  });

  test("every accept is loopback, return traffic or one of the policy's network flows", () => {
    const flowIds = new Set(shipped.networkFlows.map((f) => f.id));
    const accepts = ruleset
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => !l.startsWith("#") && / accept( |$)/.test(l));
    const general = ['iif "lo" accept', 'oif "lo" accept', "ct state established,related accept"];
    for (const a of accepts) {
      if (general.includes(a)) continue;
      const id = /comment "([a-z0-9-]+)"$/.exec(a)?.[1];
      expect(id && flowIds.has(id)).toBe(true);
    }
    // One rule per resolved network flow.
    const flowRules = accepts.filter((a) => !general.includes(a));
    expect(flowRules).toHaveLength(shipped.networkFlows.length);
  });

  test("inbound: only the listed flows from their endpoints' addresses, per NIC", () => {
    expect(chain(ruleset, "in_wan")[0]).toBe(
      'ip saddr 192.0.2.10 ip daddr 192.0.2.1 udp dport 4711 ct state new counter name "allow_wan-wake-up" accept comment "wan-wake-up"',
    );
    expect(chain(ruleset, "in_wan")).toHaveLength(3);
    expect(chain(ruleset, "in_lmn")[0]).toContain(
      "ip saddr { 198.51.100.11, 198.51.100.12, 198.51.100.13 } ip daddr 198.51.100.1 tcp dport 7259 ct state new",
    );
    const han = chain(ruleset, "in_han");
    expect(han[0]).toContain(
      "ip saddr { 203.0.113.10, 203.0.113.11 } ip daddr 203.0.113.1 tcp dport 8080",
    );
    expect(han[1]).toContain("ip saddr 203.0.113.40 ip daddr 203.0.113.1 tcp dport 8080");
    expect(han[2]).toContain("ip saddr 203.0.113.30 ip daddr 203.0.113.1 tcp dport 8443");
    // The CLS device is not among the display's peers, nor consumers among the proxy's.
    expect(han[0]).not.toContain("203.0.113.30");
    expect(han[2]).not.toContain("203.0.113.10");
  });

  test("outbound: only the tcm's new TCP 443 connections to the WAN endpoints", () => {
    const wan = chain(ruleset, "out_wan");
    const flows = wan.filter((l) => l.includes("accept"));
    expect(flows).toHaveLength(3);
    for (const f of flows) {
      expect(f).toStartWith('meta skuid "smgw-tcm" ip saddr 192.0.2.1 ip daddr ');
      expect(f).toContain("tcp dport 443 ct state new");
    }
    expect(flows.join("\n")).toContain("ip daddr { 192.0.2.20, 192.0.2.21 }");
    expect(chain(ruleset, "out_lmn").some((l) => l.includes("accept"))).toBe(false);
    expect(chain(ruleset, "out_han").some((l) => l.includes("accept"))).toBe(false);
  });

  test("every drop is counted by a named counter and logged at a limited rate", () => {
    const defined = [...ruleset.matchAll(/^\tcounter ([a-z0-9_-]+) \{$/gm)].map((m) => m[1]);
    for (const c of dropCounters()) expect(defined).toContain(c);
    for (const f of shipped.networkFlows) expect(defined).toContain(allowCounter(f.id));
    const drops = ruleset
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => / drop$/.test(l));
    expect(drops).toHaveLength(dropCounters().length);
    for (const d of drops) expect(d).toMatch(/^counter name "drop_[a-z]+_[a-z]+" drop$/);
    const lines = ruleset.split("\n").map((l) => l.trim());
    drops.forEach((d) => {
      const i = lines.indexOf(d);
      const name = /"(drop_[a-z_]+)"/.exec(d)?.[1];
      expect(lines[i - 1]).toBe(
        `limit rate 10/second burst 20 packets log prefix "smgw ${name}: "`,
      );
    });
    expect(dropCounter("in", "WAN")).toBe("drop_in_wan");
  });

  test.skipIf(!checkable)("nft -c accepts it (in a user+network namespace of its own)", () => {
    const r = checkRuleset(ruleset, users(shipped));
    if (!r.ok) throw new Error(r.errors);
    expect(r.ok).toBe(true);
  });

  test.skipIf(!checkable)("nft -c rejects a broken ruleset with its reason", () => {
    const r = checkRuleset(ruleset.replace("policy drop;", "policy maybe;"), users(shipped));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toContain("nftables.conf");
  });

  test("write() puts the same text into the output folder", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "smgw-nft-write-"));
    try {
      const files = write(path.join(dir, "generated"), shipped);
      expect(files).toEqual([path.join(dir, "generated", NFTABLES_FILE)]);
      expect(readFileSync(files[0] ?? "", "utf8")).toBe(ruleset);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("is deterministic", () => {
    expect(compileNftables(parsePolicy(shippedText))).toBe(ruleset);
  });
});

describe("one policy change, one consistent ruleset change", () => {
  test("meter listener port 7259 -> 7300: the new port appears, the old is gone", () => {
    const changed = compileNftables(
      edited((d) => d.setIn(["flows", flowIndex("lmn-meter-readings"), "transport", "port"], 7300)),
    );
    expect(changed).not.toContain("7259");
    expect(chain(changed, "in_lmn")[0]).toContain(
      "ip daddr 198.51.100.1 tcp dport 7300 ct state new",
    );
    // Nothing else moved.
    const before = [...lineSet(ruleset)].filter((l) => !lineSet(changed).has(l));
    const after = [...lineSet(changed)].filter((l) => !lineSet(ruleset).has(l));
    expect(before).toHaveLength(1);
    expect(after).toEqual([before[0]?.replace("dport 7259", "dport 7300") ?? ""]);
  });

  test("removing a flow removes its rule and counter, and nothing else", () => {
    const changed = compileNftables(
      edited((d) => d.deleteIn(["flows", flowIndex("han-cls-proxy")])),
    );
    expect(changed).not.toContain("8443");
    expect(changed).not.toContain("han-cls-proxy");
    const added = [...lineSet(changed)].filter((l) => !lineSet(ruleset).has(l));
    expect(added).toEqual([]);
    const removed = [...lineSet(ruleset)].filter((l) => !lineSet(changed).has(l));
    expect(removed.every((l) => /han-cls-proxy|8443|CLS proxy over TLS/.test(l))).toBe(true);
  });

  test("a new address of an endpoint joins exactly that endpoint's rules", () => {
    const changed = compileNftables(
      edited((d) => d.setIn(["endpoints", "emt-dso", "addresses"], ["192.0.2.21", "192.0.2.22"])),
    );
    const out = chain(changed, "out_wan").filter((l) => l.includes("accept"));
    expect(out[1]).toContain("ip daddr { 192.0.2.20, 192.0.2.21, 192.0.2.22 }");
    expect(out[2]).toContain("ip daddr { 192.0.2.21, 192.0.2.22 }");
    expect(out[0]).not.toContain("192.0.2.22");
  });

  test("a renamed unit user appears in meta skuid", () => {
    const changed = compileNftables(
      edited((d) => d.setIn(["units", "tcm", "user"], "smgw-channels")),
    );
    expect(changed).toContain('meta skuid "smgw-channels"');
    expect(changed).not.toContain("smgw-tcm");
    if (checkable) {
      // A user this machine does not have: the check adds it to its private /etc/passwd.
      const users = ["smgw-channels"];
      const r = checkRuleset(changed, users);
      if (!r.ok) throw new Error(r.errors);
      expect(checkRuleset(changed, []).ok).toBe(false);
    }
  });
});

describe("varied policies", () => {
  // Ports and addresses drawn at random; nft must accept every ruleset the compiler writes.
  test.skipIf(!checkable)(
    "random ports and endpoint addresses still give a valid ruleset",
    () => {
      const net = fc.constantFrom("WAN", "LMN", "HAN");
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 8, maxLength: 8 }),
          fc.array(fc.tuple(net, fc.integer({ min: 2, max: 254 })), { maxLength: 5 }),
          (ports, extra) => {
            let policy: Policy;
            try {
              policy = edited((d) => {
                shipped.document.flows.forEach((f, i) => {
                  if (f.transport) d.setIn(["flows", i, "transport", "port"], ports[i % 8]);
                });
                extra.forEach(([n, host], i) => {
                  const base = shipped.document.networks[n].address
                    .split(".")
                    .slice(0, 3)
                    .join(".");
                  const role = n === "WAN" ? "emt" : n === "LMN" ? "meter" : "consumer";
                  const credential =
                    role === "meter"
                      ? { kind: "meter-id", id: `XTEST${i}` }
                      : role === "emt"
                        ? { kind: "tls-certificate", subject: `CN=X${i}`, issuer: "sm-test-root" }
                        : { kind: "password" };
                  d.setIn(["endpoints", `extra-${i}`], {
                    role,
                    network: n,
                    addresses: [`${base}.${host}`],
                    credential,
                  });
                });
              });
            } catch {
              return; // an edit the policy rightly refuses (e.g. an address taken twice)
            }
            const text = compileNftables(policy);
            for (const f of policy.networkFlows) expect(text).toContain(`dport ${f.port} `);
            const r = checkRuleset(text, users(policy));
            if (!r.ok) throw new Error(r.errors);
          },
        ),
        { numRuns: 12 },
      );
    },
    60_000,
  );
});
