// The crypto unit end to end: its main() with the software module, behind a real IFM broker
// with the project's policy; the TCM's crypto.sign goes through, the meter's is refused.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger, type DaemonContext, ifmSocketPath, type RunningDaemon } from "@smgw/daemon";
import { IpcClient } from "@smgw/ipc";
import { compileRuleTable, loadPolicyFile, UNIT_NAMES } from "@smgw/policy";
import { createSoftwareModule, EcKey } from "@smgw/secmod";
import { Broker } from "../ifm/broker.ts";
import { main } from "./main.ts";

const POLICY = path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml");
const quiet = createLogger("test", { write: () => {} });
let dir: string;
let broker: Broker;
let unit: RunningDaemon;
let spki: Uint8Array;
const clients: IpcClient[] = [];
const env = { ...process.env };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "smgw-crypto-"));
  const runDir = path.join(dir, "run");
  const stateDir = path.join(dir, "state");
  fs.mkdirSync(stateDir, { recursive: true });
  // The key the unit will use, made beforehand in its software module's state file.
  const setup = createSoftwareModule({
    stateFile: path.join(stateDir, "software-secmod.json"),
    production: false,
    warn: () => {},
  });
  spki = (await setup.generateKeyPair("tls-wan", "brainpoolP256r1")).spki;
  await setup.close();

  broker = new Broker(compileRuleTable(await loadPolicyFile(POLICY)), quiet, { timeoutMs: 2000 });
  for (const u of UNIT_NAMES) {
    if (u === "ifm") continue;
    fs.mkdirSync(path.dirname(ifmSocketPath(runDir, u)), { recursive: true, mode: 0o700 });
    broker.listen(u, ifmSocketPath(runDir, u));
  }
  process.env.SMGW_SECMOD = "software";
  delete process.env.SMGW_PRODUCTION;
  const lines: string[] = [];
  const ctx: DaemonContext = {
    config: { unit: "crypto", SMGW_POLICY: POLICY, SMGW_RUN_DIR: runDir, SMGW_STATE_DIR: stateDir },
    log: createLogger("crypto", { write: (l) => lines.push(l) }),
    startedAt: Date.now(),
  };
  unit = await main(ctx);
  expect(lines.some((l) => l.includes("SOFTWARE SECURITY MODULE IN USE"))).toBe(true);
  for (const u of ["tcm", "meter", "sysmgmt"]) {
    clients.push(new IpcClient({ socketPath: ifmSocketPath(runDir, u), timeoutMs: 3000 }));
  }
});

afterAll(async () => {
  for (const c of clients) c.close();
  await unit?.stop();
  broker?.stop();
  process.env = env;
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the TCM's crypto.sign is answered through the IFM with a valid signature", async () => {
  const [tcm] = clients as [IpcClient];
  const digest = createHash("sha256").update("client hello").digest();
  const answer = await tcm.request("crypto", "crypto.sign", {
    key: "tls-wan",
    algorithm: "ecdsa-sha256",
    digest: digest.toString("hex"),
  });
  expect(EcKey.fromSpki(spki).verifyDigest(digest, Buffer.from(answer.signature, "hex"))).toBe(
    true,
  );
});

test("the meter domain may not ask for signatures (the IFM refuses)", async () => {
  const meter = clients[1] as IpcClient;
  await expect(
    meter.request("crypto", "crypto.sign", {
      key: "tls-wan",
      algorithm: "ecdsa-sha256",
      digest: "00".repeat(32),
    }),
  ).rejects.toThrow(/denied/);
});

test("status names the software module", async () => {
  const sysmgmt = clients[2] as IpcClient;
  const status = await sysmgmt.request("crypto", "status.get", {});
  expect(status.detail).toMatchObject({ securityModule: "software" });
  expect(status.state).toBe("ok");
});
