// One system user (and group of the same name) per unit, created if missing.
import { ok, run } from "./sh.ts";

export interface Ids {
  uid: number;
  gid: number;
}

export function lookupUser(name: string): Ids | undefined {
  const line = run(["getent", "passwd", name], { allowFail: true }).trim();
  if (!line) return undefined;
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export function ensureUser(name: string): Ids {
  const known = lookupUser(name);
  if (known) return known;
  if (!ok(["getent", "group", name])) run(["groupadd", "--system", name]);
  run([
    "useradd",
    "--system",
    "--gid",
    name,
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    "--comment",
    "smart meter gateway unit",
    name,
  ]);
  const made = lookupUser(name);
  if (!made) throw new Error(`could not create user ${name}`);
  return made;
}
