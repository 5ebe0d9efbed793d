// Personalisation for tests and host mode: subjects from the policy, certificates for keys the
// module holds, a credentials directory with certificates and anchors only.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadPolicyFile } from "@smgw/policy";
import { createSoftwareModule, EcKey } from "@smgw/secmod";
import { PkiError } from "@smgw/tls";
import fc from "fast-check";
import { credentialLayout, filesWithPrivateKeys, TCM_KEYS } from "./credentials.ts";
import { policyEntities, provisionTcmCredentials, subjectParts } from "./provision.ts";
import { SHIPPED_POLICY } from "./testing/policy.ts";

const policy = await loadPolicyFile(SHIPPED_POLICY);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("subjects", () => {
  test("the policy's subjects are test PKI entities, written back the same", () => {
    const entities = policyEntities(policy);
    expect(entities.map((e) => `${e.name}:${e.issuer}`).sort()).toEqual([
      "alice:smgw-sub-ca",
      "bob:smgw-sub-ca",
      "emt-dso:emt-sub-ca",
      "emt-supplier:emt-sub-ca",
      "gwa:gwa-sub-ca",
      "heatpump:emt-sub-ca",
    ]);
    expect(subjectParts("CN=GWA Test,O=GWA-Test,C=DE")).toEqual({
      CN: "GWA Test",
      O: "GWA-Test",
      C: "DE",
    });
    expect(subjectParts("CN=a,OU=b,O=c,C=DE")).toEqual({ CN: "a", OU: "b", O: "c", C: "DE" });
  });

  test("subjects the test PKI cannot write are refused with the reason", () => {
    for (const bad of [
      "",
      "CN=GWA Test",
      "O=x,CN=y,C=DE",
      "CN=a,O=b,C=DE,C=FR",
      "CN=a,O=b,C=DE,L=Berlin",
      "CN=a\\,b,O=c,C=DE",
      "CN=/evil,O=c,C=DE",
      "CN=a,O=b;C=DE",
    ]) {
      expect(() => subjectParts(bad)).toThrow(PkiError);
    }
  });

  test("random text: parts that write back to it, or a PkiError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const p = subjectParts(s);
          expect(`CN=${p.CN},${p.OU ? `OU=${p.OU},` : ""}O=${p.O},C=${p.C}`).toBe(s);
        } catch (e) {
          expect(e).toBeInstanceOf(PkiError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

test("provisioning: keys made in the module, certificates for them, no private key outside", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-tcm-provision-"));
  dirs.push(dir);
  const module = createSoftwareModule({
    stateFile: path.join(dir, "module.json"),
    production: false,
    warn: () => {},
  });
  try {
    const lines: string[] = [];
    const p = await provisionTcmCredentials({
      policy,
      module,
      pkiDir: path.join(dir, "pki"),
      tcmStateDir: path.join(dir, "tcm"),
      log: (l) => lines.push(l),
    });
    const layout = credentialLayout(path.join(dir, "tcm"));
    expect(filesWithPrivateKeys(layout.dir)).toEqual([]);
    expect(readdirSync(path.join(layout.dir, "anchors")).sort()).toEqual([
      "han-clients.pem",
      "sm-test-root.pem",
    ]);
    for (const key of TCM_KEYS) {
      const chain = layout.chain(key);
      // The certificate carries the module's public key and chains to the test root.
      const pub = spawnSync("openssl", ["x509", "-in", chain, "-noout", "-pubkey"], {
        encoding: "utf8",
      });
      expect(pub.stdout.trim()).toBe((await module.publicKey(key)).pem.trim());
      const verify = spawnSync(
        "openssl",
        ["verify", "-CAfile", p.pki.trustAnchor, "-untrusted", chain, chain],
        { encoding: "utf8" },
      );
      expect(verify.stdout).toContain(": OK");
      // And the module's signature verifies under it.
      const digest = new Uint8Array(32).fill(7);
      const spki = (await module.publicKey(key)).spki;
      expect(EcKey.fromSpki(spki).verifyDigest(digest, await module.sign(key, digest))).toBe(true);
    }
    expect(lines.filter((l) => l.startsWith("generated")).length).toBe(3);
    // Again: nothing to do, the certificates stay.
    const before = readFileSync(layout.chain("tls-wan"), "utf8");
    lines.length = 0;
    await provisionTcmCredentials({
      policy,
      module,
      pkiDir: path.join(dir, "pki"),
      tcmStateDir: path.join(dir, "tcm"),
      log: (l) => lines.push(l),
    });
    expect(lines).toEqual([]);
    expect(readFileSync(layout.chain("tls-wan"), "utf8")).toBe(before);
    expect(p.peer("emt-dso").subject).toBe("CN=EMT DSO Test,O=EMT-Test,C=DE");
  } finally {
    await module.close();
  }
}, 60_000);
