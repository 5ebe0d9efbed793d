// Connection probes for the system tests: from the peer namespaces on the host, and inside the
// guest from a helper process put into a unit's SELinux domain.

/** blocked: no answer (dropped); refused: the host answered with a reset; connected: a leak. */
export type ProbeOutcome = "connected" | "refused" | "blocked" | "denied" | "error";

export interface TcpProbe {
  namespace: string;
  /** Source address in the namespace (the endpoint the attacker pretends to be). */
  from: string;
  host: string;
  port: number;
}

/** A TCP connect from a peer namespace, with a short timeout; bash's /dev/tcp keeps it small. */
export async function probeTcp(p: TcpProbe, timeoutSeconds = 3): Promise<ProbeOutcome> {
  // curl binds the source address, tells a reset (7) from a timeout (28), and reports the
  // time the connection took, which is 0 if there never was one.
  const proc = Bun.spawn(
    [
      "ip",
      "netns",
      "exec",
      p.namespace,
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{time_connect}",
      "--interface",
      p.from,
      "--connect-timeout",
      String(timeoutSeconds),
      "-m",
      String(timeoutSeconds + 1),
      `telnet://${p.host}:${p.port}`,
    ],
    { stdin: "pipe", stdout: "pipe", stderr: "ignore" },
  );
  proc.stdin.end();
  const code = await proc.exited;
  const connectSeconds = Number((await new Response(proc.stdout).text()).trim());
  return connectSeconds > 0 ? "connected" : curlOutcome(code);
}

/** curl's exit code as a probe outcome. */
export function curlOutcome(code: number): ProbeOutcome {
  switch (code) {
    case 0:
    case 52: // empty reply: connected, then closed
    case 56: // connected, then reset while receiving
      return "connected";
    case 7:
      return "refused";
    case 28:
      return "blocked";
    default:
      return "error";
  }
}

/**
 * JavaScript for the gateway executable in bun mode (BUN_BE_BUN=1) that connects to a TCP port
 * or a UNIX socket and exits 0 (connected), 13 (EACCES: refused by the kernel's access
 * control), 111 (reset), 110 (timeout) or 1 (anything else).
 */
export function connectScript(target: { host: string; port: number } | { path: string }): string {
  const opts = JSON.stringify(target);
  return [
    `const s = require("node:net").connect(${opts});`,
    `s.on("connect", () => { console.log("connected"); process.exit(0); });`,
    `s.on("error", (e) => { console.log(e.code); process.exit(e.code === "EACCES" || e.code === "EPERM" ? 13 : e.code === "ECONNREFUSED" ? 111 : 1); });`,
    `setTimeout(() => { console.log("timeout"); process.exit(110); }, 5000);`,
  ].join(" ");
}

export function helperOutcome(code: number): ProbeOutcome {
  return code === 0
    ? "connected"
    : code === 13
      ? "denied"
      : code === 111
        ? "refused"
        : code === 110
          ? "blocked"
          : "error";
}

/** An AVC denial from the audit log, reduced to what a reader needs. */
export interface Avc {
  permissions: string[];
  source: string;
  target: string;
  tclass: string;
  comm: string;
  line: string;
}

/** The AVC denials in `ausearch -m avc` or audit.log text; other lines are skipped. */
export function parseAvcDenials(text: string): Avc[] {
  const out: Avc[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes("avc:") || !line.includes("denied")) continue;
    const perms = /denied\s+\{([^}]*)\}/.exec(line)?.[1];
    const source = /scontext=(\S+)/.exec(line)?.[1];
    const target = /tcontext=(\S+)/.exec(line)?.[1];
    const tclass = /tclass=(\S+)/.exec(line)?.[1];
    if (!perms || !source || !target || !tclass) continue;
    out.push({
      permissions: perms.trim().split(/\s+/),
      source,
      target,
      tclass,
      comm: /comm="([^"]*)"/.exec(line)?.[1] ?? "",
      line,
    });
  }
  return out;
}

/** The type of a context (user:role:type:level). */
export function typeOf(context: string): string {
  return context.split(":")[2] ?? "";
}
