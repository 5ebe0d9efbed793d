// `smgw`: the one command-line entry for people and scripts.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { compileRuleTable, loadPolicyFile, PolicyError } from "@smgw/policy";

const REPO = path.resolve(import.meta.dir, "../..");
const DEFAULT_POLICY = path.join(REPO, "policy", "smgw.policy.yaml");

export const USAGE = `usage: smgw COMMAND [options]

Host mode (the whole gateway on this machine, as root):
  smgw up [--name NAME] [--policy FILE] [--meter-interval SECONDS] [--log-level LEVEL]
          [--taf-period SECONDS] [--taf-delivery SECONDS]
      start the gateway in network namespaces NAME-gw, NAME-wan, NAME-lmn, NAME-han
      (NAME defaults to smgw); runs until Ctrl-C or 'smgw down'. --taf-period and
      --taf-delivery shorten the tariff profiles' measuring period and TAF7 delivery
      interval (the policy's: 900 s and a day) to watch them at work
  smgw down [--name NAME]
      stop it and remove its namespaces and processes

Policy:
  smgw policy check [FILE]
      validate a policy file; print its flows, or each problem with its line
  smgw policy build [FILE]
      regenerate the enforcement layers from the policy (committed, reviewed as diffs):
      image/generated/systemd/ (units, sysusers, tmpfiles), image/generated/nftables.conf,
      selinux/generated/ (CIL module, file contexts, port labels)

Test image (QEMU, SELinux enforcing, encrypted data volume; as root):
  smgw image build [--policy FILE] [--generated DIR] [--selinux DIR]
      build the Debian test image from the policy and the generated files
  smgw image boot [--name NAME] [--fresh] [--gateway-disabled]
      boot it in QEMU, NICs in namespaces NAME-wan, NAME-lmn, NAME-han (NAME defaults to
      smgwvm); prints the console; runs until Ctrl-C or 'smgw image stop'
  smgw image stop [--name NAME]
      stop it and remove its TPM, taps and namespaces

Meter domain tools:
  smgw lmn decode [--key HEX] HEX...
      decode wireless M-Bus / OMS (or wired M-Bus) telegrams to JSON
  smgw taf bill --meter-data FILE --supplier FILE
      billing registers of a TAF1/TAF2 period from AR 2418-6 documents, as JSON

Simulated peers (host mode starts these itself):
  smgw sim meter --id ID --source ADDR --gateway ADDR --port PORT [--interval MS] [--count N]
      an SML meter on the LMN
  smgw sim wmbus --manufacturer ABC --id 12345678 --medium M --security 5|7 --key-file FILE
                 --gateway ADDR --port PORT [--source ADDR] [--interval MS] [--count N]
      a wireless M-Bus meter whose telegrams reach the gateway's radio receiver
  smgw sim emt --policy FILE --pki DIR --entity NAME --address ADDR --port PORT --out DIR
      an EMT that takes the gateway's signed deliveries over TLS and checks them

  smgw --help     this text
`;

export class UsageError extends Error {
  override name = "UsageError";
}

type Out = (line: string) => void;

export async function runCli(argv: string[], out: Out = (l) => console.log(l)): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case "--help":
    case "-h":
    case "help":
      out(USAGE);
      return command === undefined ? 64 : 0;
    case "up":
      return cmdUp(rest, out);
    case "down":
      return cmdDown(rest, out);
    case "policy":
      return cmdPolicy(rest, out);
    case "sim":
      return cmdSim(rest);
    case "taf":
      return cmdTaf(rest, out);
    case "lmn":
      return cmdLmn(rest, out);
    case "image":
      return cmdImage(rest, out);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function options<T extends Record<string, { type: "string" | "boolean"; default?: string }>>(
  args: string[],
  spec: T,
  positionals = false,
) {
  try {
    return parseArgs({ args, options: spec, strict: true, allowPositionals: positionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function cmdUp(args: string[], out: Out): Promise<number> {
  const { values } = options(args, {
    name: { type: "string", default: "smgw" },
    policy: { type: "string", default: DEFAULT_POLICY },
    "meter-interval": { type: "string", default: "5" },
    "taf-period": { type: "string" },
    "taf-delivery": { type: "string" },
    "log-level": { type: "string", default: "info" },
  });
  const tafSeconds = (name: "taf-period" | "taf-delivery", check: (n: number) => boolean) => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || !check(n)) throw new UsageError(`--${name} ${v} is not allowed`);
    return n;
  };
  // The measuring period must divide an hour (the quarter hours' grid).
  const tafPeriodSeconds = tafSeconds("taf-period", (n) => n >= 1 && 3600 % n === 0);
  const tafDeliverySeconds = tafSeconds("taf-delivery", (n) => n >= 1 && n <= 86400);
  const seconds = Number(values["meter-interval"]);
  if (!(seconds >= 0.2 && seconds <= 3600))
    throw new UsageError("--meter-interval must be 0.2 to 3600 seconds");
  if (!["debug", "info", "warn", "error"].includes(String(values["log-level"]))) {
    throw new UsageError("--log-level must be debug, info, warn or error");
  }
  const { up } = await import("@smgw/hostmode");
  await up({
    prefix: String(values.name),
    policyFile: path.resolve(String(values.policy)),
    repoRoot: REPO,
    meterIntervalMs: Math.round(seconds * 1000),
    ...(tafPeriodSeconds ? { tafPeriodSeconds } : {}),
    ...(tafDeliverySeconds ? { tafDeliverySeconds } : {}),
    logLevel: String(values["log-level"]),
    out,
  });
  return 0;
}

async function cmdDown(args: string[], out: Out): Promise<number> {
  const { values } = options(args, { name: { type: "string", default: "smgw" } });
  const { down } = await import("@smgw/hostmode");
  await down(String(values.name), out);
  return 0;
}

async function cmdPolicy(args: string[], out: Out): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "check" && sub !== "build") {
    throw new UsageError(`unknown policy command "${sub ?? ""}" (try: smgw policy check)`);
  }
  const { positionals } = options(rest, {}, true);
  if (positionals.length > 1) throw new UsageError(`policy ${sub} takes one file`);
  const file = positionals[0] ?? DEFAULT_POLICY;
  if (sub === "build") return buildOutputs(file, out);
  try {
    const table = compileRuleTable(await loadPolicyFile(file));
    out(`policy ${file} is valid (sha256 ${table.digest.slice(0, 16)})`);
    for (const [from, byTo] of Object.entries(table.ipc)) {
      for (const [to, types] of Object.entries(byTo ?? {})) {
        for (const [type, r] of Object.entries(types))
          out(`  ipc  ${from} -> ${to}  ${type}  [${r.flow}, ${r.rule}]`);
      }
    }
    for (const l of table.listeners) {
      out(
        `  net  ${l.network} ${l.protocol}/${l.port} -> ${l.unit}  from ${l.peers.join(", ")}  [${l.flow}]`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof PolicyError) {
      out(e.message);
      return 1;
    }
    throw e;
  }
}

/** Write every enforcement layer generated from the policy into the repository. */
async function buildOutputs(file: string, out: Out): Promise<number> {
  let policy: Awaited<ReturnType<typeof loadPolicyFile>>;
  try {
    policy = await loadPolicyFile(file);
  } catch (e) {
    if (e instanceof PolicyError) {
      out(e.message);
      return 1;
    }
    throw e;
  }
  const systemd = await import("@smgw/policy-systemd");
  const dir = path.join(REPO, systemd.GENERATED_DIR);
  const stale = systemd.staleSystemdFiles(dir, policy);
  const files = systemd.writeSystemd(dir, policy);
  out(
    `${systemd.GENERATED_DIR}: ${files.length} files, ${stale.length ? `changed: ${stale.join(", ")}` : "unchanged"}`,
  );
  const selinux = await import("@smgw/policy-selinux");
  const selinuxDir = path.join(REPO, "selinux", "generated");
  const selinuxBefore = snapshot(selinuxDir);
  selinux.write(policy, selinuxDir);
  out(`selinux/generated: ${selinuxBefore === snapshot(selinuxDir) ? "unchanged" : "changed"}`);
  const nft = await import("@smgw/policy-nft");
  const nftFile = path.join(REPO, "image", "generated", nft.NFTABLES_FILE);
  const before = existsSync(nftFile) ? readFileSync(nftFile, "utf8") : "";
  nft.write(path.dirname(nftFile), policy);
  out(
    `image/generated/${nft.NFTABLES_FILE}: ${before === readFileSync(nftFile, "utf8") ? "unchanged" : "changed"}`,
  );
  return 0;
}

/** The contents of a folder's files, to tell whether a build changed any. */
function snapshot(dir: string): string {
  if (!existsSync(dir)) return "";
  return readdirSync(dir)
    .sort()
    .map((f) => `${f}\0${readFileSync(path.join(dir, f), "utf8")}`)
    .join("\0");
}

async function cmdTaf(args: string[], out: Out): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "bill")
    throw new UsageError(`unknown taf command "${sub ?? ""}" (try: smgw taf bill)`);
  const { runTafBill } = await import("@smgw/taf");
  const r = runTafBill(rest);
  out(r.output.trimEnd());
  return r.exitCode;
}

async function cmdLmn(args: string[], out: Out): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "decode")
    throw new UsageError(`unknown lmn command "${sub ?? ""}" (try: smgw lmn decode)`);
  const { runDecode } = await import("@smgw/wmbus");
  const r = runDecode(rest);
  out(r.output.trimEnd());
  return r.exitCode;
}

async function cmdImage(args: string[], out: Out): Promise<number> {
  const { ImageUsageError, runImageCli } = await import("../image/cli.ts");
  try {
    return await runImageCli(args, REPO, out);
  } catch (e) {
    if (e instanceof ImageUsageError) throw new UsageError(e.message);
    throw e;
  }
}

async function cmdSim(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (kind === "wmbus") {
    const { runWmbusSimCli, WmbusSimUsageError } = await import("@smgw/sim/wmbus.ts");
    try {
      return await runWmbusSimCli(rest);
    } catch (e) {
      if (e instanceof WmbusSimUsageError) throw new UsageError(e.message);
      throw e;
    }
  }
  if (kind === "emt") {
    const { runEmtCli } = await import("@smgw/sim/emt.ts");
    await runEmtCli(rest);
    return 0;
  }
  if (kind !== "meter")
    throw new UsageError(`unknown simulated peer "${kind ?? ""}" (try: smgw sim meter|wmbus|emt)`);
  const { values } = options(rest, {
    id: { type: "string" },
    source: { type: "string" },
    gateway: { type: "string" },
    port: { type: "string" },
    interval: { type: "string", default: "5000" },
    count: { type: "string", default: "0" },
  });
  for (const k of ["id", "source", "gateway", "port"] as const) {
    if (!values[k]) throw new UsageError(`sim meter needs --${k}`);
  }
  const { runSimMeter } = await import("@smgw/sim/meter.ts");
  await runSimMeter({
    serverId: String(values.id),
    source: String(values.source),
    gateway: String(values.gateway),
    port: Number(values.port),
    intervalMs: Number(values.interval),
    count: Number(values.count),
  });
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await runCli(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`smgw: ${e.message}\n\n${USAGE}`);
      process.exitCode = 64;
    } else {
      process.stderr.write(`smgw: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
