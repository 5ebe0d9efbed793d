// Who may open which channel, from the shipped policy: admin -> the GWA, meter -> the EMTs,
// cls -> the endpoints authorised for a CLS device; everything else refused with its reason.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { loadPolicyFile, parsePolicy, UNIT_NAMES, type UnitName } from "@smgw/policy";
import fc from "fast-check";
import { decideRoute, flowsFor, inboundListeners, typesGivenToTcm } from "./routes.ts";
import { decodeBase64 } from "./service.ts";
import { SHIPPED_POLICY } from "./testing/policy.ts";

const policy = await loadPolicyFile(SHIPPED_POLICY);

describe("outbound flows by unit", () => {
  test("each domain gets exactly its flow; the kernel services none", () => {
    const flows = Object.fromEntries(
      UNIT_NAMES.map((u) => [u, flowsFor(policy, u).map((f) => f.id)]),
    );
    expect(flows).toEqual({
      meter: ["wan-emt-delivery"],
      admin: ["wan-gwa-session"],
      cls: ["wan-cls-relay"],
      display: [],
      ifm: [],
      tcm: [],
      crypto: [],
      storage: [],
      net: [],
      sysmgmt: [],
    });
    expect([...typesGivenToTcm(policy, "meter")].sort()).toEqual([
      "meter-reading",
      "tariff-result",
    ]);
  });

  test("a unit whose flow to the TCM lacks one data type of an outbound flow gets none", () => {
    const text = readFileSync(SHIPPED_POLICY, "utf8").replace(
      "carries: [channel-data, meter-reading, tariff-result]",
      "carries: [channel-data, meter-reading]",
    );
    const cut = parsePolicy(text);
    expect(flowsFor(cut, "meter")).toEqual([]);
    const d = decideRoute(cut, "meter", { endpoint: "emt-supplier", purpose: "wan-emt-delivery" });
    expect(d).toMatchObject({ ok: false, code: "denied" });
    if (!d.ok) expect(d.reason).toContain("does not carry tariff-result");
  });
});

describe("routes", () => {
  test("allowed requests resolve to the policy's address, port, subject and anchor", () => {
    expect(
      decideRoute(policy, "meter", { endpoint: "emt-supplier", purpose: "wan-emt-delivery" }),
    ).toEqual({
      ok: true,
      route: {
        flow: "wan-emt-delivery",
        endpoint: "emt-supplier",
        network: "WAN",
        address: "192.0.2.20",
        port: 443,
        subject: "CN=EMT Supplier Test,O=EMT-Test,C=DE",
        issuer: "sm-test-root",
      },
    });
    expect(
      decideRoute(policy, "admin", { endpoint: "gwa", purpose: "wan-gwa-session" }),
    ).toMatchObject({
      ok: true,
      route: { address: "192.0.2.10", subject: "CN=GWA Test,O=GWA-Test,C=DE" },
    });
    expect(
      decideRoute(policy, "cls", {
        endpoint: "emt-dso",
        purpose: "wan-cls-relay",
        device: "heatpump",
      }),
    ).toMatchObject({ ok: true, route: { address: "192.0.2.21", device: "heatpump" } });
  });

  const refused: [
    UnitName,
    { endpoint: string; purpose: string; device?: string },
    string,
    string,
  ][] = [
    [
      "meter",
      { endpoint: "gwa", purpose: "wan-gwa-session" },
      "denied",
      "meter may not use wan-gwa-session",
    ],
    ["meter", { endpoint: "gwa", purpose: "wan-emt-delivery" }, "denied", "does not reach gwa"],
    ["admin", { endpoint: "emt-dso", purpose: "wan-emt-delivery" }, "denied", "admin may not use"],
    [
      "display",
      { endpoint: "emt-dso", purpose: "wan-emt-delivery" },
      "denied",
      "display may not use",
    ],
    ["cls", { endpoint: "emt-dso", purpose: "wan-cls-relay" }, "denied", "must name it"],
    [
      "cls",
      { endpoint: "emt-dso", purpose: "wan-cls-relay", device: "bob" },
      "denied",
      "no CLS device",
    ],
    [
      "cls",
      { endpoint: "emt-supplier", purpose: "wan-cls-relay", device: "heatpump" },
      "denied",
      "does not reach",
    ],
    [
      "meter",
      { endpoint: "emt-dso", purpose: "wan-emt-delivery", device: "heatpump" },
      "invalid-body",
      "CLS relay flows only",
    ],
    [
      "meter",
      { endpoint: "emt-supplier", purpose: "wan-emt-delivery", device: "" },
      "invalid-body",
      "CLS relay flows only",
    ],
    ["meter", { endpoint: "emt-dso", purpose: "han-cls-proxy" }, "denied", "no outbound TLS flow"],
    [
      "meter",
      { endpoint: "nowhere", purpose: "wan-emt-delivery" },
      "denied",
      "does not reach nowhere",
    ],
  ];
  for (const [unit, request, code, reason] of refused) {
    test(`${unit} ${JSON.stringify(request)}: ${code}, "${reason}"`, () => {
      const d = decideRoute(policy, unit, request);
      expect(d.ok).toBe(false);
      if (!d.ok) {
        expect(d.code as string).toBe(code);
        expect(d.reason).toContain(reason);
      }
    });
  }

  test("any request: a decision, never an exception, allowed only where the policy says", () => {
    // "-" stands for no device at all; an empty device is a device (and refused off CLS flows).
    const allowed = new Set([
      "meter|wan-emt-delivery|emt-supplier|-",
      "meter|wan-emt-delivery|emt-dso|-",
      "admin|wan-gwa-session|gwa|-",
      "cls|wan-cls-relay|emt-dso|heatpump",
    ]);
    const names = [...Object.keys(policy.endpoints), "x", "", "constructor", "__proto__"];
    const purposes = [
      ...policy.networkFlows.map((f) => f.id),
      ...policy.ipcFlows.map((f) => f.id),
      "toString",
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...UNIT_NAMES),
        fc.oneof(fc.constantFrom(...names), fc.string()),
        fc.oneof(fc.constantFrom(...purposes), fc.string()),
        fc.option(fc.oneof(fc.constantFrom(...names), fc.string()), { nil: undefined }),
        (unit, endpoint, purpose, device) => {
          const d = decideRoute(policy, unit, {
            endpoint,
            purpose,
            ...(device !== undefined ? { device } : {}),
          });
          expect(d.ok).toBe(allowed.has(`${unit}|${purpose}|${endpoint}|${device ?? "-"}`));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

test("inbound TLS listeners: the CLS proxy's port, for the cls unit", () => {
  expect(inboundListeners(policy)).toEqual([
    {
      flow: "han-cls-proxy",
      flows: ["han-cls-proxy"],
      unit: "cls",
      network: "HAN",
      port: 8443,
      endpoints: ["heatpump"],
    },
  ]);
});

describe("channel payload", () => {
  test("base64 of a wrong length is refused; the contract's alphabet check comes first", () => {
    expect(decodeBase64("aGk=").toString()).toBe("hi");
    expect(decodeBase64("").length).toBe(0);
    for (const bad of ["a", "ab", "abc", "aGk", "aGk=a", "aGk!", "aG k", "====", "a=bc"]) {
      expect(() => decodeBase64(bad)).toThrow(/not base64/);
    }
  });

  test("random strings: bytes or a named refusal", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          decodeBase64(s);
        } catch (e) {
          expect((e as Error).message).toContain("not base64");
        }
      }),
    );
  });
});
