// Browser sessions: a random token in an HttpOnly, SameSite=Strict cookie. The display keeps
// only the token's SHA-256, so a memory dump shows no usable token. Sessions end after half an
// hour without use, after twelve hours at most, and on logout.
import { createHash, randomBytes } from "node:crypto";
import type { Role } from "./auth.ts";

export interface Session {
  account: string;
  role: Role;
  via: "password" | "certificate";
  createdAt: number;
  lastSeen: number;
}

export interface SessionOptions {
  now?: () => number;
  idleMs?: number;
  maxAgeMs?: number;
  maxPerAccount?: number;
  maxTotal?: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;
  readonly idleMs: number;
  readonly maxAgeMs: number;
  private readonly maxPerAccount: number;
  private readonly maxTotal: number;

  constructor(o: SessionOptions = {}) {
    this.now = o.now ?? Date.now;
    this.idleMs = o.idleMs ?? 30 * 60_000;
    this.maxAgeMs = o.maxAgeMs ?? 12 * 3_600_000;
    this.maxPerAccount = o.maxPerAccount ?? 8;
    this.maxTotal = o.maxTotal ?? 1000;
  }

  create(account: string, role: Role, via: Session["via"]): { token: string; session: Session } {
    this.sweep();
    const mine = [...this.sessions].filter(([, s]) => s.account === account);
    // The oldest of an account's sessions gives way; the map is in creation order.
    for (const [k] of mine.slice(0, Math.max(0, mine.length - this.maxPerAccount + 1))) {
      this.sessions.delete(k);
    }
    while (this.sessions.size >= this.maxTotal) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const token = randomBytes(32).toString("base64url");
    const now = this.now();
    const session: Session = { account, role, via, createdAt: now, lastSeen: now };
    this.sessions.set(digest(token), session);
    return { token, session };
  }

  /** The live session of a token, touched; undefined if unknown or expired. */
  get(token: string | undefined): Session | undefined {
    if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const k = digest(token);
    const s = this.sessions.get(k);
    if (!s) return undefined;
    const now = this.now();
    if (this.expired(s, now)) {
      this.sessions.delete(k);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  expiresAt(s: Session): number {
    return Math.min(s.lastSeen + this.idleMs, s.createdAt + this.maxAgeMs);
  }

  delete(token: string | undefined): boolean {
    return token ? this.sessions.delete(digest(token)) : false;
  }

  get size(): number {
    this.sweep();
    return this.sessions.size;
  }

  private expired(s: Session, now: number): boolean {
    return now >= this.expiresAt(s);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, s] of this.sessions) if (this.expired(s, now)) this.sessions.delete(k);
  }
}

function digest(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
