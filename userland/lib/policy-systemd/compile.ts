// The policy compiler's systemd output: one hardened service per unit, the target that starts
// them all, and the sysusers.d and tmpfiles.d entries for the units' users and directories.
// A pure function of the parsed policy: what a unit may reach on the network, which ports it
// may bind and whether it gets a network at all follow from the policy's flows.
import { type Policy, UNIT_NAMES, type UnitName } from "@smgw/policy";

export const GENERATED_HEADER =
  "# Generated from policy/smgw.policy.yaml by `smgw policy build`; do not edit.";

/** Where the appliance installs the gateway (see ARCHITECTURE.md). */
export const INSTALL = {
  binary: "/usr/lib/smgw/smgwd",
  policy: "/etc/smgw/policy.yaml",
  runDir: "/run/smgw",
  stateRoot: "/var/lib/smgw",
  /** The data volume; only storage writes it. */
  dataDir: "/var/lib/smgw/data",
  /** The TPM's resource manager; only crypto opens it. */
  tpmDevice: "/dev/tpmrm0",
} as const;

/** Seconds between watchdog deadlines; the daemons ping at half of it. */
export const WATCHDOG_SEC = 30;

export function serviceName(unit: UnitName): string {
  return `smgw-${unit}.service`;
}

export function ipcDir(unit: UnitName): string {
  return `${INSTALL.runDir}/ipc/${unit}`;
}

export function stateDir(unit: UnitName): string {
  return `${INSTALL.stateRoot}/${unit}`;
}

/** What the policy says about one unit, as far as its service manager cares. */
export interface UnitFacts {
  unit: UnitName;
  kind: "domain" | "service";
  user: string;
  description: string;
  /** Addresses of the endpoints of the unit's network flows, inbound and outbound. */
  peers: string[];
  /** The gateway interfaces of those flows. */
  interfaces: string[];
  /** The unit's listeners: what it may bind. */
  binds: { protocol: "tcp" | "udp"; port: number }[];
  /** Whether any network flow names this unit. */
  networked: boolean;
}

export function unitFacts(policy: Policy, unit: UnitName): UnitFacts {
  const doc = policy.document;
  // The flows whose socket this unit holds: every TLS flow's is the TCM's.
  const flows = policy.networkFlows.filter((f) => f.socketUnit === unit);
  const peers = new Set<string>();
  for (const f of flows) {
    for (const e of f.endpoints) for (const a of policy.endpoints[e]?.addresses ?? []) peers.add(a);
  }
  const binds = new Map<string, { protocol: "tcp" | "udp"; port: number }>();
  for (const f of flows.filter((n) => n.direction === "inbound")) {
    binds.set(`${f.protocol}:${f.port}`, { protocol: f.protocol, port: f.port });
  }
  return {
    unit,
    kind: doc.units[unit].kind,
    user: doc.units[unit].user,
    description: doc.units[unit].description,
    peers: [...peers].sort(compareAddresses),
    interfaces: [...new Set(flows.map((f) => doc.networks[f.network].interface))].sort(),
    binds: [...binds.values()].sort((a, b) =>
      a.protocol === b.protocol ? a.port - b.port : a.protocol < b.protocol ? -1 : 1,
    ),
    networked: flows.length > 0,
  };
}

/** File name -> content of every generated file. */
export function compileSystemd(policy: Policy): Record<string, string> {
  const facts = UNIT_NAMES.map((u) => unitFacts(policy, u));
  const files: Record<string, string> = {};
  for (const f of facts) files[serviceName(f.unit)] = serviceFile(f, facts);
  files["smgw.target"] = targetFile();
  files["smgw-sysusers.conf"] = sysusersFile(facts);
  files["smgw-tmpfiles.conf"] = tmpfilesFile(facts);
  return files;
}

interface Directive {
  /** One line saying why, for anything a reviewer could wonder about. */
  why?: string;
  key: string;
  value: string;
}

function section(name: string, directives: Directive[]): string {
  const lines = [`[${name}]`];
  for (const d of directives) {
    if (d.why) lines.push(`# ${d.why}`);
    lines.push(`${d.key}=${d.value}`);
  }
  return lines.join("\n");
}

function serviceFile(f: UnitFacts, all: UnitFacts[]): string {
  const u = f.unit;
  const unit: Directive[] = [
    { key: "Description", value: `Smart Meter Gateway ${u}: ${unitFileText(f.description)}` },
  ];
  if (u !== "ifm") {
    const why = "Units reach each other only through the IFM's sockets; without it a unit is idle.";
    unit.push({ why, key: "Requires", value: serviceName("ifm") });
    unit.push({ key: "After", value: serviceName("ifm") });
  }
  if (f.kind === "domain") {
    const services = all.filter((o) => o.kind === "service" && o.unit !== "ifm");
    unit.push({
      why: "Kernel services start before the domains that use them.",
      key: "After",
      value: services.map((o) => serviceName(o.unit)).join(" "),
    });
  }
  if (f.networked) {
    const why = "Its network flows use the gateway's addresses, which must be configured first.";
    unit.push({ why, key: "Wants", value: "network-online.target" });
    unit.push({ key: "After", value: "network-online.target" });
  }
  unit.push(
    {
      why: "Stopping or restarting smgw.target does the same to this unit.",
      key: "PartOf",
      value: "smgw.target",
    },
    {
      why: "More than 5 starts in 5 minutes: leave it failed for the operator to look at.",
      key: "StartLimitIntervalSec",
      value: "5min",
    },
    { key: "StartLimitBurst", value: "5" },
  );

  const service: Directive[] = [
    { key: "Type", value: "notify" },
    {
      why: "Readiness and watchdog pings come from the daemon's own process only.",
      key: "NotifyAccess",
      value: "main",
    },
    {
      why: "One executable for all units; the argument picks the unit.",
      key: "ExecStart",
      value: `${INSTALL.binary} ${u}`,
    },
    {
      why: "The daemon pings at half this interval; a hung unit is killed and restarted.",
      key: "WatchdogSec",
      value: `${WATCHDOG_SEC}s`,
    },
    { key: "Restart", value: "on-failure" },
    { key: "RestartSec", value: "2s" },
    {
      why: "Exit 78 (EX_CONFIG) is a bad configuration, which a restart cannot fix.",
      key: "RestartPreventExitStatus",
      value: "78",
    },
    {
      why: "The unit's own user from the policy; its group is the one let into its IPC directory.",
      key: "User",
      value: f.user,
    },
    { key: "Group", value: f.user },
    {
      why: "Journal entries name the unit, not the shared executable.",
      key: "SyslogIdentifier",
      value: `smgw-${u}`,
    },
    { key: "Environment", value: `SMGW_POLICY=${INSTALL.policy}` },
    { key: "Environment", value: `SMGW_RUN_DIR=${INSTALL.runDir}` },
    { key: "Environment", value: `SMGW_STATE_DIR=${stateDir(u)}` },
    {
      why: "One executable, ten domains: systemd sets the unit's domain, the file label cannot.",
      key: "SELinuxContext",
      value: `system_u:system_r:smgw_${u}_t:s0`,
    },
    ...hardening(f),
  ];

  const parts = [GENERATED_HEADER, section("Unit", unit), section("Service", service)];
  return `${parts.join("\n\n")}\n`;
}

function hardening(f: UnitFacts): Directive[] {
  const u = f.unit;
  const d: Directive[] = [];
  const add = (key: string, value: string, why?: string) =>
    d.push(why ? { why, key, value } : { key, value });

  // Privileges.
  add(
    "CapabilityBoundingSet",
    "",
    u === "net"
      ? "None, not even CAP_NET_ADMIN: root loads the packet filter at boot; net only watches links."
      : f.networked
        ? "No capabilities: its ports are above 1023 and its files are its own."
        : "No capabilities: it uses only its own files and file-system sockets.",
  );
  add("NoNewPrivileges", "yes");
  add("RestrictSUIDSGID", "yes");
  add(
    "LimitCORE",
    "0",
    "A core dump would hold consumer data or key handles; crashes are logged, not dumped.",
  );

  // File system.
  add("ProtectSystem", "strict", "Everything is read-only except ReadWritePaths=.");
  const writable =
    u === "ifm"
      ? [stateDir(u), ...UNIT_NAMES.filter((o) => o !== "ifm").map(ipcDir)]
      : u === "storage"
        ? [stateDir(u), INSTALL.dataDir]
        : [stateDir(u)];
  add(
    "ReadWritePaths",
    writable.join(" "),
    u === "ifm"
      ? "Its state and every unit's IPC directory, where it creates the sockets."
      : u === "storage"
        ? "Its state and the data volume; only storage writes it."
        : "Its state only: connecting to the IFM's socket needs no write access to the mount.",
  );
  add("ProtectHome", "yes");
  add("PrivateTmp", "yes");
  add("UMask", "0077", "Files it creates are its own; the IFM opens its sockets explicitly.");
  add("ProtectProc", "invisible", "Other users' processes are hidden in /proc.");
  add("ProcSubset", "pid", "Only /proc/PID: no kernel tunables or system-wide counters.");

  // Devices.
  if (u === "crypto") {
    add(
      "PrivateDevices",
      "no",
      `It needs the TPM, ${INSTALL.tpmDevice}; the device policy below allows only that one.`,
    );
    add("DevicePolicy", "closed", "Only the pseudo devices (null, zero, random ...) and:");
    add("DeviceAllow", `${INSTALL.tpmDevice} rw`);
  } else {
    add(
      "PrivateDevices",
      "yes",
      "A /dev of its own with only the pseudo devices (null, random ...).",
    );
  }

  // Users and namespaces.
  add(
    "PrivateUsers",
    u === "ifm" ? "no" : "yes",
    u === "ifm"
      ? "No: the IFM must see its peers' real ids (directory owners now, SO_PEERCRED later)."
      : "Maps only its own user and root; file access is still checked on the real ids.",
  );
  add("PrivateIPC", "yes", "No System V IPC or POSIX queues shared with anyone.");
  add("PrivateMounts", "yes");
  add("RestrictNamespaces", "yes");
  add("ProtectHostname", "yes");
  add("ProtectClock", "yes");
  add("ProtectKernelTunables", "yes");
  add("ProtectKernelModules", "yes");
  add("ProtectKernelLogs", "yes");
  add("ProtectControlGroups", "yes");
  add("RestrictRealtime", "yes");
  add("LockPersonality", "yes");
  add("RemoveIPC", "yes");
  d.push({
    why: "No MemoryDenyWriteExecute=: Bun's JIT needs writable+executable memory (SELinux execmem).",
    key: "SystemCallArchitectures",
    value: "native",
  });
  add(
    "SystemCallFilter",
    "@system-service",
    "Ordinary service calls, less the privileged and resource-changing ones.",
  );
  add("SystemCallFilter", "~@privileged @resources");
  add(
    "SystemCallErrorNumber",
    "EPERM",
    "A refused call fails with EPERM instead of killing the unit; libraries cope with that.",
  );

  // Network.
  const families = ["AF_UNIX"];
  if (f.networked) families.push("AF_INET");
  if (u === "net") families.push("AF_NETLINK");
  add(
    "RestrictAddressFamilies",
    families.join(" "),
    f.networked
      ? "IPC to the IFM and IPv4 for its network flows (the policy's addresses are IPv4)."
      : u === "net"
        ? "IPC to the IFM and netlink for the links' state."
        : u === "crypto"
          ? "IPC to the IFM and to pcscd (the security module), both file-system sockets."
          : "IPC to the IFM only.",
  );
  if (!f.networked && u !== "net") {
    add(
      "PrivateNetwork",
      "yes",
      "No network flow in the policy: a loopback of its own; file-system UNIX sockets still work.",
    );
  }
  add(
    "IPAddressDeny",
    "any",
    f.peers.length > 0
      ? "No IP traffic except with the peers of its flows in the policy."
      : "No IP traffic at all.",
  );
  if (f.peers.length > 0) add("IPAddressAllow", f.peers.join(" "));
  if (f.interfaces.length > 0) {
    add(
      "RestrictNetworkInterfaces",
      f.interfaces.join(" "),
      "Only the interfaces of its flows (needs systemd built with its BPF framework).",
    );
  }
  f.binds.forEach((b, i) => {
    const why = "It binds only its listeners (also BPF framework; IPAddressAllow= holds anyway).";
    add("SocketBindAllow", `ipv4:${b.protocol}:${b.port}`, i === 0 ? why : undefined);
  });
  if (f.networked) add("SocketBindDeny", "any");
  return d;
}

function targetFile(): string {
  const unit = section("Unit", [
    { key: "Description", value: "Smart Meter Gateway (all units)" },
    {
      why: "Each unit orders itself after the IFM and, for domains, the kernel services.",
      key: "Wants",
      value: UNIT_NAMES.map(serviceName).join(" "),
    },
  ]);
  const install = section("Install", [{ key: "WantedBy", value: "multi-user.target" }]);
  return `${[GENERATED_HEADER, unit, install].join("\n\n")}\n`;
}

function sysusersFile(facts: UnitFacts[]): string {
  const lines = [
    GENERATED_HEADER,
    "# One system user per unit, each with its own group: the group names who may enter the",
    "# unit's IPC directory, so no two units may share one.",
  ];
  for (const f of facts) {
    lines.push(`u ${f.user} - "Smart Meter Gateway ${f.unit} unit" /nonexistent /usr/sbin/nologin`);
  }
  const crypto = facts.find((f) => f.unit === "crypto");
  if (crypto) {
    lines.push(
      `# ${INSTALL.tpmDevice} belongs to group tss (mode 0660); only the crypto unit is let in.`,
      `m ${crypto.user} tss`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function tmpfilesFile(facts: UnitFacts[]): string {
  const userOf = (u: UnitName) => facts.find((f) => f.unit === u)?.user ?? `smgw-${u}`;
  const ifm = userOf("ifm");
  const lines = [
    GENERATED_HEADER,
    "# Parents: traversal only, nobody lists them.",
    `d ${INSTALL.runDir} 0711 root root -`,
    `d ${INSTALL.runDir}/ipc 0711 root root -`,
    `d ${INSTALL.stateRoot} 0711 root root -`,
    "# Each unit's IPC directory: the IFM creates the socket, only the unit's group may enter.",
  ];
  for (const f of facts) {
    if (f.unit !== "ifm") lines.push(`d ${ipcDir(f.unit)} 0710 ${ifm} ${f.user} -`);
  }
  lines.push("# Each unit's state, its own only.");
  for (const f of facts) lines.push(`d ${stateDir(f.unit)} 0700 ${f.user} ${f.user} -`);
  const storage = userOf("storage");
  lines.push("# The data volume: only storage writes it.");
  lines.push(`d ${INSTALL.dataDir} 0700 ${storage} ${storage} -`);
  return `${lines.join("\n")}\n`;
}

/**
 * A policy text made safe for a unit file value: one line, `%` not taken as a specifier, no
 * trailing backslash (which would continue the line).
 */
export function unitFileText(s: string): string {
  return s
    .replace(/[\s\p{Cc}]+/gu, " ")
    .trim()
    .replace(/[\s\\]+$/, "")
    .replaceAll("%", "%%");
}

function compareAddresses(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
