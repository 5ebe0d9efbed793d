// The generated files checked by systemd's own tools, in a scratch root (see analyze.ts).
// Needs the Debian package systemd (252 or later); the sysusers/tmpfiles test needs root.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { parsePolicy, UNIT_NAMES } from "../policy/index.ts";
import { applyUsersAndDirectories, securityScores, systemdRoot, verifyUnits } from "./analyze.ts";
import { compileSystemd, serviceName } from "./compile.ts";

const SHIPPED = path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml");
const shippedText = await Bun.file(SHIPPED).text();
const files = compileSystemd(parsePolicy(shippedText, SHIPPED));
const units = Object.keys(files).filter((n) => n.endsWith(".service") || n.endsWith(".target"));

const roots: string[] = [];
function scratch(f: Record<string, string>): string {
  const root = systemdRoot(f);
  roots.push(root);
  return root;
}
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/**
 * Highest exposure accepted per unit, and the checks systemd still counts against it. The goal
 * is 2.0 ("OK"); every unit does better, and the limits are what was reached, so that a
 * weakened unit fails here. Left open, and why:
 * - all: RootDirectory= (the units run on the image's root file system), MemoryDenyWriteExecute=
 *   (Bun's JIT), AF_UNIX (IPC to the IFM), DeviceAllow= (ProtectClock= adds the RTC, read-only,
 *   to the device list);
 * - meter, admin, display, tcm: AF_INET, the host's network and IP peers that are not
 *   localhost, since they serve or use the policy's network flows (IPAddressAllow= lists only
 *   those flows' peers); cls has none: the TCM holds its TLS listener;
 * - net: the host's network and AF_NETLINK, to see the gateway's own links;
 * - crypto: no private /dev, since it needs the TPM (DevicePolicy=closed admits only that);
 * - ifm: no private user namespace, since it must see its peers' real ids.
 */
const COMMON_OPEN = [
  "RootDirectory=/RootImage=",
  "MemoryDenyWriteExecute=",
  "RestrictAddressFamilies=~AF_UNIX",
  "DeviceAllow=",
];
const NETWORKED_OPEN = [
  ...COMMON_OPEN,
  "RestrictAddressFamilies=~AF_(INET|INET6)",
  "PrivateNetwork=",
  "IPAddressDeny=",
];
const EXPECTED: Record<string, { max: number; open: string[] }> = {
  meter: { max: 1.0, open: NETWORKED_OPEN },
  admin: { max: 1.0, open: NETWORKED_OPEN },
  display: { max: 1.0, open: NETWORKED_OPEN },
  cls: { max: 0.2, open: COMMON_OPEN },
  tcm: { max: 1.0, open: NETWORKED_OPEN },
  net: {
    max: 0.7,
    open: [...COMMON_OPEN, "RestrictAddressFamilies=~AF_NETLINK", "PrivateNetwork="],
  },
  ifm: { max: 0.4, open: [...COMMON_OPEN, "PrivateUsers="] },
  crypto: { max: 0.4, open: [...COMMON_OPEN, "PrivateDevices="] },
  storage: { max: 0.2, open: COMMON_OPEN },
  sysmgmt: { max: 0.2, open: COMMON_OPEN },
};

describe("systemd-analyze verify", () => {
  test(
    "accepts every generated unit without a warning",
    () => {
      const result = verifyUnits(scratch(files), units);
      expect(result.output).toBe("");
      expect(result.ok).toBe(true);
    },
    { timeout: 60_000 },
  );

  test(
    "would notice a broken unit (the check is not vacuous)",
    () => {
      const meter = serviceName("meter");
      const broken = {
        ...files,
        [meter]: `${files[meter]}ProtectHome=perhaps\nNoSuchDirective=1\n`,
      };
      const root = scratch(broken);
      const result = verifyUnits(root, [meter]);
      expect(result.ok).toBe(false);
      expect(result.findings.join("\n")).toContain("NoSuchDirective");
      expect(result.findings.join("\n")).toContain("perhaps");
      rmSync(path.join(root, "usr/lib/smgw/smgwd"));
      const noBinary = verifyUnits(root, [serviceName("ifm")]);
      expect(noBinary.exitCode).not.toBe(0);
      expect(noBinary.output).toContain("/usr/lib/smgw/smgwd");
    },
    { timeout: 60_000 },
  );

  test(
    "accepts a unit whose policy description tries to break out of its line",
    () => {
      const doc = parseDocument(shippedText);
      doc.setIn(["units", "meter", "description"], "100% \\\nExecStartPre=/bin/false \\");
      const hostile = compileSystemd(parsePolicy(doc.toString(), "hostile.yaml"));
      const result = verifyUnits(scratch(hostile), [serviceName("meter")]);
      expect(result.output).toBe("");
      expect(result.ok).toBe(true);
    },
    { timeout: 60_000 },
  );
});

describe("systemd-analyze security --offline", () => {
  test(
    "every unit's exposure is within its limit (goal: 2.0 or better)",
    () => {
      const scores = securityScores(
        scratch(files),
        UNIT_NAMES.map((u) => serviceName(u)),
      );
      const rows = scores.map((s) => ({
        unit: s.unit,
        score: s.exposure.toFixed(1),
        rating: s.rating,
        open: s.open.join(" "),
      }));
      console.log(
        [
          "unit                  score  rating  not fully met",
          ...rows.map(
            (r) => `${r.unit.padEnd(22)}${r.score.padStart(5)}  ${r.rating.padEnd(7)} ${r.open}`,
          ),
        ].join("\n"),
      );
      for (const s of scores) {
        const unit = s.unit.replace(/^smgw-|\.service$/g, "");
        expect(s.exposure, s.unit).toBeLessThanOrEqual(2.0);
        expect(s.exposure, s.unit).toBeLessThanOrEqual(EXPECTED[unit]?.max ?? 0);
        expect([...s.open].sort(), s.unit).toEqual([...(EXPECTED[unit]?.open ?? [])].sort());
      }
    },
    { timeout: 120_000 },
  );
});

const isRoot = process.getuid?.() === 0;

describe("systemd-sysusers and systemd-tmpfiles", () => {
  test.skipIf(!isRoot)(
    "create the ten users and the directories with the owners and modes of the IPC model",
    () => {
      const root = scratch(files);
      const { users, groups } = applyUsersAndDirectories(root);
      const policy = parsePolicy(shippedText, SHIPPED);
      const id = (u: (typeof UNIT_NAMES)[number]) => {
        const found = users[policy.document.units[u].user];
        if (!found) throw new Error(`no user for ${u}`);
        return found;
      };
      for (const u of UNIT_NAMES) {
        const { uid, gid } = id(u);
        // Each user has its own group of the same name.
        expect(groups[policy.document.units[u].user]?.gid).toBe(gid);
        const state = statSync(path.join(root, "var/lib/smgw", u));
        expect([state.mode & 0o7777, state.uid, state.gid]).toEqual([0o700, uid, gid]);
        if (u === "ifm") continue;
        const ipc = statSync(path.join(root, "run/smgw/ipc", u));
        expect([ipc.mode & 0o7777, ipc.uid, ipc.gid]).toEqual([0o710, id("ifm").uid, gid]);
      }
      const data = statSync(path.join(root, "var/lib/smgw/data"));
      expect([data.mode & 0o7777, data.uid]).toEqual([0o700, id("storage").uid]);
      expect(groups.tss?.members).toEqual([policy.document.units.crypto.user]);
      // Parents: traversal only.
      for (const p of ["run/smgw", "run/smgw/ipc", "var/lib/smgw"]) {
        expect(statSync(path.join(root, p)).mode & 0o7777, p).toBe(0o711);
      }
      // Applying twice changes nothing (tmpfiles adjusts, never duplicates).
      const passwd = readFileSync(path.join(root, "etc/passwd"), "utf8");
      applyUsersAndDirectories(root);
      expect(readFileSync(path.join(root, "etc/passwd"), "utf8")).toBe(passwd);
    },
    { timeout: 60_000 },
  );
});
