// The SELinux output: a CIL policy module for Debian 12's reference policy
// (selinux-policy-default), its file contexts, and the port labels the base policy already
// gives to other types. A pure function of the parsed policy.
import type { NetworkName, Policy, UnitName } from "@smgw/policy";
import {
  buildModel,
  domainType,
  ipcType,
  netifType,
  nodeType,
  PATHS,
  packetType,
  type SelinuxModel,
  stateType,
} from "./model.ts";

export interface SelinuxOutput {
  /** The policy module; `semodule -i smgw.cil` names it "smgw" after the file. */
  "smgw.cil": string;
  /** The labels of the gateway's files, in the reference policy's file_contexts syntax. */
  file_contexts: string;
  /**
   * `semanage import` lines labelling every port of the policy. A module's portcon cannot
   * relabel a port the base policy already labels (443, 8080 and 8443 are http ports there):
   * the base's entry wins. Local port records (semanage port -m) come first and do win.
   */
  "smgw.semanage": string;
}

const HEADER = (comment: string) =>
  `${comment} Generated from policy/smgw.policy.yaml by \`smgw policy build\`. Do not edit.`;

const ctx = (type: string) => `(system_u object_r ${type} ((s0) (s0)))`;
const label = (type: string) => `system_u:object_r:${type}:s0`;

const WIDTH = 100;

/** Collects CIL statements; every rule carries the comment that says why it is there. */
class Cil {
  readonly lines: string[] = [];

  note(text: string, indent = ""): void {
    const words = text.split(/\s+/).filter(Boolean);
    let line = `${indent};`;
    for (const w of words) {
      if (line.length + 1 + w.length > WIDTH && line !== `${indent};`) {
        this.lines.push(line);
        line = `${indent};`;
      }
      line += ` ${w}`;
    }
    this.lines.push(line);
  }

  section(title: string, text?: string): void {
    this.lines.push("", `;; ${title}`);
    if (text) this.note(text);
  }

  rule(why: string, ...statements: string[]): void {
    this.note(why);
    this.lines.push(...statements);
  }

  raw(...statements: string[]): void {
    this.lines.push(...statements);
  }
}

const list = (xs: string[]) => `(${xs.join(" ")})`;

/** A CIL type expression naming any of the types; `or` takes two operands. */
const anyOf = (names: string[]): string => {
  const [first, ...rest] = names;
  if (first === undefined) throw new Error("anyOf needs a name");
  return rest.length === 0 ? first : `(or ${first} ${anyOf(rest)})`;
};

/** The module text. */
export function compileCil(policy: Policy, model: SelinuxModel = buildModel(policy)): string {
  const c = new Cil();
  const { units } = model;
  const has = (u: UnitName) => units.includes(u);
  const domains = units.map(domainType);

  c.raw(HEADER(";"));
  c.note(
    "SELinux policy module for the smart meter gateway, layered on Debian 12's reference policy " +
      "(selinux-policy-default). Install with `semodule -i smgw.cil`, then `semanage import -f " +
      "smgw.semanage` and `restorecon -R` over the paths in file_contexts. Reference-policy " +
      "types and attributes are used by their plain names (init_t, domain, daemon, ...).",
  );
  c.note(
    "handleunknown is a base-policy setting (Debian's base says allow); a module cannot set it, " +
      "so this module does not try.",
  );
  c.note(
    "The invariants at the end are neverallow rules. libsemanage checks them only with " +
      "expand-check=1 in semanage.conf (Debian ships 0); the image and the tests set it.",
  );

  // -- classmaps ------------------------------------------------------------------------------
  c.section(
    "Intent classmaps",
    "Rules below say what a domain does with a type (read, mutate, connect) rather than list " +
      "kernel permissions; each mapping is the permission set one intent needs.",
  );
  c.raw("(classmap smgw_files (search read mutate execute))");
  c.rule(
    "search: walk through a directory to a known name, follow a symlink.",
    "(classmapping smgw_files search (dir (getattr search open)))",
    "(classmapping smgw_files search (lnk_file (getattr read)))",
  );
  c.rule(
    "read: list directories, read and map files.",
    "(classmapping smgw_files read (dir (getattr search open read ioctl lock)))",
    "(classmapping smgw_files read (file (getattr open read ioctl lock map)))",
    "(classmapping smgw_files read (lnk_file (getattr read)))",
  );
  c.rule(
    "mutate: create, change and remove entries and file contents.",
    "(classmapping smgw_files mutate (dir (create write add_name remove_name rmdir rename reparent setattr)))",
    "(classmapping smgw_files mutate (file (create write append unlink rename link setattr)))",
    "(classmapping smgw_files mutate (lnk_file (create unlink rename setattr)))",
  );
  c.rule(
    "execute: run or map a file as code (entrypoint is granted separately).",
    "(classmapping smgw_files execute (file (getattr open read map execute)))",
  );
  c.raw("(classmap smgw_sockets (connect serve))");
  c.rule(
    "connect: reach a listening UNIX socket through its file.",
    "(classmapping smgw_sockets connect (sock_file (getattr write)))",
  );
  c.rule(
    "serve: create (and replace a stale) listening socket in a directory.",
    "(classmapping smgw_sockets serve (dir (getattr search open write add_name remove_name)))",
    "(classmapping smgw_sockets serve (sock_file (getattr create unlink setattr write)))",
  );
  c.rule(
    "Every class the gateway's objects can be reached through, all permissions: the target of " +
      "the separation invariants.",
    "(classpermission smgw_any)",
    ...[
      "file",
      "dir",
      "lnk_file",
      "sock_file",
      "fifo_file",
      "chr_file",
      "process",
      "fd",
      "unix_stream_socket",
      "unix_dgram_socket",
      "tcp_socket",
      "udp_socket",
      "rawip_socket",
      "packet",
      "node",
      "netif",
      "peer",
    ].map((cls) => `(classpermissionset smgw_any (${cls} (all)))`),
  );

  // -- types ----------------------------------------------------------------------------------
  c.section(
    "Domains",
    "One domain per unit. All units run the one binary smgwd, so one executable type is the " +
      "entrypoint of every domain and systemd picks the domain with SELinuxContext= in each unit " +
      "file (hard links would share the binary's one label, copies would lose the shared pages).",
  );
  for (const u of units) c.raw(`(type ${domainType(u)})`, `(roletype system_r ${domainType(u)})`);
  c.rule(
    "All gateway domains, for rules they share and for the invariants.",
    "(typeattribute smgw_domain)",
    `(typeattributeset smgw_domain ${list(domains)})`,
  );
  c.rule(
    "Reference-policy membership: domain (a process type) and daemon (started by init; gives " +
      "sd_notify to /run/systemd/notify and stdout/stderr to the journal via init's sockets).",
    `(typeattributeset domain ${list(domains)})`,
    `(typeattributeset daemon ${list(domains)})`,
  );

  c.section(
    "Files",
    "Types by what is stored, as Bottlerocket's policy does: the binary, the read-only " +
      "configuration, each unit's state, each unit's IPC directory, and the data volume. They are " +
      "file_type (so setfiles can label them and init can create the directories) but not " +
      "non_security_file_type, which would open them to the reference policy's blanket rules " +
      "(systemd-tmpfiles manage-all, init mounton).",
  );
  const fileTypes = [
    "smgw_exec_t",
    "smgw_etc_t",
    "smgw_run_t",
    "smgw_data_t",
    ...units.map(stateType),
    ...model.ipcClients.map(ipcType),
  ];
  for (const t of fileTypes) c.raw(`(type ${t})`, `(roletype object_r ${t})`);
  c.raw(`(typeattributeset file_type ${list(fileTypes)})`);
  c.rule(
    "Each unit's state directory (StateDirectory=, /var/lib/smgw/<unit>).",
    "(typeattribute smgw_state)",
    `(typeattributeset smgw_state ${list(units.map(stateType))})`,
  );
  if (model.ipcClients.length > 0) {
    c.rule(
      "Each unit's IPC directory, /run/smgw/ipc/<unit>, and the IFM's socket in it.",
      "(typeattribute smgw_ipc)",
      `(typeattributeset smgw_ipc ${list(model.ipcClients.map(ipcType))})`,
    );
  }
  c.rule(
    "What no gateway domain may change: its own code and its policy.",
    "(typeattribute smgw_readonly)",
    "(typeattributeset smgw_readonly (smgw_exec_t smgw_etc_t))",
  );

  c.section(
    "Network",
    "Per network: the interface (netifcon), its subnet (nodecon: node_bind on the gateway's " +
      "address is checked always) and the SECMARK packet label the packet filter sets on every " +
      "packet in and out of that interface. Per port: a type named for its use.",
  );
  const netTypes = model.networks.flatMap((n) => [netifType(n.network), nodeType(n.network)]);
  // One unit's listeners on one network share a port type, and so a packet label.
  const packetTypes = [...new Set(model.packets.map((p) => p.type))];
  for (const t of [...netTypes, ...packetTypes, ...new Set(model.ports.map((p) => p.type))]) {
    c.raw(`(type ${t})`, `(roletype object_r ${t})`);
  }
  c.rule(
    "Reference-policy membership, so its tools accept the types: semanage port needs port_type, " +
      "nftables (iptables_t) may set packet labels of packet_type.",
    `(typeattributeset netif_type ${list(model.networks.map((n) => netifType(n.network)))})`,
    `(typeattributeset node_type ${list(model.networks.map((n) => nodeType(n.network)))})`,
    `(typeattributeset packet_type ${list(packetTypes)})`,
    `(typeattributeset port_type ${list([...new Set(model.ports.map((p) => p.type))])})`,
  );
  c.rule(
    "All packet labels of the gateway's networks.",
    "(typeattribute smgw_packet)",
    `(typeattributeset smgw_packet ${list(packetTypes)})`,
  );
  for (const n of model.networks) {
    const own = model.packets.filter((p) => p.network === n.network);
    c.rule(
      `Packet labels of ${n.network}: ${own
        .map((p) =>
          p.port === undefined
            ? `${p.type} for anything else on ${n.interface} (no unit may use it)`
            : `${p.type} for ${p.direction} ${p.protocol} ${p.port}`,
        )
        .join("; ")}.`,
      `(typeattribute smgw_${n.network.toLowerCase()}_packet)`,
      `(typeattributeset smgw_${n.network.toLowerCase()}_packet ${list([...new Set(own.map((p) => p.type))])})`,
    );
  }
  const privileged = [...new Set(model.ports.filter((p) => p.port < 1024).map((p) => p.type))];
  if (privileged.length > 0) {
    c.rule(
      "Ports below 1024, as the reference policy marks its own.",
      `(typeattributeset reserved_port_type ${list(privileged)})`,
    );
  }
  for (const n of model.networks) {
    c.rule(
      `${n.network} interface ${n.interface}.`,
      `(netifcon ${n.interface} ${ctx(netifType(n.network))} ${ctx(packetType(n.network))})`,
    );
    c.rule(
      `${n.network} subnet ${n.address}/${n.mask}; the gateway's address is ${n.gateway}.`,
      `(nodecon (${n.address}) (${n.mask}) ${ctx(nodeType(n.network))})`,
    );
  }
  c.rule(
    "Every TLS port of the policy: the trusted channel manager's.",
    "(typeattribute smgw_tls_port)",
    `(typeattributeset smgw_tls_port ${list([...new Set(model.ports.filter((p) => p.tls).map((p) => p.type))])})`,
  );
  c.rule(
    "Keep the attributes the assertions name in the binary policy, where unused attributes are " +
      "otherwise dropped.",
    `(expandtypeattribute ${list([
      "smgw_tls_port",
      "smgw_packet",
      ...model.networks.map((n) => `smgw_${n.network.toLowerCase()}_packet`),
    ])} false)`,
  );
  for (const p of model.ports) {
    const flows = [...new Set(p.flows.map((f) => f.id))].join(", ");
    c.rule(
      `${p.protocol} ${p.port}${p.tls ? " (TLS)" : ""}: ${flows}. Also in smgw.semanage, which ` +
        "wins where the base policy labels the port too.",
      `(portcon ${p.protocol} ${p.port} ${ctx(p.type)})`,
    );
  }

  // -- file contexts inside the module --------------------------------------------------------
  c.section(
    "File contexts",
    "The same lines as file_contexts, so `semodule -i` alone labels new files right.",
  );
  for (const fc of fileContextEntries(model)) {
    const kind = fc.kind === "--" ? "file" : fc.kind === "-d" ? "dir" : "any";
    c.raw(`(filecon "${fc.path}" ${kind} ${ctx(fc.type)})`);
  }

  // -- start-up -------------------------------------------------------------------------------
  c.section(
    "Start-up",
    "systemd (init_t) executes smgwd with the domain named by SELinuxContext=; the kernel " +
      "checks init's transition permission and the domain's entrypoint. There is no " +
      "type_transition: one executable cannot lead to ten domains by itself.",
  );
  c.rule(
    "init runs the binary (stated here so the module does not rely on init being unconfined).",
    "(allow init_t smgw_exec_t (smgw_files (execute)))",
  );
  c.rule("init enters each gateway domain.", `(allow init_t smgw_domain (process (transition)))`);
  c.rule(
    "init enters them also under NoNewPrivileges= and nosuid mounts.",
    `(allow init_t smgw_domain (process2 (nnp_transition nosuid_transition)))`,
  );
  c.rule(
    "Environment scrubbing on transition is wanted; its denials are noise.",
    `(dontaudit init_t smgw_domain (process (noatsecure siginh rlimitinh)))`,
  );
  c.rule(
    "smgwd is the entrypoint of every gateway domain and nothing else.",
    "(allow smgw_domain smgw_exec_t (file (entrypoint)))",
    "(allow smgw_domain smgw_exec_t (smgw_files (execute)))",
  );
  c.rule(
    "Descriptors systemd hands over (stdin /dev/null, stdout/stderr to the journal).",
    "(allow smgw_domain init_t (fd (use)))",
  );

  // -- process basics -------------------------------------------------------------------------
  c.section("What every unit's process needs");
  c.rule(
    "Bun's JavaScript JIT writes and then executes its code pages.",
    "(allow smgw_domain self (process (execmem)))",
  );
  c.rule(
    "Threads, signals to itself, scheduling queries.",
    "(allow smgw_domain self (process (fork sigchld signal signull getsched setsched getattr getpgid)))",
  );
  c.rule(
    "Its own pipes and /proc/self.",
    "(allow smgw_domain self (fifo_file (getattr open read write ioctl)))",
    "(allow smgw_domain self (smgw_files (read)))",
  );
  c.rule(
    "sd_notify: a datagram to systemd's notify socket (readiness, watchdog).",
    "(allow smgw_domain self (unix_dgram_socket (create connect write getattr getopt setopt)))",
    "(allow smgw_domain init_runtime_t (smgw_sockets (connect)))",
    "(allow smgw_domain init_runtime_t (smgw_files (search)))",
    "(allow smgw_domain init_t (unix_dgram_socket (sendto)))",
  );
  for (const u of ["crypto", "tcm"] as const) {
    if (!units.includes(u)) continue;
    c.rule(
      `${u} uses the system OpenSSL, which reads its configuration (openssl.cnf) under /etc/ssl.`,
      `(allow ${domainType(u)} cert_t (smgw_files (read)))`,
    );
  }
  c.rule(
    "The runtime reads its own cgroup's memory limits (memory.max, memory.high) at start.",
    "(allow smgw_domain cgroup_t (smgw_files (search)))",
    "(allow smgw_domain cgroup_t (file (getattr open read)))",
  );
  c.rule(
    "The path to its files: /, /usr, /etc, /var, /var/lib, /run, /dev.",
    "(allow smgw_domain root_t (smgw_files (search)))",
    "(allow smgw_domain usr_t (smgw_files (search)))",
    "(allow smgw_domain etc_t (smgw_files (search)))",
    "(allow smgw_domain var_t (smgw_files (search)))",
    "(allow smgw_domain var_lib_t (smgw_files (search)))",
    "(allow smgw_domain var_run_t (smgw_files (search)))",
    "(allow smgw_domain device_t (smgw_files (search)))",
  );
  c.rule(
    "The C library and the dynamic loader smgwd links against.",
    "(allow smgw_domain lib_t (smgw_files (read)))",
    "(allow smgw_domain lib_t (smgw_files (execute)))",
    "(allow smgw_domain ld_so_t (smgw_files (execute)))",
    "(allow smgw_domain ld_so_cache_t (smgw_files (read)))",
  );
  c.rule(
    "Host configuration (nsswitch.conf, localtime) and the time zone database.",
    "(allow smgw_domain etc_t (smgw_files (read)))",
    "(allow smgw_domain locale_t (smgw_files (read)))",
  );
  c.rule(
    "System information the runtime reads: memory and CPUs from /proc and /sys.",
    "(allow smgw_domain proc_t (smgw_files (read)))",
    "(allow smgw_domain sysfs_t (smgw_files (read)))",
  );
  c.rule(
    "/dev/null for standard input, /dev/urandom as a fallback to getrandom().",
    "(allow smgw_domain null_device_t (chr_file (getattr open read write ioctl)))",
    "(allow smgw_domain urandom_device_t (chr_file (getattr open read)))",
  );
  c.rule(
    "The policy file in /etc/smgw, read-only.",
    "(allow smgw_domain smgw_etc_t (smgw_files (read)))",
  );
  c.rule(
    "The /run/smgw and /run/smgw/ipc directories, created by systemd.",
    "(allow smgw_domain smgw_run_t (smgw_files (search)))",
  );
  c.rule(
    "systemd-tmpfiles creates the run, IPC and state directories (smgw-tmpfiles.conf) with " +
      "their labels, owners and modes.",
    ...["smgw_run_t", ...model.ipcClients.map(ipcType), ...units.map(stateType)].map(
      (t) =>
        `(allow systemd_tmpfiles_t ${t} (dir (getattr search open read create write add_name setattr relabelfrom relabelto)))`,
    ),
  );
  for (const u of units) {
    c.rule(
      `${u}'s state directory, its own only.`,
      `(allow ${domainType(u)} ${stateType(u)} (smgw_files (read mutate)))`,
    );
  }

  // -- IPC ------------------------------------------------------------------------------------
  c.section(
    "IPC through the IFM",
    "What the policy's flows mean at the level the kernel sees: each unit on an IPC flow " +
      "connects to the IFM's socket in its own directory; the IFM decides per message. No " +
      "domain connects to another directly.",
  );
  if (has("ifm")) {
    c.rule(
      "The IFM listens on one socket per unit.",
      "(allow smgw_ifm_t self (unix_stream_socket (create bind listen accept getattr setattr getopt setopt read write shutdown)))",
    );
  }
  for (const u of model.ipcClients) {
    const flows = policy.ipcFlows.filter((f) => f.from === u || f.to === u);
    const ids = [...new Set(flows.map((f) => f.id))].join(", ");
    if (has("ifm")) {
      c.rule(
        `The IFM creates ${u}'s socket (and removes a stale one).`,
        `(allow smgw_ifm_t ${ipcType(u)} (smgw_sockets (serve)))`,
      );
    }
    c.rule(
      `${u} reaches the IFM through its own socket only (flows: ${ids}).`,
      `(allow ${domainType(u)} ${ipcType(u)} (smgw_files (search)))`,
      `(allow ${domainType(u)} ${ipcType(u)} (smgw_sockets (connect)))`,
      `(allow ${domainType(u)} self (unix_stream_socket (create connect getattr getopt setopt read write shutdown)))`,
      ...(has("ifm")
        ? [`(allow ${domainType(u)} smgw_ifm_t (unix_stream_socket (connectto)))`]
        : []),
    );
  }

  // -- network --------------------------------------------------------------------------------
  c.section(
    "Network",
    "Without labelled networking the kernel checks name_bind and node_bind when a socket " +
      "binds and name_connect when a TCP socket connects; per-packet checks (packet send/recv " +
      "against the SECMARK label) start once the packet filter sets SECMARK labels, which makes " +
      "the interface part of every check. UDP has no connect check: an outbound UDP flow would " +
      "be enforced by its packets only.",
  );
  for (const p of model.ports) {
    const cls = `${p.protocol}_socket`;
    for (const u of p.binders) {
      const nets = [...new Set(p.flows.filter((f) => f.socketUnit === u).map((f) => f.network))];
      c.rule(
        `${u} listens on ${p.protocol} ${p.port} (${nets.join(", ")}).`,
        `(allow ${domainType(u)} self (${cls} (create bind ${p.protocol === "tcp" ? "listen accept " : ""}getattr setattr getopt setopt read write shutdown ioctl)))`,
        `(allow ${domainType(u)} ${p.type} (${cls} (name_bind)))`,
        ...nets.map((n) => `(allow ${domainType(u)} ${nodeType(n)} (${cls} (node_bind)))`),
      );
    }
    for (const u of p.connectors) {
      const nets = [...new Set(p.flows.filter((f) => f.socketUnit === u).map((f) => f.network))];
      c.rule(
        `${u} opens ${p.protocol} ${p.port} connections${p.tls ? " (TLS)" : ""} (${nets.join(", ")}).`,
        `(allow ${domainType(u)} self (${cls} (create connect getattr setattr getopt setopt read write shutdown ioctl)))`,
        ...(p.protocol === "tcp"
          ? [`(allow ${domainType(u)} ${p.type} (${cls} (name_connect)))`]
          : []),
      );
    }
  }
  for (const p of model.packets) {
    if (p.units.length === 0) continue;
    c.rule(
      `SECMARK: ${p.direction} ${p.protocol} ${p.port} on ${p.interface} (${p.flows.join(", ")}) ` +
        `is ${p.units.join(", ")}'s only.`,
      ...p.units.map((u) => `(allow ${domainType(u)} ${p.type} (packet (send recv)))`),
    );
  }

  // -- security module and data volume --------------------------------------------------------
  if (has("crypto")) {
    c.section(
      "Security module",
      "The crypto unit alone talks to the security module: pcscd's socket " +
        `${PATHS.pcscdSocket} (pcscd_runtime_t, alias pcscd_var_run_t; the pcscd module) and ` +
        `the TPM ${PATHS.tpm} (tpm_device_t).`,
    );
    c.rule(
      "crypto connects to pcscd.",
      "(allow smgw_crypto_t pcscd_runtime_t (smgw_files (search)))",
      "(allow smgw_crypto_t pcscd_runtime_t (smgw_sockets (connect)))",
      "(allow smgw_crypto_t pcscd_t (unix_stream_socket (connectto)))",
    );
    c.rule(
      "crypto opens the TPM resource manager.",
      "(allow smgw_crypto_t tpm_device_t (chr_file (getattr open read write ioctl)))",
    );
  }
  if (has("storage")) {
    c.section("Data volume", `${PATHS.data}: written by the storage unit alone.`);
    c.rule(
      "storage keeps the per-domain stores and logs on the data volume.",
      "(allow smgw_storage_t smgw_data_t (smgw_files (read mutate)))",
    );
  }

  // -- invariants -----------------------------------------------------------------------------
  c.section(
    "Invariants",
    "Named neverallow rules: the module does not install if any rule in the whole policy, the " +
      "reference policy's included, breaks one. Each attribute names the set an invariant is " +
      "about.",
  );
  const attr = (name: string, expr: string) =>
    [`(typeattribute ${name})`, `(typeattributeset ${name} ${expr})`] as const;
  const notUnit = (u: UnitName) => `(and smgw_domain (not ${domainType(u)}))`;

  if (has("ifm")) {
    c.rule(
      "no-direct-ipc: no gateway domain connects or sends to a gateway domain but the IFM.",
      ...attr("smgw_not_ifm", notUnit("ifm")),
      "(neverallow smgw_domain smgw_not_ifm (unix_stream_socket (connectto)))",
      "(neverallow smgw_domain smgw_not_ifm (unix_dgram_socket (sendto)))",
    );
    if (model.ipcClients.length > 0) {
      c.rule(
        "ipc-sockets-by-ifm: only the IFM creates or removes the units' sockets.",
        "(neverallow smgw_not_ifm smgw_ipc (sock_file (create unlink rename)))",
      );
    }
  }
  for (const u of units) {
    const own = [stateType(u), ...(model.ipcClients.includes(u) ? [ipcType(u)] : [])];
    const foreignState = `smgw_not_${u}_state`;
    c.rule(
      `own-state-${u}: ${u} changes no other unit's state.`,
      ...attr(foreignState, `(and smgw_state (not ${stateType(u)}))`),
      `(neverallow ${domainType(u)} ${foreignState} (smgw_files (read mutate)))`,
    );
    if (u !== "ifm" && model.ipcClients.length > 0) {
      const foreignIpc = `smgw_not_${u}_ipc`;
      c.rule(
        `own-socket-${u}: ${u} reaches the IFM through ${own.at(-1)} only.`,
        ...attr(
          foreignIpc,
          model.ipcClients.includes(u) ? `(and smgw_ipc (not ${ipcType(u)}))` : "(smgw_ipc)",
        ),
        `(neverallow ${domainType(u)} ${foreignIpc} (sock_file (write append)))`,
      );
    }
  }

  // Separation of the networks: each side is its units and its network's types.
  const single = (n: NetworkName) =>
    (model.networks.find((x) => x.network === n)?.units ?? []).filter(
      (u) => model.networks.filter((x) => x.units.includes(u)).length === 1,
    );
  const bridges = units.filter((u) => model.networks.filter((x) => x.units.includes(u)).length > 1);
  if (bridges.length > 0) {
    c.note(
      `Units on more than one network (${bridges.join(", ")}) belong to no side below: the ` +
        "information-flow checks in the tests cover them.",
    );
  }
  const sideTypes = new Map<NetworkName, string[]>();
  for (const n of model.networks) {
    const ports = model.ports
      .filter((p) => p.flows.every((f) => f.network === n.network))
      .map((p) => p.type);
    sideTypes.set(n.network, [
      ...single(n.network).flatMap((u) => [
        domainType(u),
        stateType(u),
        ...(model.ipcClients.includes(u) ? [ipcType(u)] : []),
      ]),
      netifType(n.network),
      nodeType(n.network),
      ...new Set(model.packets.filter((p) => p.network === n.network).map((p) => p.type)),
      ...new Set(ports),
    ]);
  }
  for (const [n, types] of sideTypes) {
    c.rule(
      `The ${n} side: ${single(n).join(", ") || "no unit"} and ${n}'s network types.`,
      ...attr(`smgw_${n.toLowerCase()}_side`, list(types)),
    );
  }
  for (const [a] of sideTypes) {
    for (const [b] of sideTypes) {
      if (a === b) continue;
      c.rule(
        `${a.toLowerCase()}-not-to-${b.toLowerCase()}: nothing on the ${a} side reaches a type of ` +
          `the ${b} side directly; the only way is IPC through the IFM.`,
        `(neverallow smgw_${a.toLowerCase()}_side smgw_${b.toLowerCase()}_side smgw_any)`,
      );
    }
  }

  for (const p of model.ports) {
    const cls = `${p.protocol}_socket`;
    const notBinders = `smgw_not_${p.protocol}_${p.port}_binder`;
    c.rule(
      `bind-${p.protocol}-${p.port}: only ${p.binders.join(", ") || "no unit"} may listen on it.`,
      ...attr(
        notBinders,
        p.binders.length === 0
          ? "(smgw_domain)"
          : `(and smgw_domain (not ${anyOf(p.binders.map(domainType))}))`,
      ),
      `(neverallow ${notBinders} ${p.type} (${cls} (name_bind)))`,
    );
  }
  if (has("tcm")) {
    c.rule(
      "tls-client-is-tcm: no gateway domain but the TCM opens connections to a TLS port.",
      ...attr("smgw_not_tcm", notUnit("tcm")),
      "(neverallow smgw_not_tcm smgw_tls_port (tcp_socket (name_connect)))",
    );
  }
  if (has("crypto")) {
    c.rule(
      "security-module-is-crypto's: no gateway domain but crypto reaches pcscd or the TPM.",
      ...attr("smgw_not_crypto", notUnit("crypto")),
      "(neverallow smgw_not_crypto pcscd_t (unix_stream_socket (connectto)))",
      "(neverallow smgw_not_crypto pcscd_runtime_t (sock_file (write append)))",
      "(neverallow smgw_not_crypto tpm_device_t (chr_file (open read write append ioctl)))",
    );
  }
  if (has("storage")) {
    c.rule(
      "data-volume-is-storage's: no gateway domain but storage reads or changes the data volume.",
      ...attr("smgw_not_storage", notUnit("storage")),
      "(neverallow smgw_not_storage smgw_data_t (smgw_files (read mutate)))",
    );
    c.rule(
      "data-volume-single-writer: beyond the gateway too, only storage and the reference " +
        "policy's unconfined domains (files_unconfined_type: init, the kernel, the package " +
        "manager, an unconfined administrator) may change the data volume.",
      ...attr(
        "smgw_data_writer_denied",
        "(and domain (not (or smgw_storage_t files_unconfined_type)))",
      ),
      "(neverallow smgw_data_writer_denied smgw_data_t (file (write append create unlink rename link setattr)))",
    );
  }
  c.rule(
    "code-and-policy-read-only: no gateway domain changes smgwd or /etc/smgw; beyond the gateway " +
      "only the unconfined domains (installer, init) may.",
    ...attr("smgw_code_writer_denied", "(and domain (not files_unconfined_type))"),
    "(neverallow smgw_domain smgw_readonly (smgw_files (mutate)))",
    "(neverallow smgw_code_writer_denied smgw_readonly (file (write append create unlink rename link setattr)))",
  );
  c.rule(
    "no-policy-admin: no gateway domain loads policy, switches enforcement or sets booleans.",
    "(neverallow smgw_domain security_t (security (load_policy setenforce setbool setsecparam)))",
  );
  c.rule(
    "no-other-domains: a gateway process never enters another domain.",
    "(neverallow smgw_domain domain (process (transition dyntransition)))",
  );
  return `${c.lines.join("\n")}\n`;
}

export interface FileContextEntry {
  path: string;
  /** "--" regular file, "-d" directory, "" anything. */
  kind: "--" | "-d" | "";
  type: string;
}

export function fileContextEntries(model: SelinuxModel): FileContextEntry[] {
  const esc = (p: string) => p.replaceAll(".", "\\.");
  return [
    { path: esc(PATHS.exec), kind: "--", type: "smgw_exec_t" },
    { path: `${esc(PATHS.etc)}(/.*)?`, kind: "", type: "smgw_etc_t" },
    { path: esc(PATHS.run), kind: "-d", type: "smgw_run_t" },
    { path: esc(PATHS.ipc), kind: "-d", type: "smgw_run_t" },
    ...model.ipcClients.map(
      (u): FileContextEntry => ({
        path: `${esc(PATHS.ipc)}/${u}(/.*)?`,
        kind: "",
        type: ipcType(u),
      }),
    ),
    ...model.units.map(
      (u): FileContextEntry => ({
        path: `${esc(PATHS.state)}/${u}(/.*)?`,
        kind: "",
        type: stateType(u),
      }),
    ),
    { path: `${esc(PATHS.data)}(/.*)?`, kind: "", type: "smgw_data_t" },
  ];
}

export function compileFileContexts(model: SelinuxModel): string {
  const rows = fileContextEntries(model).map(
    (e) => `${e.path}\t${e.kind ? `${e.kind}\t` : ""}${label(e.type)}`,
  );
  return `${HEADER("#")}\n${rows.join("\n")}\n`;
}

export function compileSemanage(model: SelinuxModel): string {
  const rows = model.ports.map((p) => `port -m -t ${p.type} -p ${p.protocol} ${p.port}`);
  return `${HEADER("#")}\n${rows.join("\n")}\n`;
}

/** All SELinux outputs of one policy. Pure: no I/O. */
export function compileSelinux(policy: Policy): SelinuxOutput {
  const model = buildModel(policy);
  return {
    "smgw.cil": compileCil(policy, model),
    file_contexts: compileFileContexts(model),
    "smgw.semanage": compileSemanage(model),
  };
}
