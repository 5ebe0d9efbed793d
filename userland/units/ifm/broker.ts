// The information flow manager's broker: the one policy decision point of the gateway.
// Every unit reaches it on its own socket, so the source of a message is known from the
// socket it arrived on (the operating system's access control on that socket's directory),
// never from the message. Each request is checked against the rule table and forwarded to
// the destination unit or refused; every refusal is logged.
import { chmodSync, statSync, unlinkSync } from "node:fs";
import path from "node:path";
import type { Logger } from "@smgw/daemon";
import {
  checkRequest,
  checkResponse,
  contractOf,
  DEFAULT_MAX_FRAME,
  type ErrorCode,
  errorResponse,
  FramedChannel,
  firstError,
  isMessageType,
  type Request,
} from "@smgw/ipc";
import { decide, isUnitName, type RuleTable, type UnitName } from "@smgw/policy";
import type { Socket, UnixSocketListener } from "bun";

export interface BrokerOptions {
  maxFrame?: number;
  timeoutMs?: number;
  /** Requests a connection may have in flight before it is told it is busy. */
  maxInFlight?: number;
  /** Connections one unit may hold open at once. */
  maxConnectionsPerUnit?: number;
}

interface Conn {
  unit: UnitName;
  channel: FramedChannel;
  inFlight: number;
}

interface Pending {
  origin: Conn;
  originId: string;
  target: Conn;
  to: UnitName;
  type: string;
  timer: ReturnType<typeof setTimeout>;
}

export interface BrokerCounters {
  forwarded: number;
  denied: number;
  rejected: number;
}

export class Broker {
  private readonly listeners: UnixSocketListener<Conn | undefined>[] = [];
  private readonly targets = new Map<UnitName, Conn>();
  private readonly conns = new Map<UnitName, Set<Conn>>();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  readonly counters: BrokerCounters = { forwarded: 0, denied: 0, rejected: 0 };
  private readonly opts: Required<BrokerOptions>;

  constructor(
    private readonly table: RuleTable,
    private readonly log: Logger,
    options: BrokerOptions = {},
  ) {
    this.opts = {
      maxFrame: options.maxFrame ?? DEFAULT_MAX_FRAME,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxInFlight: options.maxInFlight ?? 256,
      maxConnectionsPerUnit: options.maxConnectionsPerUnit ?? 16,
    };
  }

  /** Listen for `unit` at `socketPath`, whose directory must be closed to other users. */
  listen(unit: UnitName, socketPath: string): void {
    const dir = path.dirname(socketPath);
    const st = statSync(dir);
    if ((st.mode & 0o007) !== 0) {
      throw new Error(
        `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); refusing`,
      );
    }
    try {
      unlinkSync(socketPath); // a stale socket of an earlier run
    } catch {}
    const listener = Bun.listen<Conn | undefined>({
      unix: socketPath,
      socket: {
        open: (socket) => this.onOpen(unit, socket),
        data: (socket, data) => {
          if (socket.data) this.onData(socket.data, data);
        },
        drain: (socket) => socket.data?.channel.flush(),
        close: (socket) => {
          if (socket.data) this.onClose(socket.data);
        },
        error: (_socket, error) => this.log.warn("socket error", { unit, error: error.message }),
      },
    });
    // The directory decides who may connect; the socket itself is open to whoever gets there.
    chmodSync(socketPath, 0o666);
    this.listeners.push(listener);
  }

  stop(): void {
    for (const l of this.listeners) l.stop(true);
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  connectedUnits(): UnitName[] {
    return [...this.targets.keys()];
  }

  private onOpen(unit: UnitName, socket: Socket<Conn | undefined>): void {
    const set = this.conns.get(unit) ?? new Set<Conn>();
    if (set.size >= this.opts.maxConnectionsPerUnit) {
      this.log.warn("too many connections, refusing one", { unit });
      socket.end();
      return;
    }
    const conn: Conn = {
      unit,
      channel: new FramedChannel(socket, this.opts.maxFrame),
      inFlight: 0,
    };
    socket.data = conn;
    set.add(conn);
    this.conns.set(unit, set);
    // The newest connection of a unit receives its deliveries.
    this.targets.set(unit, conn);
    this.log.info("unit connected", { unit });
  }

  private onClose(conn: Conn): void {
    conn.channel.closed = true;
    this.conns.get(conn.unit)?.delete(conn);
    if (this.targets.get(conn.unit) === conn) {
      const rest = [...(this.conns.get(conn.unit) ?? [])];
      const newest = rest[rest.length - 1];
      if (newest) this.targets.set(conn.unit, newest);
      else this.targets.delete(conn.unit);
    }
    for (const [id, p] of this.pending) {
      if (p.target === conn) {
        this.answer(p.origin, errorResponse(p.originId, "unavailable", `${p.to} went away`));
        this.finish(id, p);
      } else if (p.origin === conn) {
        this.finish(id, p);
      }
    }
    this.log.info("unit disconnected", { unit: conn.unit });
  }

  private onData(conn: Conn, data: Uint8Array): void {
    for (const frame of conn.channel.receive(data)) {
      if (!frame.ok) {
        this.counters.rejected++;
        this.log.warn("bad frame", { unit: conn.unit, error: frame.error, detail: frame.detail });
        conn.channel.send(
          errorResponse("-", frame.error === "oversized" ? "oversized" : "malformed", frame.detail),
        );
        if (frame.error === "oversized") conn.channel.close();
        continue;
      }
      const msg = frame.value as { kind?: unknown; id?: unknown };
      if (msg?.kind === "request") this.onRequest(conn, msg);
      else if (msg?.kind === "response") this.onResponse(conn, msg);
      else this.reject(conn, msg?.id, "malformed", "a frame must be a request or a response");
    }
  }

  private reject(conn: Conn, id: unknown, code: ErrorCode, message: string): void {
    this.counters.rejected++;
    const rid = typeof id === "string" && id.length > 0 && id.length <= 64 ? id : "-";
    this.log.warn("request rejected", { unit: conn.unit, code, reason: message });
    conn.channel.send(errorResponse(rid, code, message));
  }

  private onRequest(conn: Conn, msg: { id?: unknown }): void {
    if (!checkRequest.Check(msg)) {
      this.reject(conn, msg.id, "malformed", firstError(checkRequest, msg));
      return;
    }
    const req = msg as Request;
    if (!isMessageType(req.type)) {
      this.deny(conn, req, `unknown message type ${req.type}`, "unknown-type");
      return;
    }
    if (!isUnitName(req.to)) {
      this.deny(conn, req, `unknown unit ${req.to}`);
      return;
    }
    const contract = contractOf(req.type).request;
    if (!contract.Check(req.body)) {
      this.reject(conn, req.id, "invalid-body", `${req.type}: ${firstError(contract, req.body)}`);
      return;
    }
    const meter = (req.body as { meter?: unknown }).meter;
    const decision = decide(this.table, conn.unit, req.to, req.type, {
      ...(req.onBehalfOf ? { onBehalfOf: req.onBehalfOf } : {}),
      ...(typeof meter === "string" ? { meter } : {}),
    });
    if (!decision.allowed) {
      this.deny(conn, req, decision.reason);
      return;
    }
    const target = this.targets.get(req.to);
    if (!target) {
      this.reject(conn, req.id, "unavailable", `${req.to} is not connected`);
      return;
    }
    if (conn.inFlight >= this.opts.maxInFlight) {
      this.reject(conn, req.id, "busy", `more than ${this.opts.maxInFlight} requests in flight`);
      return;
    }
    const id = `f${this.nextId++}`;
    const timer = setTimeout(() => {
      const p = this.pending.get(id);
      if (!p) return;
      this.answer(
        p.origin,
        errorResponse(p.originId, "timeout", `${p.to} did not answer ${p.type}`),
      );
      this.finish(id, p);
    }, this.opts.timeoutMs);
    this.pending.set(id, {
      origin: conn,
      originId: req.id,
      target,
      to: req.to,
      type: req.type,
      timer,
    });
    conn.inFlight++;
    this.counters.forwarded++;
    const scope =
      decision.scope === "consumer-own-meters" && req.onBehalfOf
        ? { consumer: req.onBehalfOf, meters: this.table.consumers[req.onBehalfOf] ?? [] }
        : undefined;
    target.channel.send({
      kind: "deliver",
      id,
      from: conn.unit,
      type: req.type,
      ...(scope ? { scope } : {}),
      body: req.body,
    });
  }

  private deny(conn: Conn, req: Request, reason: string, code: ErrorCode = "denied"): void {
    this.counters.denied++;
    this.log.warn("flow denied", {
      event: "flow.denied",
      from: conn.unit,
      to: req.to,
      type: req.type,
      ...(req.onBehalfOf ? { onBehalfOf: req.onBehalfOf } : {}),
      reason,
      policy: this.table.digest.slice(0, 16),
    });
    conn.channel.send(errorResponse(req.id, code, reason));
  }

  private onResponse(conn: Conn, msg: { id?: unknown }): void {
    const id = typeof msg.id === "string" ? msg.id : "";
    const p = this.pending.get(id);
    // A unit can answer only what was delivered to it.
    if (!p || p.target !== conn) {
      this.counters.rejected++;
      this.log.warn("answer to nothing pending", { unit: conn.unit, id: id.slice(0, 64) });
      return;
    }
    this.finish(id, p);
    if (!checkResponse.Check(msg)) {
      this.answer(
        p.origin,
        errorResponse(p.originId, "invalid-response", firstError(checkResponse, msg)),
      );
      return;
    }
    if (!msg.ok) {
      this.answer(p.origin, { ...msg, id: p.originId });
      return;
    }
    const type = p.type;
    const check = isMessageType(type) ? contractOf(type).response : undefined;
    if (!check?.Check(msg.body)) {
      this.log.warn("answer breaks its contract", { from: conn.unit, type });
      this.answer(
        p.origin,
        errorResponse(p.originId, "invalid-response", `${p.to} answered ${type} wrongly`),
      );
      return;
    }
    this.answer(p.origin, { kind: "response", id: p.originId, ok: true, body: msg.body });
  }

  private answer(conn: Conn, response: unknown): void {
    conn.channel.send(response);
  }

  private finish(id: string, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.origin.inFlight = Math.max(0, p.origin.inFlight - 1);
  }
}
