// Directories and files of a host-mode gateway. Each unit's IPC socket sits in a directory
// owned by the IFM's user with the unit's group and mode 0710: only that unit (and root) can
// reach it, so the IFM knows who is talking from where the connection arrived.
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { type Policy, type RuleTable, UNIT_NAMES, type UnitName } from "@smgw/policy";
import { ensureUser, type Ids } from "./users.ts";

export interface Layout {
  runDir: string;
  stateRoot: string;
  binary: string;
  policy: string;
  credentials: string;
  logDir: string;
  stateDir(unit: UnitName): string;
  notifySocket(unit: UnitName): string;
  ipcDir(unit: UnitName): string;
}

export function layoutOf(prefix: string): Layout {
  const runDir = `/run/${prefix}`;
  const stateRoot = `/var/lib/${prefix}`;
  return {
    runDir,
    stateRoot,
    binary: path.join(stateRoot, "bin", "smgwd"),
    policy: path.join(stateRoot, "etc", "policy.yaml"),
    credentials: path.join(stateRoot, "credentials.txt"),
    logDir: path.join(runDir, "log"),
    stateDir: (u) => path.join(stateRoot, "state", u),
    notifySocket: (u) => path.join(runDir, "notify", `${u}.sock`),
    ipcDir: (u) => path.join(runDir, "ipc", u),
  };
}

function dir(p: string, mode: number, owner?: Ids, group?: number): void {
  mkdirSync(p, { recursive: true });
  chmodSync(p, mode);
  chownSync(p, owner?.uid ?? 0, group ?? owner?.gid ?? 0);
}

/** Create users, directories, the installed binary and policy. Returns each unit's ids. */
export function prepareLayout(
  l: Layout,
  policy: Policy,
  table: RuleTable,
  builtBinary: string,
  policyFile: string,
): Record<UnitName, Ids> {
  const ids = Object.fromEntries(UNIT_NAMES.map((u) => [u, ensureUser(table.users[u])])) as Record<
    UnitName,
    Ids
  >;
  rmSync(l.runDir, { recursive: true, force: true });
  dir(l.runDir, 0o755);
  dir(path.join(l.runDir, "ipc"), 0o755);
  dir(path.join(l.runDir, "notify"), 0o755);
  dir(l.logDir, 0o750);
  for (const u of UNIT_NAMES) {
    if (u !== "ifm") dir(l.ipcDir(u), 0o710, ids.ifm, ids[u].gid);
  }
  dir(l.stateRoot, 0o755);
  dir(path.join(l.stateRoot, "bin"), 0o755);
  dir(path.join(l.stateRoot, "etc"), 0o755);
  dir(path.join(l.stateRoot, "state"), 0o755);
  for (const u of UNIT_NAMES) dir(l.stateDir(u), 0o700, ids[u]);
  copyFileSync(builtBinary, `${l.binary}.new`);
  chmodSync(`${l.binary}.new`, 0o755);
  Bun.spawnSync(["mv", "-f", `${l.binary}.new`, l.binary]);
  copyFileSync(policyFile, l.policy);
  chmodSync(l.policy, 0o644);
  // The profiles' tariff files, at the same place relative to the policy.
  for (const p of Object.values(policy.profiles)) {
    if (p.tariff === undefined) continue;
    const to = path.join(path.dirname(l.policy), p.tariff);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(path.join(path.dirname(policyFile), p.tariff), to);
    chmodSync(to, 0o644);
  }
  return ids;
}

export interface Account {
  name: string;
  role: "consumer" | "service-technician";
  password: string;
}

/**
 * HAN accounts for the policy's consumers and technician. Passwords are made once, kept for
 * root in credentials.txt, and given to the display only as argon2id hashes.
 */
export async function prepareAccounts(l: Layout, policy: Policy, display: Ids): Promise<Account[]> {
  const known = new Map<string, string>();
  if (existsSync(l.credentials)) {
    for (const line of readFileSync(l.credentials, "utf8").split("\n")) {
      const m = /^([a-z][a-z0-9-]*)\s+(\S+)\s+(\S+)$/.exec(line.trim());
      if (m?.[1] && m[3]) known.set(m[1], m[3]);
    }
  }
  const accounts: Account[] = Object.values(policy.endpoints)
    .filter((e) => e.role === "consumer" || e.role === "service-technician")
    .map((e) => ({
      name: e.name,
      role: e.role as Account["role"],
      password: known.get(e.name) ?? randomPassword(),
    }));
  writeFileSync(
    l.credentials,
    `# HAN accounts of this host-mode gateway: name role password\n${accounts.map((a) => `${a.name} ${a.role} ${a.password}`).join("\n")}\n`,
    { mode: 0o600 },
  );
  const hashed: Record<string, { role: string; passwordHash: string }> = {};
  for (const a of accounts) {
    hashed[a.name] = {
      role: a.role,
      passwordHash: await Bun.password.hash(a.password, { algorithm: "argon2id" }),
    };
  }
  const file = path.join(l.stateDir("display"), "accounts.json");
  writeFileSync(file, JSON.stringify(hashed, null, 2), { mode: 0o600 });
  chownSync(file, display.uid, display.gid);
  return accounts;
}

function randomPassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(14));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/**
 * The wireless M-Bus meters' AES keys, as an installer would bring them: made once per instance
 * (kept for root, so the simulated meters and the gateway agree across restarts), and handed to
 * the meter domain as its key import file, which it seals with the security module and deletes.
 */
export function prepareMeterKeys(l: Layout, policy: Policy, meter: Ids): Record<string, string> {
  const file = path.join(l.stateRoot, "wmbus-keys.json");
  const known: Record<string, string> = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>)
    : {};
  const keys: Record<string, string> = {};
  for (const e of Object.values(policy.endpoints)) {
    if (e.credential.kind !== "wmbus-id") continue;
    keys[e.name] =
      known[e.name] ?? Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
  }
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  const importFile = path.join(l.stateDir("meter"), "meter-keys.import.json");
  writeFileSync(importFile, JSON.stringify(keys), { mode: 0o600 });
  chownSync(importFile, meter.uid, meter.gid);
  return keys;
}
