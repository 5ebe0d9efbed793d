// HAN accounts of the display: consumers and the service technician. Passwords are stored as
// argon2id hashes (memory-hard); failed logins slow the account down (see throttle.ts) instead
// of locking its owner out. A client certificate, verified by the trusted channel manager,
// can identify an account instead of its password (see client-cert.ts).
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { LoginThrottle, type ThrottleOptions } from "./throttle.ts";

export const ACCOUNT_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export const AccountsSchema = T.Record(
  T.String({ pattern: ACCOUNT_NAME.source }),
  T.Object(
    {
      role: T.Union([T.Literal("consumer"), T.Literal("service-technician")]),
      passwordHash: T.String({ pattern: "^\\$argon2id\\$" }),
      /** Subject of the client certificate that identifies this account, e.g. "CN=Alice". */
      certificateSubject: T.Optional(T.String({ minLength: 3, maxLength: 256 })),
    },
    { additionalProperties: false },
  ),
);
export type Accounts = Static<typeof AccountsSchema>;
export type Role = "consumer" | "service-technician";

export class AccountsError extends Error {
  override name = "AccountsError";
}

/** Read the accounts file the installer wrote; a missing file means no accounts. */
export function loadAccounts(file: string): Accounts {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new AccountsError(`accounts file ${file}: not JSON (${(e as Error).message})`);
  }
  return checkAccounts(raw, file);
}

export function checkAccounts(raw: unknown, where = "accounts"): Accounts {
  if (!Value.Check(AccountsSchema, raw)) {
    const e = [...Value.Errors(AccountsSchema, raw)][0];
    throw new AccountsError(`${where}: ${e?.path || "/"} ${e?.message}`);
  }
  const subjects = new Map<string, string>();
  for (const [name, a] of Object.entries(raw)) {
    if (a.certificateSubject === undefined) continue;
    const other = subjects.get(a.certificateSubject);
    if (other) {
      throw new AccountsError(`${where}: ${name} and ${other} share a certificate subject`);
    }
    subjects.set(a.certificateSubject, name);
  }
  return raw;
}

export type AuthResult =
  | { ok: true; account: string; role: Role; via: "password" | "certificate" }
  | { ok: false; status: 401 | 429 | 503; reason: string; retryAfterSeconds?: number };

export interface AuthenticatorOptions extends ThrottleOptions {
  /** Verifications of argon2id hashes running at once; each takes tens of ms and MiBs. */
  maxConcurrentVerifications?: number;
  /** Verifications allowed to wait for a slot before the display answers "busy". */
  maxQueuedVerifications?: number;
  /** How long a verified password is remembered for Basic authentication (per request). */
  verifiedForMs?: number;
}

const MAX_PASSWORD_LENGTH = 1024;
const FAILED: AuthResult = { ok: false, status: 401, reason: "wrong user name or password" };

export class Authenticator {
  readonly throttle: LoginThrottle;
  private readonly now: () => number;
  private readonly verifiedForMs: number;
  /** Keyed MAC of (user, password) -> expiry: argon2id is deliberately slow per request. */
  private readonly verified = new Map<string, number>();
  private readonly cacheKey = randomBytes(32);
  /** Verifications in flight per account: the same password shares one, others wait their turn. */
  private readonly inFlight = new Map<string, { mac: string; result: Promise<boolean> }>();
  private readonly bySubject = new Map<string, string>();
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private dummyHash: Promise<string> | undefined;
  private counters = { passwordFailures: 0, passwordSuccesses: 0, throttled: 0 };

  constructor(
    private readonly accounts: Accounts,
    options: AuthenticatorOptions = {},
  ) {
    this.throttle = new LoginThrottle(options);
    this.now = this.throttle.now;
    this.verifiedForMs = options.verifiedForMs ?? 5 * 60_000;
    this.maxConcurrent = options.maxConcurrentVerifications ?? 2;
    this.maxQueued = options.maxQueuedVerifications ?? 32;
    for (const [name, a] of Object.entries(accounts)) {
      if (a.certificateSubject !== undefined) this.bySubject.set(a.certificateSubject, name);
    }
  }

  get accountCount(): number {
    return Object.keys(this.accounts).length;
  }

  stats(): Record<string, number> {
    return { ...this.counters, ...this.throttle.stats() };
  }

  /** Check a user name and password from a login form or a Basic header. */
  async password(user: string, password: string, client: string): Promise<AuthResult> {
    if (!ACCOUNT_NAME.test(user) || password.length > MAX_PASSWORD_LENGTH) return FAILED;
    const gate = this.throttle.check(user, client);
    if (!gate.allowed) return this.slowDown(gate.retryAfterMs);
    const mac = createHmac("sha256", this.cacheKey).update(user).update("\0").update(password);
    const digest = mac.digest("hex");
    const account = Object.hasOwn(this.accounts, user) ? this.accounts[user] : undefined;
    const seen = this.verified.get(digest);
    if (account && seen !== undefined && seen > this.now()) {
      return { ok: true, account: user, role: account.role, via: "password" };
    }
    let running = this.inFlight.get(user);
    if (running && running.mac !== digest) {
      // One guess at a time per account: parallel guesses would all pass the throttle.
      return this.slowDown(1000);
    }
    if (!running) {
      if (this.queue.length >= this.maxQueued) {
        return { ok: false, status: 503, reason: "too many logins at once; try again" };
      }
      const hash = account ? Promise.resolve(account.passwordHash) : this.dummy();
      running = { mac: digest, result: hash.then((h) => this.verify(password, h)) };
      this.inFlight.set(user, running);
      running.result.finally(() => this.inFlight.delete(user)).catch(() => {});
      const good = (await running.result) && account !== undefined;
      if (!good) {
        this.throttle.failure(user, client);
        this.counters.passwordFailures++;
        return FAILED;
      }
      this.throttle.success(user, client);
      this.counters.passwordSuccesses++;
      this.remember(digest);
      return { ok: true, account: user, role: account.role, via: "password" };
    }
    // The same password is being checked for a parallel request: share its answer.
    const good = (await running.result) && account !== undefined;
    return good && account
      ? { ok: true, account: user, role: account.role, via: "password" }
      : FAILED;
  }

  /** Basic authentication (scripts and curl); undefined when the request carries none. */
  async basic(header: string | null, client: string): Promise<AuthResult | undefined> {
    if (header === null) return undefined;
    const creds = parseBasic(header);
    if (!creds) return { ok: false, status: 401, reason: "malformed Basic credentials" };
    return this.password(creds.user, creds.password, client);
  }

  /** The account a verified client certificate subject identifies. */
  certificate(subject: string): AuthResult {
    const name = this.bySubject.get(subject);
    const account = name === undefined ? undefined : this.accounts[name];
    if (name === undefined || !account) {
      return { ok: false, status: 401, reason: "the client certificate names no account" };
    }
    return { ok: true, account: name, role: account.role, via: "certificate" };
  }

  private slowDown(ms: number): AuthResult {
    this.counters.throttled++;
    return {
      ok: false,
      status: 429,
      retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)),
      reason: "too many failed logins; try again shortly",
    };
  }

  private remember(digest: string): void {
    const now = this.now();
    if (this.verified.size >= 1000) {
      for (const [k, until] of this.verified) if (until <= now) this.verified.delete(k);
      if (this.verified.size >= 1000) this.verified.clear();
    }
    this.verified.set(digest, now + this.verifiedForMs);
  }

  private async verify(password: string, hash: string): Promise<boolean> {
    if (this.running >= this.maxConcurrent) {
      await new Promise<void>((resolve) => this.queue.push(resolve));
    }
    this.running++;
    try {
      return await Bun.password.verify(password, hash).catch(() => false);
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  /** A hash with the accounts' own cost, so an unknown name takes as long as a known one. */
  private dummy(): Promise<string> {
    if (!this.dummyHash) {
      const sample = Object.values(this.accounts)[0]?.passwordHash ?? "";
      const m = /\$m=(\d+),t=(\d+)/.exec(sample);
      this.dummyHash = Bun.password.hash(randomBytes(16).toString("hex"), {
        algorithm: "argon2id",
        ...(m ? { memoryCost: Number(m[1]), timeCost: Number(m[2]) } : {}),
      });
    }
    return this.dummyHash;
  }
}

export function parseBasic(header: string): { user: string; password: string } | undefined {
  if (header.length > 4096) return undefined;
  const m = /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const i = decoded.indexOf(":");
  if (i <= 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}
