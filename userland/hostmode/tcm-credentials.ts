// Host mode's personalisation of the TCM: the gateway's TLS key pairs are generated in the
// security module the crypto unit will use (the virtual card on pcscd, or the software module),
// a test SM-PKI issues their certificates, and the TCM's state directory receives certificates
// and trust anchors only. The PKI itself (CA keys, the simulated peers' keys) stays in a
// root-only directory beside them, for simulated GWA/EMT peers (units/tcm/testing/peer.ts).
import { chmodSync, chownSync, existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Policy, UnitName } from "@smgw/policy";
import { openSecurityModule, readSecmodConfig } from "@smgw/secmod";
import { provisionGatewaySignature, provisionTcmCredentials } from "@smgw/unit-tcm/provision.ts";
import type { Layout } from "./layout.ts";
import type { Ids } from "./users.ts";

function chownTree(dir: string, ids: Ids): void {
  chownSync(dir, ids.uid, ids.gid);
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) chownTree(file, ids);
    else chownSync(file, ids.uid, ids.gid);
  }
}

/** Prepares the TCM's credentials; on failure says why and leaves the TCM without them. */
export async function prepareTcmCredentials(o: {
  policy: Policy;
  layout: Layout;
  ids: Record<UnitName, Ids>;
  cryptoEnv: Record<string, string>;
  out: (line: string) => void;
}): Promise<void> {
  const tcmState = o.layout.stateDir("tcm");
  const cryptoState = o.layout.stateDir("crypto");
  const pkiDir = path.join(tcmState, "test-pki");
  const module = openSecurityModule(readSecmodConfig(o.cryptoEnv, cryptoState), () => {});
  if (!module) {
    o.out("  TLS credentials: no security module configured; the TCM opens no channels");
    return;
  }
  try {
    const p = await provisionTcmCredentials({
      policy: o.policy,
      module,
      pkiDir,
      tcmStateDir: tcmState,
      log: (line) => o.out(`  TLS credentials: ${line}`),
    });
    chmodSync(pkiDir, 0o700);
    chownTree(path.join(tcmState, "credentials"), o.ids.tcm);
    // The meter domain signs its deliveries with the gateway's signature key.
    const meterState = o.layout.stateDir("meter");
    const sig = await provisionGatewaySignature({
      module,
      pki: p.pki,
      meterStateDir: meterState,
      log: (line) => o.out(`  signature key: ${line}`),
    });
    chownTree(path.join(meterState, "credentials"), o.ids.meter);
    o.out(`  signature key: ${sig}, certificate for the meter domain`);
    o.out(
      `  TLS credentials: ${Object.values(p.gateway)[0] ?? "?"} and its siblings, keys in the ${module.kind} module; test PKI in ${pkiDir}`,
    );
  } catch (e) {
    o.out(`  TLS credentials not prepared: ${(e as Error).message}; the TCM opens no channels`);
  } finally {
    await module.close();
    // What the module wrote as root (software module state, TPM key blobs) is the crypto unit's.
    if (existsSync(cryptoState)) chownTree(cryptoState, o.ids.crypto);
  }
}
