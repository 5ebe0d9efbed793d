// Loading the ruleset into a network namespace, checking it without touching any, and reading
// its counters back. Everything here runs the `nft` tool; compile.ts stays pure.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TABLE } from "./compile.ts";

/** `nft` refused a ruleset or a command failed. */
export class PacketFilterError extends Error {
  override name = "PacketFilterError";
}

/** `nft -j` printed something that is not the counter listing expected. */
export class CounterListingError extends Error {
  override name = "CounterListingError";
}

export interface Counter {
  packets: number;
  bytes: number;
}

/** Largest listing read; the gateway's table has a few dozen counters. */
export const MAX_LISTING_BYTES = 4 << 20;

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkNamespace(namespace: string): void {
  if (!NAMESPACE.test(namespace)) {
    throw new PacketFilterError(`network namespace name "${namespace}" is not valid`);
  }
}

function run(cmd: string[], input?: string): { ok: boolean; out: string; err: string } {
  let p: ReturnType<typeof Bun.spawnSync>;
  try {
    p = Bun.spawnSync(cmd, {
      stdin: input === undefined ? "ignore" : new TextEncoder().encode(input),
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (e) {
    throw new PacketFilterError(`${cmd[0]} could not be started: ${(e as Error).message}`);
  }
  return { ok: p.success, out: p.stdout?.toString() ?? "", err: p.stderr?.toString() ?? "" };
}

/** Load a ruleset into a network namespace (`ip netns exec NS nft -f -`). Needs root. */
export function applyPacketFilter(namespace: string, ruleset: string): void {
  checkNamespace(namespace);
  const r = run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], ruleset);
  if (!r.ok) {
    throw new PacketFilterError(`nft refused the ruleset in ${namespace}: ${r.err.trim()}`);
  }
}

/** The named counters of the gateway's table in a network namespace. Needs root. */
export function readCounters(namespace: string): Record<string, Counter> {
  checkNamespace(namespace);
  const r = run([
    "ip",
    "netns",
    "exec",
    namespace,
    "nft",
    "-j",
    "list",
    "counters",
    "table",
    "inet",
    TABLE,
  ]);
  if (!r.ok) throw new PacketFilterError(`nft list counters in ${namespace}: ${r.err.trim()}`);
  return parseCounters(r.out);
}

/**
 * Counters of table inet smgw from `nft -j list counters` output. Throws CounterListingError
 * saying what is wrong and where.
 */
export function parseCounters(listing: string): Record<string, Counter> {
  if (listing.length > MAX_LISTING_BYTES) {
    throw new CounterListingError(`listing larger than ${MAX_LISTING_BYTES} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(listing);
  } catch (e) {
    throw new CounterListingError(`listing is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(parsed) || !Array.isArray(parsed.nftables)) {
    throw new CounterListingError('listing has no "nftables" array at the top');
  }
  const counters: Record<string, Counter> = Object.create(null);
  parsed.nftables.forEach((item: unknown, i: number) => {
    const at = `nftables[${i}]`;
    if (!isObject(item)) throw new CounterListingError(`${at} is not an object`);
    if (!("counter" in item)) return; // metainfo and other objects
    const c = item.counter;
    if (!isObject(c)) throw new CounterListingError(`${at}.counter is not an object`);
    if (c.family !== "inet" || c.table !== TABLE) return;
    if (typeof c.name !== "string" || c.name.length === 0 || c.name.length > 256) {
      throw new CounterListingError(`${at}.counter.name is not a counter name`);
    }
    for (const k of ["packets", "bytes"] as const) {
      const v = c[k];
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
        throw new CounterListingError(`${at}.counter.${k} of ${c.name} is not a count`);
      }
    }
    counters[c.name] = { packets: c.packets as number, bytes: c.bytes as number };
  });
  return counters;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * `nft -c -f` on a ruleset inside a fresh user, network and mount namespace, so it needs no
 * root and touches no real ruleset. `meta skuid "NAME"` is resolved while parsing, so the
 * units' users are added to a private /etc/passwd (bind-mounted in that namespace) when this
 * machine has not created them.
 */
export function checkRuleset(
  ruleset: string,
  users: string[],
): { ok: true } | { ok: false; errors: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "smgw-nft-check-"));
  try {
    const passwd = readFileSync("/etc/passwd", "utf8");
    const known = new Set(passwd.split("\n").map((l) => l.split(":")[0]));
    const extra = users
      .filter((u) => !known.has(u))
      .map((u, i) => `${u}:x:${60_000 + i}:${60_000 + i}::/nonexistent:/usr/sbin/nologin`);
    const passwdFile = path.join(dir, "passwd");
    const rulesFile = path.join(dir, "nftables.conf");
    writeFileSync(passwdFile, `${passwd.trimEnd()}\n${extra.join("\n")}\n`);
    writeFileSync(rulesFile, ruleset);
    const r = run([
      "unshare",
      "--user",
      "--map-root-user",
      "--net",
      "--mount",
      "sh",
      "-c",
      'mount --bind "$1" /etc/passwd && exec nft -c -f "$2"',
      "sh",
      passwdFile,
      rulesFile,
    ]);
    return r.ok ? { ok: true } : { ok: false, errors: `${r.err}${r.out}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
