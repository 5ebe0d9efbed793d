import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parsePolicy } from "@smgw/policy";
import fc from "fast-check";
import { allowCounter, compileNftables, dropCounters } from "./compile.ts";
import {
  applyPacketFilter,
  CounterListingError,
  MAX_LISTING_BYTES,
  PacketFilterError,
  parseCounters,
  readCounters,
} from "./nft.ts";

const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } },
    {
      counter: {
        family: "inet",
        name: "drop_in_wan",
        table: "smgw",
        handle: 4,
        comment: "dropped",
        packets: 3,
        bytes: 180,
      },
    },
    { counter: { family: "inet", name: "other", table: "elsewhere", packets: 1, bytes: 1 } },
    { counter: { family: "ip", name: "same", table: "smgw", packets: 1, bytes: 1 } },
  ],
});

function listingError(text: string): string {
  try {
    parseCounters(text);
  } catch (e) {
    if (e instanceof CounterListingError) return e.message;
    throw e;
  }
  throw new Error("listing was accepted");
}

describe("parseCounters", () => {
  test("reads the counters of table inet smgw and nothing else", () => {
    expect(parseCounters(LISTING)).toEqual({ drop_in_wan: { packets: 3, bytes: 180 } });
    expect(parseCounters('{"nftables":[]}')).toEqual({});
  });

  test("malformed listings are refused with what and where", () => {
    expect(listingError("")).toContain("not JSON");
    expect(listingError(LISTING.slice(0, 120))).toContain("not JSON");
    expect(listingError("[]")).toContain('no "nftables" array');
    expect(listingError('{"nftables":{}}')).toContain('no "nftables" array');
    expect(listingError('{"nftables":[1]}')).toBe("nftables[0] is not an object");
    expect(listingError('{"nftables":[{"counter":[]}]}')).toBe(
      "nftables[0].counter is not an object",
    );
    const counter = (c: Record<string, unknown>) =>
      JSON.stringify({
        nftables: [{ metainfo: {} }, { counter: { family: "inet", table: "smgw", ...c } }],
      });
    expect(listingError(counter({ packets: 1, bytes: 1 }))).toBe(
      "nftables[1].counter.name is not a counter name",
    );
    expect(listingError(counter({ name: "x", packets: -1, bytes: 1 }))).toBe(
      "nftables[1].counter.packets of x is not a count",
    );
    expect(listingError(counter({ name: "x", packets: 1, bytes: "9" }))).toBe(
      "nftables[1].counter.bytes of x is not a count",
    );
    expect(listingError(counter({ name: "x", packets: 1.5, bytes: 1 }))).toContain("packets");
    expect(listingError(counter({ name: "x", packets: 2 ** 60, bytes: 1 }))).toContain("packets");
    expect(listingError(" ".repeat(MAX_LISTING_BYTES + 1))).toContain("larger than");
  });

  test("a counter named like an Object property stays a plain entry", () => {
    const text = LISTING.replace("drop_in_wan", "__proto__");
    const c = parseCounters(text);
    expect(Object.keys(c)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(c, "__proto__")?.value).toEqual({
      packets: 3,
      bytes: 180,
    });
  });

  test("random and truncated input: a counter table or CounterListingError, never anything else", () => {
    const check = (text: string) => {
      try {
        const c = parseCounters(text);
        for (const v of Object.values(c)) {
          expect(Number.isSafeInteger(v.packets) && Number.isSafeInteger(v.bytes)).toBe(true);
        }
      } catch (e) {
        expect(e).toBeInstanceOf(CounterListingError);
      }
    };
    fc.assert(fc.property(fc.string(), check), { numRuns: 500 });
    fc.assert(fc.property(fc.json(), check), { numRuns: 500 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: LISTING.length }), (n) => check(LISTING.slice(0, n))),
    );
    const item = fc.record({
      counter: fc.record(
        {
          family: fc.constantFrom("inet", "ip", 3),
          table: fc.constantFrom("smgw", "x", null),
          name: fc.oneof(fc.string(), fc.integer()),
          packets: fc.oneof(fc.integer(), fc.double(), fc.string()),
          bytes: fc.oneof(fc.nat(), fc.constant(null)),
        },
        { requiredKeys: [] },
      ),
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(item, fc.anything())), (items) =>
        check(JSON.stringify({ nftables: items })),
      ),
      { numRuns: 500 },
    );
  });
});

describe("namespace commands", () => {
  test("a namespace name that is no plain name is refused before anything runs", () => {
    for (const ns of ["", "-n", "a b", "../x", "x;rm", "a".repeat(65)]) {
      expect(() => applyPacketFilter(ns, "")).toThrow(PacketFilterError);
      expect(() => readCounters(ns)).toThrow(PacketFilterError);
    }
  });

  const isRoot = process.getuid?.() === 0;
  test.skipIf(!isRoot || Bun.which("nft") === null)(
    "loads into a fresh namespace, reloads, and reads back every counter at zero (root)",
    () => {
      const ns = `smgwnft${process.pid % 100000}`;
      const policy = parsePolicy(
        readFileSync(path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml"), "utf8"),
      );
      const ruleset = compileNftables(policy);
      Bun.spawnSync(["ip", "netns", "add", ns]);
      try {
        applyPacketFilter(ns, ruleset); // first load: the table does not exist yet
        applyPacketFilter(ns, ruleset); // reload replaces it
        const counters = readCounters(ns);
        const expected = [
          ...dropCounters(),
          ...new Set(policy.networkFlows.map((f) => allowCounter(f.id))),
        ];
        expect(Object.keys(counters).sort()).toEqual(expected.sort());
        for (const c of Object.values(counters)) expect(c).toEqual({ packets: 0, bytes: 0 });
        const listed = Bun.spawnSync(["ip", "netns", "exec", ns, "nft", "list", "tables"]);
        expect(listed.stdout.toString().trim()).toBe("table inet smgw");
        expect(() => applyPacketFilter(ns, "table inet smgw { chain x { nonsense } }")).toThrow(
          /nft refused the ruleset/,
        );
        // A refused load changes nothing.
        expect(Object.keys(readCounters(ns))).toHaveLength(expected.length);
      } finally {
        Bun.spawnSync(["ip", "netns", "delete", ns]);
      }
    },
  );
});
