// `smgw image boot` and `smgw image stop`: the test image with its simulated peers, for people.
import path from "node:path";
import type { Policy } from "@smgw/policy";
import { Machine, type PeerNet, stopByName } from "./machine.ts";

export interface BootOptions {
  name: string;
  repoRoot: string;
  fresh: boolean;
  gatewayDisabled: boolean;
  out: (line: string) => void;
}

/** One simulated meter per policy meter in the LMN namespace, as host mode starts them. */
export function startMeters(
  repoRoot: string,
  policy: Policy,
  lmn: PeerNet,
  intervalMs: number,
): import("bun").Subprocess[] {
  const gateway = policy.document.networks.LMN.address.split("/")[0] ?? "";
  const port = policy.networkFlows.find((f) => f.unit === "meter" && f.direction === "inbound");
  if (!port) return [];
  const cli = path.join(repoRoot, "userland", "cli", "main.ts");
  return Object.values(policy.endpoints)
    .filter((e) => e.role === "meter" && e.credential.kind === "meter-id")
    .map((e) =>
      Bun.spawn(
        [
          "ip",
          "netns",
          "exec",
          lmn.namespace,
          process.execPath,
          cli,
          "sim",
          "meter",
          "--id",
          e.credential.kind === "meter-id" ? e.credential.id : "",
          "--source",
          e.addresses[0] ?? "",
          "--gateway",
          gateway,
          "--port",
          String(port.port),
          "--interval",
          String(intervalMs),
        ],
        { stdin: "ignore", stdout: "ignore", stderr: "ignore" },
      ),
    );
}

export async function bootInteractive(o: BootOptions): Promise<void> {
  const machine = await Machine.start({
    name: o.name,
    repoRoot: o.repoRoot,
    fresh: o.fresh,
    gatewayDisabled: o.gatewayDisabled,
    onConsole: (t) => process.stdout.write(t),
    out: o.out,
  });
  const meters = startMeters(o.repoRoot, machine.policy, machine.nets.LMN, 5000);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    o.out("\nstopping the machine ...");
    for (const m of meters) m.kill("SIGTERM");
    await machine.stop(true);
    o.out(`stopped; disk and TPM state kept in ${machine.paths.stateDir}`);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  const ready = await machine.waitReady(600_000);
  o.out(
    `\nready after ${ready.seconds.toFixed(1)} s${ready.failed.length ? `; failed units: ${ready.failed.join(", ")}` : ""}`,
  );
  const han = machine.policy.document.networks.HAN.address.split("/")[0];
  const alice = Object.values(machine.policy.endpoints).find((e) => e.role === "consumer");
  o.out("HAN passwords: image/build/debian/credentials.txt; from a consumer's device, e.g.:");
  o.out(
    `  ip netns exec ${machine.nets.HAN.namespace} curl --interface ${alice?.addresses[0] ?? ""} -u ${alice?.name ?? "NAME"}:PASSWORD http://${han}:8080/api/v1/meters`,
  );
  o.out(`stop with Ctrl-C or: smgw image stop --name ${o.name}`);
  await new Promise<never>(() => {});
}

export async function stopMachine(
  name: string,
  _repoRoot: string,
  out: (l: string) => void,
): Promise<void> {
  await stopByName(name, out);
}
