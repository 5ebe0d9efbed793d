// Host mode's service manager: starts each unit as its own process, under its own user, in
// the gateway's namespace; waits for its readiness in systemd's notify protocol; restarts a
// unit that dies (with backoff); stops everything in reverse order.
import { appendFileSync, chownSync } from "node:fs";
import path from "node:path";
import type { UnitName } from "@smgw/policy";
import { NotifyListener } from "@smgw/sdnotify";
import type { Subprocess } from "bun";
import type { Layout } from "./layout.ts";
import type { Ids } from "./users.ts";

/** Kernel services first, the IFM before everything; domains last. */
export const START_ORDER: UnitName[] = [
  "ifm",
  // storage opens its stores with keys the crypto manager unwraps: crypto first.
  "crypto",
  "storage",
  "tcm",
  "net",
  "sysmgmt",
  "meter",
  "admin",
  "cls",
  "display",
];

interface UnitState {
  unit: UnitName;
  proc?: Subprocess;
  listener: NotifyListener;
  ready: boolean;
  status: string;
  restarts: number;
  readyAt: number;
  waiters: ((ok: boolean) => void)[];
}

export interface SupervisorOptions {
  layout: Layout;
  namespace: string;
  ids: Record<UnitName, Ids>;
  logLevel?: string;
  /** Extra environment per unit (e.g. the crypto manager's security module). */
  env?: Partial<Record<UnitName, Record<string, string>>>;
  onEvent?: (line: string) => void;
}

export class Supervisor {
  private readonly units = new Map<UnitName, UnitState>();
  private stopping = false;

  constructor(private readonly o: SupervisorOptions) {}

  async start(unit: UnitName, timeoutMs = 30_000): Promise<void> {
    const sock = this.o.layout.notifySocket(unit);
    const listener = NotifyListener.bind(sock);
    chownSync(sock, this.o.ids[unit].uid, this.o.ids[unit].gid);
    const state: UnitState = {
      unit,
      listener,
      ready: false,
      status: "",
      restarts: 0,
      readyAt: 0,
      waiters: [],
    };
    this.units.set(unit, state);
    listener.onMessage((fields, _raw, sender) => {
      // Only the unit's own process may speak for it.
      if (sender && state.proc && sender.pid !== state.proc.pid) return;
      if (fields.STATUS) state.status = fields.STATUS;
      if (fields.READY === "1" && !state.ready) {
        state.ready = true;
        state.readyAt = Date.now();
        for (const w of state.waiters.splice(0)) w(true);
      }
    });
    this.spawn(state);
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      state.waiters.push((v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
    if (!ok) throw new Error(`${unit} did not become ready; see ${this.logFile(unit)}`);
  }

  logFile(unit: UnitName): string {
    return path.join(this.o.layout.logDir, `${unit}.log`);
  }

  private spawn(state: UnitState): void {
    const { layout, namespace, ids } = this.o;
    const id = ids[state.unit];
    const env = {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      SMGW_POLICY: layout.policy,
      SMGW_RUN_DIR: layout.runDir,
      SMGW_STATE_DIR: layout.stateDir(state.unit),
      SMGW_LOG_LEVEL: this.o.logLevel ?? "info",
      NOTIFY_SOCKET: layout.notifySocket(state.unit),
      HOME: layout.stateDir(state.unit),
      ...this.o.env?.[state.unit],
    };
    const cmd = [
      "ip",
      "netns",
      "exec",
      namespace,
      "setpriv",
      `--reuid=${id.uid}`,
      `--regid=${id.gid}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      layout.binary,
      state.unit,
    ];
    const log = this.logFile(state.unit);
    const write = (chunk: Uint8Array) => appendFileSync(log, chunk);
    const proc = Bun.spawn(cmd, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    state.proc = proc;
    state.ready = false;
    void pump(proc.stdout, write);
    void pump(proc.stderr, write);
    void proc.exited.then((code) => this.onExit(state, proc, code));
    this.o.onEvent?.(`started ${state.unit} (pid ${proc.pid})`);
  }

  private onExit(state: UnitState, proc: Subprocess, code: number): void {
    if (state.proc !== proc) return;
    for (const w of state.waiters.splice(0)) w(false);
    if (this.stopping) return;
    // A unit that ran well for a while starts its backoff afresh.
    if (state.ready && Date.now() - state.readyAt > 60_000) state.restarts = 0;
    state.restarts++;
    const delay = Math.min(1000 * 2 ** Math.min(state.restarts - 1, 5), 30_000);
    this.o.onEvent?.(`${state.unit} exited with ${code}; restarting in ${delay / 1000} s`);
    setTimeout(() => {
      if (!this.stopping) this.spawn(state);
    }, delay);
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const unit of [...START_ORDER].reverse()) {
      const s = this.units.get(unit);
      if (!s?.proc) continue;
      s.proc.kill("SIGTERM");
      const done = await Promise.race([
        s.proc.exited.then(() => true),
        Bun.sleep(10_000).then(() => false),
      ]);
      if (!done) s.proc.kill("SIGKILL");
      s.listener.close();
    }
  }
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  write: (b: Uint8Array) => void,
): Promise<void> {
  for await (const chunk of stream) write(chunk);
}
