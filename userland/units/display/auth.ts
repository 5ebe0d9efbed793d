// HAN accounts of the display: consumers and the service technician, with passwords stored
// as argon2id hashes (memory-hard). Failed logins slow an account down (exponential, capped
// at a minute) instead of locking its owner out.
import { existsSync, readFileSync } from "node:fs";
import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

export const AccountsSchema = T.Record(
  T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" }),
  T.Object(
    {
      role: T.Union([T.Literal("consumer"), T.Literal("service-technician")]),
      passwordHash: T.String({ pattern: "^\\$argon2id\\$" }),
    },
    { additionalProperties: false },
  ),
);
export type Accounts = Static<typeof AccountsSchema>;

export function loadAccounts(file: string): Accounts {
  if (!existsSync(file)) return {};
  const raw: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (!Value.Check(AccountsSchema, raw)) {
    const e = [...Value.Errors(AccountsSchema, raw)][0];
    throw new Error(`accounts file ${file}: ${e?.path} ${e?.message}`);
  }
  return raw;
}

export type AuthResult =
  | { ok: true; account: string; role: "consumer" | "service-technician" }
  | { ok: false; status: 401 | 429; retryAfterSeconds?: number; reason: string };

const MAX_DELAY_MS = 60_000;
const VERIFIED_FOR_MS = 5 * 60_000;

export class Authenticator {
  private readonly failures = new Map<string, { count: number; until: number }>();
  /** Recently verified (account, password digest): argon2id is deliberately slow. */
  private readonly verified = new Map<string, number>();

  constructor(
    private readonly accounts: Accounts,
    private readonly now: () => number = Date.now,
  ) {}

  async check(header: string | null): Promise<AuthResult> {
    const creds = parseBasic(header);
    if (!creds) return { ok: false, status: 401, reason: "credentials required" };
    const { user, password } = creds;
    const account = this.accounts[user];
    const fail = this.failures.get(user);
    if (fail && fail.until > this.now()) {
      return {
        ok: false,
        status: 429,
        retryAfterSeconds: Math.ceil((fail.until - this.now()) / 1000),
        reason: "too many failed logins; try again shortly",
      };
    }
    const digest = new Bun.CryptoHasher("sha256").update(`${user}\0${password}`).digest("hex");
    const seen = this.verified.get(digest);
    if (account && seen !== undefined && seen > this.now()) {
      return { ok: true, account: user, role: account.role };
    }
    const good = account ? await Bun.password.verify(password, account.passwordHash) : false;
    if (!good || !account) {
      const count = (fail?.count ?? 0) + 1;
      // 1 s, 2 s, 4 s ... capped: an attacker is slowed, the owner waits at most a minute.
      const delay = Math.min(1000 * 2 ** (count - 1), MAX_DELAY_MS);
      this.failures.set(user, { count, until: this.now() + delay });
      return { ok: false, status: 401, reason: "wrong user name or password" };
    }
    this.failures.delete(user);
    this.verified.set(digest, this.now() + VERIFIED_FOR_MS);
    return { ok: true, account: user, role: account.role };
  }
}

function parseBasic(header: string | null): { user: string; password: string } | undefined {
  if (!header?.startsWith("Basic ") || header.length > 1024) return undefined;
  let decoded: string;
  try {
    decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  } catch {
    return undefined;
  }
  const i = decoded.indexOf(":");
  if (i <= 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}
