// Slowing down password guessing without locking the owner out. Two delays apply after failed
// logins and the larger one wins:
// - per account and client address: 1 s, 2 s, 4 s ... capped at a minute. A guesser at one
//   address is slowed to about 1,400 guesses a day; the owner, at another address, is not
//   affected by it at all.
// - per account over all addresses, after ten failures: 1 s doubling, capped at 15 s. This
//   bounds guessing from many addresses, and is all an attacker can impose on the owner.
// Failures are forgotten after a quiet quarter of an hour; a success clears that address.

export interface ThrottleOptions {
  now?: () => number;
  clientCapMs?: number;
  accountCapMs?: number;
  /** Failures over all addresses before the account-wide delay starts. */
  accountFreeFailures?: number;
  forgetAfterMs?: number;
  /** Bound on remembered entries (unknown user names are throttled too). */
  maxEntries?: number;
}

interface Failures {
  count: number;
  last: number;
}

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export class LoginThrottle {
  private readonly byClient = new Map<string, Failures>();
  private readonly byAccount = new Map<string, Failures>();
  readonly now: () => number;
  private readonly clientCapMs: number;
  private readonly accountCapMs: number;
  private readonly accountFreeFailures: number;
  private readonly forgetAfterMs: number;
  private readonly maxEntries: number;

  constructor(o: ThrottleOptions = {}) {
    this.now = o.now ?? Date.now;
    this.clientCapMs = o.clientCapMs ?? 60_000;
    this.accountCapMs = o.accountCapMs ?? 15_000;
    this.accountFreeFailures = o.accountFreeFailures ?? 10;
    this.forgetAfterMs = o.forgetAfterMs ?? 15 * 60_000;
    this.maxEntries = o.maxEntries ?? 10_000;
  }

  /** The longest an owner at a fresh address can be kept waiting by others' failures. */
  get worstOwnerWaitMs(): number {
    return Math.max(this.clientCapMs, this.accountCapMs);
  }

  check(account: string, client: string): ThrottleDecision {
    const now = this.now();
    const wait = Math.max(
      this.until(this.byClient, key(account, client), now, (n) =>
        Math.min(1000 * 2 ** (n - 1), this.clientCapMs),
      ),
      this.until(this.byAccount, account, now, (n) =>
        n <= this.accountFreeFailures
          ? 0
          : Math.min(1000 * 2 ** (n - this.accountFreeFailures - 1), this.accountCapMs),
      ),
    );
    return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
  }

  failure(account: string, client: string): void {
    const now = this.now();
    this.bump(this.byClient, key(account, client), now);
    this.bump(this.byAccount, account, now);
  }

  success(account: string, client: string): void {
    this.byClient.delete(key(account, client));
    const a = this.byAccount.get(account);
    // The owner got in: others' failures no longer count towards the account-wide delay.
    if (a) a.count = Math.min(a.count, this.accountFreeFailures);
  }

  /** Counts for diagnostics; no account names (they identify consumers). */
  stats(): { throttledAccounts: number; trackedClients: number } {
    const now = this.now();
    let throttled = 0;
    for (const f of this.byAccount.values()) {
      if (f.count > this.accountFreeFailures && now - f.last < this.forgetAfterMs) throttled++;
    }
    return { throttledAccounts: throttled, trackedClients: this.byClient.size };
  }

  private until(
    map: Map<string, Failures>,
    k: string,
    now: number,
    delay: (count: number) => number,
  ): number {
    const f = map.get(k);
    if (!f) return 0;
    if (now - f.last >= this.forgetAfterMs) {
      map.delete(k);
      return 0;
    }
    return Math.max(0, f.last + delay(f.count) - now);
  }

  private bump(map: Map<string, Failures>, k: string, now: number): void {
    const f = map.get(k);
    if (f && now - f.last < this.forgetAfterMs) {
      f.count++;
      f.last = now;
      // Re-insert so the map's order is by last failure, oldest first.
      map.delete(k);
      map.set(k, f);
    } else {
      map.delete(k);
      map.set(k, { count: 1, last: now });
    }
    while (map.size > this.maxEntries) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }
}

function key(account: string, client: string): string {
  return `${account}\u0000${client}`;
}
