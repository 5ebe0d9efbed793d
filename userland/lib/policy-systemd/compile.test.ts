import { describe, expect, test } from "bun:test";
import path from "node:path";
import fc from "fast-check";
import { parseDocument } from "yaml";
import { type Policy, parsePolicy, UNIT_NAMES } from "../policy/index.ts";
import {
  compileSystemd,
  GENERATED_HEADER,
  serviceName,
  unitFacts,
  unitFileText,
} from "./compile.ts";

const SHIPPED = path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml");
const shippedText = await Bun.file(SHIPPED).text();
const shipped = parsePolicy(shippedText, SHIPPED);

/** The shipped policy with one edit applied through the YAML document model. */
function edited(edit: (doc: ReturnType<typeof parseDocument>) => void): Policy {
  const doc = parseDocument(shippedText);
  edit(doc);
  return parsePolicy(doc.toString(), "edited.yaml");
}

function flowIndex(id: string): number {
  const doc = parseDocument(shippedText).toJS() as { flows: { id: string }[] };
  const i = doc.flows.findIndex((f) => f.id === id);
  if (i < 0) throw new Error(`no flow ${id}`);
  return i;
}

/** key -> values of one section of a unit file (comments and blank lines dropped). */
function directives(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header?.[1]) {
      current = header[1];
      continue;
    }
    const eq = line.indexOf("=");
    if (current !== section || eq < 0) continue;
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

function one(text: string, section: string, key: string): string | undefined {
  const values = directives(text, section).get(key);
  if (values && values.length > 1) throw new Error(`${key} set ${values.length} times`);
  return values?.[0];
}

const files = compileSystemd(shipped);
const service = (u: (typeof UNIT_NAMES)[number]): string => {
  const text = files[serviceName(u)];
  if (!text) throw new Error(`no service for ${u}`);
  return text;
};

describe("files", () => {
  test("one service per unit, the target, sysusers and tmpfiles", () => {
    expect(Object.keys(files).sort()).toEqual(
      [
        ...UNIT_NAMES.map((u) => `smgw-${u}.service`),
        "smgw.target",
        "smgw-sysusers.conf",
        "smgw-tmpfiles.conf",
      ].sort(),
    );
  });

  test("every file starts with the generated-file line and ends with a newline", () => {
    for (const [name, text] of Object.entries(files)) {
      expect(text.split("\n")[0], name).toBe(GENERATED_HEADER);
      expect(text.endsWith("\n"), name).toBe(true);
    }
  });

  test("pure: the same policy gives the same files and the policy is not changed", () => {
    const before = JSON.stringify(shipped);
    expect(compileSystemd(shipped)).toEqual(files);
    expect(JSON.stringify(shipped)).toBe(before);
  });
});

describe("services", () => {
  test("start the one executable as the policy's user, in the unit's SELinux domain", () => {
    for (const u of UNIT_NAMES) {
      const text = service(u);
      const user = shipped.document.units[u].user;
      expect(one(text, "Service", "ExecStart")).toBe(`/usr/lib/smgw/smgwd ${u}`);
      expect(one(text, "Service", "User")).toBe(user);
      expect(one(text, "Service", "Group")).toBe(user);
      expect(one(text, "Service", "SELinuxContext")).toBe(`system_u:system_r:smgw_${u}_t:s0`);
      expect(directives(text, "Service").get("Environment")).toEqual([
        "SMGW_POLICY=/etc/smgw/policy.yaml",
        "SMGW_RUN_DIR=/run/smgw",
        `SMGW_STATE_DIR=/var/lib/smgw/${u}`,
      ]);
    }
  });

  test("notify, watchdog, restart on failure but not on a bad configuration", () => {
    for (const u of UNIT_NAMES) {
      const text = service(u);
      expect(one(text, "Service", "Type")).toBe("notify");
      expect(one(text, "Service", "NotifyAccess")).toBe("main");
      expect(one(text, "Service", "WatchdogSec")).toBe("30s");
      expect(one(text, "Service", "Restart")).toBe("on-failure");
      expect(one(text, "Service", "RestartSec")).toBe("2s");
      expect(one(text, "Service", "RestartPreventExitStatus")).toBe("78");
      expect(one(text, "Unit", "StartLimitIntervalSec")).toBe("5min");
      expect(one(text, "Unit", "StartLimitBurst")).toBe("5");
      expect(one(text, "Unit", "PartOf")).toBe("smgw.target");
    }
  });

  test("the IFM first, kernel services before domains", () => {
    expect(directives(service("ifm"), "Unit").get("Requires")).toBeUndefined();
    const kernel = UNIT_NAMES.filter(
      (u) => shipped.document.units[u].kind === "service" && u !== "ifm",
    );
    for (const u of UNIT_NAMES.filter((n) => n !== "ifm")) {
      const unit = directives(service(u), "Unit");
      expect(unit.get("Requires")).toEqual(["smgw-ifm.service"]);
      const after = (unit.get("After") ?? []).flatMap((v) => v.split(" "));
      expect(after).toContain("smgw-ifm.service");
      if (shipped.document.units[u].kind === "domain") {
        for (const k of kernel) expect(after).toContain(serviceName(k));
      } else {
        expect(after.filter((a) => a.startsWith("smgw-") && a !== "smgw-ifm.service")).toEqual([]);
      }
    }
  });

  test("the same hardening for every unit", () => {
    const common: Record<string, string> = {
      NoNewPrivileges: "yes",
      CapabilityBoundingSet: "",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectKernelLogs: "yes",
      ProtectControlGroups: "yes",
      ProtectClock: "yes",
      ProtectHostname: "yes",
      RestrictNamespaces: "yes",
      RestrictRealtime: "yes",
      RestrictSUIDSGID: "yes",
      LockPersonality: "yes",
      RemoveIPC: "yes",
      UMask: "0077",
      ProcSubset: "pid",
      ProtectProc: "invisible",
      SystemCallArchitectures: "native",
      IPAddressDeny: "any",
    };
    for (const u of UNIT_NAMES) {
      const text = service(u);
      for (const [key, value] of Object.entries(common)) {
        expect(one(text, "Service", key), `${u} ${key}`).toBe(value);
      }
      expect(directives(text, "Service").get("SystemCallFilter")).toEqual([
        "@system-service",
        "~@privileged @resources",
      ]);
      expect(directives(text, "Service").get("AmbientCapabilities")).toBeUndefined();
      // Bun's JIT needs writable and executable memory.
      expect(directives(text, "Service").get("MemoryDenyWriteExecute")).toBeUndefined();
      expect(text).toContain("No MemoryDenyWriteExecute=: Bun's JIT");
    }
  });

  test("only crypto sees a device: the TPM's resource manager", () => {
    for (const u of UNIT_NAMES) {
      const text = service(u);
      if (u === "crypto") {
        expect(one(text, "Service", "PrivateDevices")).toBe("no");
        expect(one(text, "Service", "DevicePolicy")).toBe("closed");
        expect(one(text, "Service", "DeviceAllow")).toBe("/dev/tpmrm0 rw");
      } else {
        expect(one(text, "Service", "PrivateDevices")).toBe("yes");
        expect(one(text, "Service", "DeviceAllow")).toBeUndefined();
      }
    }
  });

  test("the IFM keeps the real user ids; every other unit gets a private user namespace", () => {
    for (const u of UNIT_NAMES) {
      expect(one(service(u), "Service", "PrivateUsers")).toBe(u === "ifm" ? "no" : "yes");
    }
  });

  test("writable: the unit's state, storage's data volume, the IFM's socket directories", () => {
    const writable = (u: (typeof UNIT_NAMES)[number]) =>
      one(service(u), "Service", "ReadWritePaths")?.split(" ");
    expect(writable("ifm")).toEqual([
      "/var/lib/smgw/ifm",
      ...UNIT_NAMES.filter((u) => u !== "ifm").map((u) => `/run/smgw/ipc/${u}`),
    ]);
    expect(writable("storage")).toEqual(["/var/lib/smgw/storage", "/var/lib/smgw/data"]);
    for (const u of UNIT_NAMES.filter((n) => n !== "ifm" && n !== "storage")) {
      expect(writable(u)).toEqual([`/var/lib/smgw/${u}`]);
    }
  });

  test("address families: IPv4 only for units with a network flow, netlink for net", () => {
    const expected: Record<string, string> = {
      meter: "AF_UNIX AF_INET",
      admin: "AF_UNIX AF_INET",
      display: "AF_UNIX AF_INET",
      cls: "AF_UNIX",
      tcm: "AF_UNIX AF_INET",
      net: "AF_UNIX AF_NETLINK",
      ifm: "AF_UNIX",
      crypto: "AF_UNIX",
      storage: "AF_UNIX",
      sysmgmt: "AF_UNIX",
    };
    for (const u of UNIT_NAMES) {
      expect(one(service(u), "Service", "RestrictAddressFamilies"), u).toBe(expected[u]);
      const privateNetwork = one(service(u), "Service", "PrivateNetwork");
      expect(privateNetwork, u).toBe(
        // cls: the TCM holds the CLS proxy's TLS listener, so cls needs no network at all.
        ["ifm", "crypto", "storage", "sysmgmt", "cls"].includes(u) ? "yes" : undefined,
      );
    }
  });

  test("IPAddressAllow: the peers of the flows whose sockets the unit holds (TLS: the TCM)", () => {
    for (const u of UNIT_NAMES) {
      const peers = new Set<string>();
      for (const f of shipped.networkFlows) {
        if (f.socketUnit !== u) continue;
        for (const e of f.endpoints)
          for (const a of shipped.endpoints[e]?.addresses ?? []) peers.add(a);
      }
      const allow = one(service(u), "Service", "IPAddressAllow");
      expect(new Set(allow?.split(" ") ?? []), u).toEqual(peers);
    }
    expect(one(service("meter"), "Service", "IPAddressAllow")).toBe(
      "198.51.100.11 198.51.100.12 198.51.100.13 198.51.100.21 198.51.100.22 198.51.100.23 198.51.100.24 198.51.100.25",
    );
    // The WAN endpoints it connects to and the CLS device whose TLS sessions it terminates.
    expect(one(service("tcm"), "Service", "IPAddressAllow")).toBe(
      "192.0.2.10 192.0.2.20 192.0.2.21 203.0.113.30",
    );
    expect(one(service("cls"), "Service", "IPAddressAllow")).toBeUndefined();
    expect(one(service("display"), "Service", "IPAddressAllow")).toBe(
      "203.0.113.10 203.0.113.11 203.0.113.40",
    );
  });

  test("listeners: the policy's ports and interfaces, nothing else", () => {
    const binds = (u: (typeof UNIT_NAMES)[number]) =>
      directives(service(u), "Service").get("SocketBindAllow");
    expect(binds("meter")).toEqual(["ipv4:tcp:7259", "ipv4:udp:7260"]);
    expect(binds("admin")).toEqual(["ipv4:udp:4711"]);
    expect(binds("display")).toEqual(["ipv4:tcp:8080"]);
    // The CLS proxy's TLS port is the TCM's: it terminates the devices' sessions.
    expect(binds("cls")).toBeUndefined();
    expect(binds("tcm")).toEqual(["ipv4:tcp:8443"]);
    expect(one(service("tcm"), "Service", "SocketBindDeny")).toBe("any");
    expect(one(service("meter"), "Service", "RestrictNetworkInterfaces")).toBe("lmn0");
    expect(one(service("tcm"), "Service", "RestrictNetworkInterfaces")).toBe("han0 wan0");
    expect(one(service("display"), "Service", "RestrictNetworkInterfaces")).toBe("han0");
    expect(one(service("ifm"), "Service", "RestrictNetworkInterfaces")).toBeUndefined();
  });

  test("every hardening directive a reviewer could question has a comment above it", () => {
    const explained = [
      "CapabilityBoundingSet",
      "ReadWritePaths",
      "PrivateUsers",
      "PrivateDevices",
      "RestrictAddressFamilies",
      "IPAddressDeny",
      "SystemCallErrorNumber",
      "SELinuxContext",
      "RestartPreventExitStatus",
      "WatchdogSec",
      "UMask",
      "LimitCORE",
    ];
    for (const u of UNIT_NAMES) {
      const lines = service(u).split("\n");
      for (const key of explained) {
        const at = lines.findIndex((l) => l.startsWith(`${key}=`));
        expect(at, `${u} ${key}`).toBeGreaterThan(0);
        expect(lines[at - 1]?.startsWith("# "), `${u} ${key}`).toBe(true);
      }
    }
  });
});

describe("target, users, directories", () => {
  test("the target wants every unit", () => {
    const target = files["smgw.target"] ?? "";
    expect(one(target, "Unit", "Wants")?.split(" ")).toEqual(UNIT_NAMES.map(serviceName));
    expect(one(target, "Install", "WantedBy")).toBe("multi-user.target");
  });

  test("sysusers: the ten users, each with its own group; crypto in tss for the TPM", () => {
    const lines = (files["smgw-sysusers.conf"] ?? "").split("\n").filter((l) => /^[a-z] /.test(l));
    const users = lines.filter((l) => l.startsWith("u ")).map((l) => l.split(" ")[1]);
    expect(users).toEqual(UNIT_NAMES.map((u) => shipped.document.units[u].user));
    expect(lines.filter((l) => l.startsWith("m "))).toEqual(["m smgw-crypto tss"]);
  });

  test("tmpfiles: IPC directories 0710 smgw-ifm:<unit>, state 0700, the data volume", () => {
    const lines = (files["smgw-tmpfiles.conf"] ?? "").split("\n").filter((l) => l.startsWith("d "));
    for (const u of UNIT_NAMES) {
      const user = shipped.document.units[u].user;
      if (u !== "ifm") expect(lines).toContain(`d /run/smgw/ipc/${u} 0710 smgw-ifm ${user} -`);
      expect(lines).toContain(`d /var/lib/smgw/${u} 0700 ${user} ${user} -`);
    }
    expect(lines).not.toContain("d /run/smgw/ipc/ifm 0710 smgw-ifm smgw-ifm -");
    expect(lines).toContain("d /var/lib/smgw/data 0700 smgw-storage smgw-storage -");
  });
});

describe("one flow changed, the output follows", () => {
  const changedFiles = (before: Record<string, string>, after: Record<string, string>) =>
    Object.keys(after)
      .filter((k) => before[k] !== after[k])
      .sort();

  test("meter listener port 7259 -> 7300: only the meter's service changes", () => {
    const policy = edited((doc) =>
      doc.setIn(["flows", flowIndex("lmn-meter-readings"), "transport", "port"], 7300),
    );
    const out = compileSystemd(policy);
    expect(changedFiles(files, out)).toEqual(["smgw-meter.service"]);
    const meter = out["smgw-meter.service"] ?? "";
    expect(meter).toContain("SocketBindAllow=ipv4:tcp:7300");
    expect(meter).not.toContain("7259");
  });

  test("a meter's address changes: the meter's IPAddressAllow follows", () => {
    const policy = edited((doc) =>
      doc.setIn(["endpoints", "meter-2", "addresses", 0], "198.51.100.99"),
    );
    const out = compileSystemd(policy);
    expect(changedFiles(files, out)).toEqual(["smgw-meter.service"]);
    expect(one(out["smgw-meter.service"] ?? "", "Service", "IPAddressAllow")).toBe(
      "198.51.100.11 198.51.100.13 198.51.100.21 198.51.100.22 198.51.100.23 198.51.100.24 198.51.100.25 198.51.100.99",
    );
  });

  test("the technician's flow removed: the display no longer admits its address", () => {
    const policy = edited((doc) => doc.deleteIn(["flows", flowIndex("han-technician-display")]));
    const out = compileSystemd(policy);
    expect(changedFiles(files, out)).toEqual(["smgw-display.service"]);
    const allow = one(out["smgw-display.service"] ?? "", "Service", "IPAddressAllow");
    expect(allow).toBe("203.0.113.10 203.0.113.11");
  });

  test("the CLS proxy's HAN flow removed: the TCM no longer binds its port or admits the device", () => {
    const policy = edited((doc) => doc.deleteIn(["flows", flowIndex("han-cls-proxy")]));
    const tcm = compileSystemd(policy)["smgw-tcm.service"] ?? "";
    expect(one(tcm, "Service", "IPAddressAllow")).toBe("192.0.2.10 192.0.2.20 192.0.2.21");
    expect(one(tcm, "Service", "RestrictNetworkInterfaces")).toBe("wan0");
    expect(tcm).not.toContain("8443");
    expect(one(tcm, "Service", "SocketBindDeny")).toBe("any");
  });

  test("a unit's user renamed: service, sysusers and tmpfiles all follow", () => {
    const policy = edited((doc) => doc.setIn(["units", "meter", "user"], "smgw-lmn"));
    const out = compileSystemd(policy);
    expect(changedFiles(files, out)).toEqual([
      "smgw-meter.service",
      "smgw-sysusers.conf",
      "smgw-tmpfiles.conf",
    ]);
    expect(one(out["smgw-meter.service"] ?? "", "Service", "User")).toBe("smgw-lmn");
    expect(out["smgw-tmpfiles.conf"]).toContain("d /run/smgw/ipc/meter 0710 smgw-ifm smgw-lmn -");
    expect(out["smgw-sysusers.conf"]).not.toContain("smgw-meter");
  });
});

describe("policy text in unit files", () => {
  test("a hostile description stays one line, with % escaped", () => {
    const policy = edited((doc) =>
      doc.setIn(["units", "meter", "description"], "50% of\nExecStartPre=/bin/sh -c evil \\"),
    );
    const meter = compileSystemd(policy)["smgw-meter.service"] ?? "";
    expect(meter).toContain(
      "Description=Smart Meter Gateway meter: 50%% of ExecStartPre=/bin/sh -c evil\n",
    );
    expect(directives(meter, "Unit").get("ExecStartPre")).toBeUndefined();
  });

  test("unitFileText: one line, no bare %, no line continuation, for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (s) => {
        const t = unitFileText(s);
        expect(t).not.toMatch(/[\n\r\p{Cc}]/u);
        expect(t.replaceAll("%%", "")).not.toContain("%");
        expect(t.endsWith("\\")).toBe(false);
        expect(t).toBe(t.trim());
      }),
    );
  });

  test("unitFacts of the shipped policy", () => {
    expect(unitFacts(shipped, "admin")).toEqual({
      unit: "admin",
      kind: "domain",
      user: "smgw-admin",
      description: shipped.document.units.admin.description,
      peers: ["192.0.2.10"],
      interfaces: ["wan0"],
      binds: [{ protocol: "udp", port: 4711 }],
      networked: true,
    });
  });
});
