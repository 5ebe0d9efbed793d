import { describe, expect, test } from "bun:test";
import path from "node:path";
import { parseDocument } from "yaml";
import { compileRuleTable, decide } from "./compile.ts";
import { PolicyError } from "./errors.ts";
import { loadPolicyFile, parsePolicy } from "./load.ts";

const SHIPPED = path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml");
const shippedText = await Bun.file(SHIPPED).text();

/** The shipped policy with one edit applied through the YAML document model. */
function edited(edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(shippedText);
  edit(doc);
  return doc.toString();
}

function rejection(text: string): PolicyError {
  try {
    parsePolicy(text, "test.yaml");
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error("policy was accepted");
}

function flowIndex(id: string): number {
  const doc = parseDocument(shippedText).toJS() as { flows: { id: string }[] };
  const i = doc.flows.findIndex((f) => f.id === id);
  if (i < 0) throw new Error(`no flow ${id}`);
  return i;
}

describe("shipped policy", () => {
  test("loads and compiles", async () => {
    const policy = await loadPolicyFile(SHIPPED);
    const table = compileRuleTable(policy);
    expect(Object.keys(table.users)).toHaveLength(10);
    expect(table.consumers.alice).toEqual(["meter-1", "meter-2", "wmbus-1", "wmbus-2"]);
    expect(
      table.listeners.map((l) => `${l.network}/${l.protocol}/${l.port}->${l.unit}`).sort(),
    ).toEqual([
      "HAN/tcp/8080->display",
      "HAN/tcp/8443->cls",
      "LMN/tcp/7259->meter",
      "LMN/udp/7260->meter",
      "WAN/udp/4711->admin",
    ]);
    expect(table.meters["wmbus-3"]).toEqual({
      id: "XSM30000003",
      addresses: ["198.51.100.23"],
      protocol: "wmbus",
      wmbus: { manufacturer: "XSM", id: "30000003", medium: "heat", security: 7 },
    });
    expect(Object.keys(policy.profiles).sort()).toEqual([
      "taf1-bob",
      "taf2-alice",
      "taf7-grid",
      "taf7-supplier",
    ]);
  });

  test("the rule table allows exactly the listed IPC flows", async () => {
    const table = compileRuleTable(await loadPolicyFile(SHIPPED));
    expect(decide(table, "meter", "storage", "storage.append-readings").allowed).toBe(true);
    expect(decide(table, "meter", "cls", "cls.relay")).toEqual({
      allowed: false,
      reason: "no flow allows meter -> cls cls.relay",
    });
    expect(decide(table, "storage", "meter", "storage.append-readings").allowed).toBe(false);
    expect(decide(table, "display", "storage", "storage.append-readings").allowed).toBe(false);
  });

  test("consumer scope: own meters only, consumer required", async () => {
    const table = compileRuleTable(await loadPolicyFile(SHIPPED));
    const q = "storage.query-readings";
    expect(
      decide(table, "display", "storage", q, { onBehalfOf: "alice", meter: "meter-1" }).allowed,
    ).toBe(true);
    expect(
      decide(table, "display", "storage", q, { onBehalfOf: "alice", meter: "meter-3" }),
    ).toEqual({
      allowed: false,
      reason: "meter meter-3 is not assigned to alice",
    });
    expect(decide(table, "display", "storage", q, { meter: "meter-1" }).allowed).toBe(false);
    expect(
      decide(table, "display", "storage", q, { onBehalfOf: "mallory", meter: "meter-1" }).allowed,
    ).toBe(false);
  });

  test("the digest changes with the policy", async () => {
    const a = compileRuleTable(parsePolicy(shippedText));
    const b = compileRuleTable(
      parsePolicy(edited((d) => d.setIn(["endpoints", "bob", "meters"], []))),
    );
    expect(a.digest).not.toBe(b.digest);
  });
});

describe("bad policies are rejected with a located reason", () => {
  test("YAML syntax error names its line", () => {
    const e = rejection("version: 1\nnetworks: [\n");
    expect(e.issues[0]?.line).toBeGreaterThan(0);
    expect(e.message).toContain("YAML");
  });

  test("duplicate keys are refused", () => {
    const e = rejection("version: 1\nversion: 1\n");
    expect(e.message).toMatch(/unique|duplicate/i);
  });

  test("an unknown key names the key and its line", () => {
    const text = edited((d) => d.setIn(["units", "meter", "colour"], "blue"));
    const e = rejection(text);
    const issue = e.issues.find((i) => i.path === "/units/meter/colour");
    expect(issue?.message).toContain("Unexpected property");
    const line = text.split("\n").findIndex((l) => l.includes("colour")) + 1;
    expect(issue?.line).toBe(line);
  });

  test("a missing unit is named", () => {
    const e = rejection(edited((d) => d.deleteIn(["units", "crypto"])));
    expect(e.issues.some((i) => i.path === "/units/crypto")).toBe(true);
  });

  test("a flow to an unknown unit", () => {
    const i = flowIndex("meter-stores-readings");
    const e = rejection(edited((d) => d.setIn(["flows", i, "to"], "stroage")));
    expect(e.issues).toContainEqual(expect.objectContaining({ path: `/flows/${i}/to` }));
    expect(e.message).toContain('unknown unit "stroage"');
  });

  test("a message the flow does not say it carries", () => {
    const i = flowIndex("display-reads-status");
    const e = rejection(
      edited((d) => d.setIn(["flows", i, "messages"], ["status.get", "storage.query-readings"])),
    );
    expect(e.message).toContain("carries meter-reading, which the flow does not list");
  });

  test("PP-WAN-1: a WAN party opening a TCP connection", () => {
    const i = flowIndex("wan-wake-up");
    const e = rejection(edited((d) => d.setIn(["flows", i, "transport", "protocol"], "tcp")));
    expect(e.message).toContain("PP-WAN-1");
    expect(e.issues[0]?.path).toBe(`/flows/${i}`);
    expect(e.issues[0]?.line).toBeGreaterThan(1);
  });

  test("PP-LMN-1: meter data sent straight to a HAN domain", () => {
    const i = flowIndex("meter-stores-readings");
    const e = rejection(edited((d) => d.setIn(["flows", i, "to"], "display")));
    expect(e.message).toContain("PP-LMN-1: meter may not send to display");
  });

  test("PP-LMN-1: an LMN listener for another unit", () => {
    const i = flowIndex("lmn-meter-readings");
    const e = rejection(edited((d) => d.setIn(["flows", i, "to"], "display")));
    expect(e.message).toContain("PP-LMN-1");
  });

  test("PP-CLS-1: CLS traffic to an endpoint no device is authorised for", () => {
    const i = flowIndex("wan-cls-relay");
    const e = rejection(edited((d) => d.setIn(["flows", i, "to"], "endpoint:emt-supplier")));
    expect(e.message).toContain("PP-CLS-1: emt-supplier is authorised for no CLS device");
  });

  test("PP-HAN-1: unscoped personal data to the display", () => {
    const i = flowIndex("display-reads-own-readings");
    const e = rejection(edited((d) => d.deleteIn(["flows", i, "scope"])));
    expect(e.message).toContain("PP-HAN-1");
  });

  test("PP-HAN-1: the technician may not receive readings", () => {
    const i = flowIndex("han-technician-display");
    const e = rejection(
      edited((d) => d.setIn(["flows", i, "carries"], ["gateway-status", "meter-reading"])),
    );
    expect(e.message).toContain("service technician may not receive personal data");
  });

  test("one meter assigned to two consumers", () => {
    const e = rejection(
      edited((d) => d.setIn(["endpoints", "bob", "meters"], ["meter-3", "meter-1"])),
    );
    expect(e.message).toContain("meter meter-1 already assigned to alice");
    expect(e.issues[0]?.path).toBe("/endpoints/bob/meters/1");
  });

  test("two meters with the same wireless M-Bus identity", () => {
    const e = rejection(
      edited((d) => d.setIn(["endpoints", "wmbus-2", "credential", "id"], "30000001")),
    );
    expect(e.message).toContain("the same meter identity as wmbus-1");
    expect(e.issues[0]?.path).toBe("/endpoints/wmbus-2/credential");
  });

  test("a wireless M-Bus identity that is no meter's, and a bad security mode", () => {
    const e = rejection(
      edited((d) =>
        d.setIn(["endpoints", "gwa", "credential"], {
          kind: "wmbus-id",
          manufacturer: "XSM",
          id: "12345678",
          medium: "water",
          security: 5,
        }),
      ),
    );
    expect(e.message).toContain("a gwa is identified by tls-certificate");
    const mode = rejection(
      edited((d) => d.setIn(["endpoints", "wmbus-1", "credential", "security"], 0)),
    );
    expect(mode.issues[0]?.path).toContain("/endpoints/wmbus-1/credential");
  });

  test("profiles: unknown meters, a recipient that is no EMT or has no route, missing tariffs", () => {
    expect(
      rejection(edited((d) => d.setIn(["profiles", "taf7-grid", "meters", 0], "alice"))).issues[0],
    ).toMatchObject({
      path: "/profiles/taf7-grid/meters/0",
      message: '"alice" is not an endpoint with role meter',
      line: expect.any(Number),
    });
    expect(
      rejection(edited((d) => d.setIn(["profiles", "taf7-grid", "recipient"], "gwa"))).message,
    ).toContain('"gwa" is not an endpoint with role emt');
    // Without wan-emt-delivery no flow carries meter data to the EMTs (PP-LMN-1).
    const noRoute = rejection(
      edited((d) => {
        const flows = d.get("flows") as { items: { get(k: string): unknown }[] };
        const i = flows.items.findIndex((f) => f.get("id") === "wan-emt-delivery");
        d.deleteIn(["flows", i]);
      }),
    );
    expect(noRoute.message).toContain("no outbound TLS flow of tcm carries this profile's data");
    expect(
      rejection(edited((d) => d.deleteIn(["profiles", "taf2-alice", "tariff"]))).message,
    ).toContain("TAF2 bills with a supplier tariff file");
    expect(
      rejection(edited((d) => d.setIn(["profiles", "taf1-bob", "meters", 1], "wmbus-4"))).message,
    ).toContain("TAF1 bills electricity; wmbus-4 measures gas");
    expect(
      rejection(edited((d) => d.setIn(["profiles", "taf2-alice", "tariff"], "../../etc/shadow")))
        .message,
    ).toContain("beside the policy file or below it");
    expect(
      rejection(edited((d) => d.setIn(["profiles", "taf7-grid", "periodSeconds"], 7))).message,
    ).toContain("must divide a day");
    expect(
      rejection(edited((d) => d.setIn(["profiles", "taf7-grid", "pseudonym"], "has space")))
        .issues[0]?.path,
    ).toBe("/profiles/taf7-grid/pseudonym");
  });

  test("an endpoint address outside its network", () => {
    const e = rejection(
      edited((d) => d.setIn(["endpoints", "gwa", "addresses"], ["198.51.100.77"])),
    );
    expect(e.message).toContain("is not inside WAN");
  });

  test("two units sharing a system user", () => {
    const e = rejection(edited((d) => d.setIn(["units", "cls", "user"], "smgw-meter")));
    expect(e.message).toContain("user smgw-meter already used by unit meter");
  });

  test("domains talking to each other directly", () => {
    const text = edited((d) => {
      const flows = d.get("flows") as { add: (v: unknown) => void };
      flows.add({
        id: "display-to-cls",
        from: "display",
        to: "cls",
        messages: ["status.get"],
        carries: ["gateway-status"],
        rule: "GW-INT",
        why: "test",
      });
    });
    expect(rejection(text).message).toContain("domain display may not send to domain cls");
  });

  test("oversized and non-policy inputs", () => {
    expect(rejection("x".repeat((1 << 20) + 1)).message).toContain("larger than");
    expect(rejection("").message).toContain("/");
    expect(rejection("- just\n- a list\n").issues.length).toBeGreaterThan(0);
    expect(rejection("a: &x [1]\nb: *x\n").message).toMatch(/alias|rejected/i);
  });

  test("a missing file", async () => {
    await expect(loadPolicyFile("/nonexistent/policy.yaml")).rejects.toThrow("file not found");
  });
});
