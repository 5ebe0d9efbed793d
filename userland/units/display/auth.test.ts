import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { AccountsError, Authenticator, checkAccounts, parseBasic } from "./auth.ts";
import { isLoopback, trustedHeaderSource } from "./client-cert.ts";
import { SessionStore } from "./sessions.ts";
import { testAccounts } from "./testing/fixture.ts";
import { LoginThrottle } from "./throttle.ts";

const accounts = await testAccounts({ alice: "right", technician: "tech" });
const clockAt = (start = 1_000_000) => {
  const clock = { now: start };
  return { clock, now: () => clock.now };
};

describe("login throttle", () => {
  test("failures at one address slow that address down, doubling, capped at a minute", () => {
    const { clock, now } = clockAt();
    const t = new LoginThrottle({ now });
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      t.failure("alice", "203.0.113.99");
      const d = t.check("alice", "203.0.113.99");
      waits.push(d.allowed ? 0 : d.retryAfterMs);
      clock.now += d.allowed ? 0 : d.retryAfterMs;
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
  });

  test("another address is slowed only by the account-wide delay, at most 15 s", () => {
    const { clock, now } = clockAt();
    const t = new LoginThrottle({ now });
    // An attacker fails a hundred times, each time as soon as allowed.
    for (let i = 0; i < 100; i++) {
      const d = t.check("alice", "203.0.113.99");
      if (!d.allowed) clock.now += d.retryAfterMs;
      t.failure("alice", "203.0.113.99");
    }
    const owner = t.check("alice", "203.0.113.10");
    expect(owner.allowed).toBe(false);
    expect(owner.allowed ? 0 : owner.retryAfterMs).toBeLessThanOrEqual(15_000);
    clock.now += 15_000;
    expect(t.check("alice", "203.0.113.10")).toEqual({ allowed: true });
    // The attacker still waits its minute.
    expect(t.check("alice", "203.0.113.99").allowed).toBe(false);
  });

  test("a success clears the address; quiet time forgets the rest", () => {
    const { clock, now } = clockAt();
    const t = new LoginThrottle({ now });
    for (let i = 0; i < 5; i++) t.failure("alice", "a");
    t.success("alice", "a");
    expect(t.check("alice", "a")).toEqual({ allowed: true });
    for (let i = 0; i < 5; i++) t.failure("bob", "b");
    clock.now += 15 * 60_000;
    expect(t.check("bob", "b")).toEqual({ allowed: true });
  });

  test("memory stays bounded under random names", () => {
    const t = new LoginThrottle({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) t.failure(`user-${i}`, `10.0.0.${i % 250}`);
    expect(t.stats().trackedClients).toBeLessThanOrEqual(100);
  });

  test("property: whatever others do, the owner waits at most a minute at their own address", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            client: fc.constantFrom("203.0.113.10", "203.0.113.99", "203.0.113.98"),
            advanceMs: fc.integer({ min: 0, max: 120_000 }),
          }),
          { maxLength: 60 },
        ),
        (steps) => {
          const { clock, now } = clockAt();
          const t = new LoginThrottle({ now });
          for (const s of steps) {
            clock.now += s.advanceMs;
            if (t.check("alice", s.client).allowed) t.failure("alice", s.client);
            const owner = t.check("alice", "203.0.113.10");
            if (!owner.allowed) expect(owner.retryAfterMs).toBeLessThanOrEqual(60_000);
          }
        },
      ),
    );
  });
});

describe("authenticator", () => {
  test("wrong passwords slow the account down, and the owner gets back in within a minute", async () => {
    const { clock, now } = clockAt();
    const auth = new Authenticator(accounts, { now });
    expect(await auth.password("alice", "right", "a")).toMatchObject({
      ok: true,
      role: "consumer",
    });
    for (let i = 0; i < 12; i++) {
      expect(await auth.password("alice", "wrong", "a")).toMatchObject({ ok: false, status: 401 });
      clock.now += 61_000;
    }
    expect(await auth.password("alice", "wrong", "a")).toMatchObject({ ok: false, status: 401 });
    const blocked = await auth.password("alice", "right", "a");
    expect(blocked).toMatchObject({ ok: false, status: 429 });
    expect((blocked as { retryAfterSeconds: number }).retryAfterSeconds).toBeLessThanOrEqual(60);
    clock.now += 60_000;
    expect(await auth.password("alice", "right", "a")).toMatchObject({ ok: true });
  });

  test("unknown users fail like wrong passwords, and are throttled too", async () => {
    const auth = new Authenticator(accounts);
    expect(await auth.password("mallory", "x", "a")).toEqual({
      ok: false,
      status: 401,
      reason: "wrong user name or password",
    });
    expect(await auth.password("mallory", "x", "a")).toMatchObject({ status: 429 });
    expect(await auth.password("Not A Name", "x", "a")).toMatchObject({ status: 401 });
    expect(await auth.password("alice", "x".repeat(2000), "a")).toMatchObject({ status: 401 });
  });

  test("parallel guesses for one account are refused, the same password is checked once", async () => {
    const auth = new Authenticator(accounts);
    const guesses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => auth.password("alice", `guess-${i}`, "a")),
    );
    expect(guesses.filter((g) => !g.ok && g.status === 401)).toHaveLength(1);
    expect(guesses.filter((g) => !g.ok && g.status === 429)).toHaveLength(7);
    const fresh = new Authenticator(accounts);
    const same = await Promise.all(
      Array.from({ length: 5 }, () => fresh.password("alice", "right", "a")),
    );
    expect(same.every((r) => r.ok)).toBe(true);
    expect(fresh.stats().passwordSuccesses).toBe(1);
  });

  test("Basic credentials are parsed strictly", async () => {
    const auth = new Authenticator(accounts);
    const b = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    expect(await auth.basic(null, "a")).toBeUndefined();
    expect(await auth.basic(b("alice:right"), "a")).toMatchObject({ ok: true, account: "alice" });
    for (const h of ["Bearer x", "Basic !!!", `Basic ${"A".repeat(5000)}`, b("nocolon"), b(":x")]) {
      expect(await auth.basic(h, "a")).toMatchObject({ ok: false, status: 401 });
    }
    expect(parseBasic(b("alice:pa:ss"))).toEqual({ user: "alice", password: "pa:ss" });
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        parseBasic(s);
        parseBasic(`Basic ${s}`);
      }),
    );
  });

  test("a certificate subject names its account", async () => {
    const withCert = checkAccounts({
      ...accounts,
      bob: { ...(accounts.alice as object), certificateSubject: "CN=Bob" },
    });
    const auth = new Authenticator(withCert);
    expect(auth.certificate("CN=Bob")).toMatchObject({
      ok: true,
      account: "bob",
      via: "certificate",
    });
    expect(auth.certificate("CN=Eve")).toMatchObject({ ok: false, status: 401 });
  });

  test("an accounts file is checked", () => {
    expect(() => checkAccounts({ alice: { role: "root", passwordHash: "$argon2id$x" } })).toThrow(
      AccountsError,
    );
    expect(() => checkAccounts({ alice: { role: "consumer", passwordHash: "plain" } })).toThrow(
      "/alice/passwordHash",
    );
    const dup = { role: "consumer", passwordHash: "$argon2id$x", certificateSubject: "CN=A" };
    expect(() => checkAccounts({ a: dup, b: dup })).toThrow("share a certificate subject");
  });
});

describe("sessions", () => {
  test("end after idle time, after the maximum age, and on logout", () => {
    const { clock, now } = clockAt();
    const s = new SessionStore({ now, idleMs: 1000, maxAgeMs: 5000 });
    const { token } = s.create("alice", "consumer", "password");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (let i = 0; i < 4; i++) {
      clock.now += 900;
      expect(s.get(token)?.account).toBe("alice");
    }
    clock.now += 1500;
    expect(s.get(token)).toBeUndefined();
    const second = s.create("alice", "consumer", "password").token;
    for (let i = 0; i < 5; i++) {
      clock.now += 900;
      s.get(second);
    }
    clock.now += 600;
    expect(s.get(second)).toBeUndefined();
    const third = s.create("alice", "consumer", "password").token;
    expect(s.delete(third)).toBe(true);
    expect(s.get(third)).toBeUndefined();
    expect(s.get("not-a-token")).toBeUndefined();
  });

  test("an account holds a bounded number of sessions", () => {
    const s = new SessionStore({ maxPerAccount: 3 });
    const tokens = Array.from({ length: 5 }, () => s.create("bob", "consumer", "password").token);
    expect(tokens.map((t) => s.get(t) !== undefined)).toEqual([false, false, true, true, true]);
  });
});

describe("client certificate hook", () => {
  const source = trustedHeaderSource();
  const req = new Request("http://localhost/", { headers: { "x-smgw-client-subject": "CN=Bob" } });

  test("the subject header is believed on the TCM listener from loopback only", () => {
    expect(source.subjectOf(req, { address: "127.0.0.1", listener: "tcm" })).toBe("CN=Bob");
    expect(source.subjectOf(req, { address: "::1", listener: "tcm" })).toBe("CN=Bob");
    expect(source.subjectOf(req, { address: "203.0.113.10", listener: "tcm" })).toBeUndefined();
    expect(source.subjectOf(req, { address: "127.0.0.1", listener: "han" })).toBeUndefined();
    expect(source.isForged?.(req, { address: "203.0.113.10", listener: "han" })).toBe(true);
    expect(isLoopback("127.1.2.3")).toBe(true);
    expect(isLoopback("::ffff:127.0.0.1")).toBe(true);
    expect(isLoopback("1127.0.0.1")).toBe(false);
  });
});
