import { describe, expect, test } from "bun:test";
import { parseReadingQuery } from "./api.ts";
import { Authenticator } from "./auth.ts";

const q = (s: string) => parseReadingQuery(new URLSearchParams(s));

describe("reading query parameters", () => {
  test("accepts a well-formed query", () => {
    expect(
      q(
        "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00%2B01:00&limit=50&after=7&obis=1-0:1.8.0*255",
      ),
    ).toEqual({
      from: "2026-01-01T00:00:00Z",
      to: "2026-02-01T00:00:00+01:00",
      limit: 50,
      after: 7,
      obis: "1-0:1.8.0*255",
    });
  });

  test.each([
    ["from=yesterday", "from must be an ISO 8601 time"],
    ["from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from is after to"],
    ["limit=0", "limit must be an integer from 1 to 1000"],
    ["limit=1e3", "limit must be an integer from 1 to 1000"],
    ["after=-1", "after must be an integer"],
    ["obis=1.8.0'%20OR%201=1", "obis must look like 1-0:1.8.0*255"],
    ["meter=meter-3", "unknown parameter meter"],
  ])("%s is refused", (s, message) => {
    expect(q(s)).toEqual({ error: message });
  });
});

describe("HAN authentication", () => {
  test("wrong passwords slow an account down, capped, and the owner gets back in", async () => {
    let now = 1_000_000;
    const hash = await Bun.password.hash("right", {
      algorithm: "argon2id",
      memoryCost: 1024,
      timeCost: 1,
    });
    const auth = new Authenticator({ alice: { role: "consumer", passwordHash: hash } }, () => now);
    const basic = (p: string) => `Basic ${Buffer.from(`alice:${p}`).toString("base64")}`;
    expect(await auth.check(basic("right"))).toMatchObject({ ok: true, account: "alice" });
    for (let i = 0; i < 12; i++) {
      expect((await auth.check(basic("wrong"))).ok).toBe(false);
      now += 61_000; // each failure's wait has passed
    }
    expect(await auth.check(basic("wrong"))).toMatchObject({ ok: false, status: 401 });
    const blocked = await auth.check(basic("right"));
    expect(blocked).toMatchObject({ ok: false, status: 429 });
    expect((blocked as { retryAfterSeconds: number }).retryAfterSeconds).toBeLessThanOrEqual(60);
    now += 60_000;
    expect(await auth.check(basic("right"))).toMatchObject({ ok: true });
  });

  test("malformed headers are refused", async () => {
    const auth = new Authenticator({});
    for (const h of [
      null,
      "Bearer x",
      "Basic !!!",
      `Basic ${"A".repeat(2000)}`,
      `Basic ${btoa("nocolon")}`,
    ]) {
      expect(await auth.check(h)).toMatchObject({ ok: false, status: 401 });
    }
  });
});
