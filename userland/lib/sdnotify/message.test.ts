import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseNotifyDatagram } from "./message.ts";
import { encodeState } from "./notify.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("parseNotifyDatagram", () => {
  test("parses READY, STATUS and WATCHDOG lines", () => {
    const parsed = parseNotifyDatagram(bytes("READY=1\nSTATUS=Listening on :443\nWATCHDOG=1\n"));
    expect({ ...parsed.fields }).toEqual({
      READY: "1",
      STATUS: "Listening on :443",
      WATCHDOG: "1",
    });
    expect(parsed.raw).toBe("READY=1\nSTATUS=Listening on :443\nWATCHDOG=1\n");
    expect(parsed.problems).toEqual([]);
  });

  test("keeps '=' inside values, the last of repeated keys, and skips empty lines", () => {
    const parsed = parseNotifyDatagram(bytes("\nSTATUS=a=b\n\nSTATUS=second\nERRNO=0"));
    expect({ ...parsed.fields }).toEqual({ STATUS: "second", ERRNO: "0" });
    expect(parsed.problems).toEqual([]);
  });

  test("reports malformed lines with their line number and keeps the rest", () => {
    const parsed = parseNotifyDatagram(
      bytes("READY=1\nno equals sign\n=empty key\nBAD KEY=x\nOK=2"),
    );
    expect({ ...parsed.fields }).toEqual({ READY: "1", OK: "2" });
    expect(parsed.problems.map((p) => [p.kind, p.line])).toEqual([
      ["malformed-line", 2],
      ["malformed-line", 3],
      ["malformed-line", 4],
    ]);
    expect(parsed.problems[0]?.message).toContain('"no equals sign"');
  });

  test("a key named __proto__ does not touch the prototype", () => {
    const parsed = parseNotifyDatagram(bytes("__proto__=x\nREADY=1"));
    expect(Object.getOwnPropertyDescriptor(parsed.fields, "__proto__")?.value).toBe("x");
    expect(Object.getPrototypeOf(parsed.fields)).toBeNull();
  });

  test("drops empty, binary, non-UTF-8 and truncated datagrams", () => {
    const cases: [Uint8Array, number, string][] = [
      [new Uint8Array(0), 0, "empty"],
      [bytes("READY=1\0junk"), 12, "binary"],
      [new Uint8Array([0x52, 0x3d, 0xff, 0xfe]), 4, "invalid-utf8"],
      [bytes("READY=1"), 9000, "truncated"],
    ];
    for (const [data, length, kind] of cases) {
      const parsed = parseNotifyDatagram(data, length);
      expect(parsed.raw).toBe("");
      expect(Object.keys(parsed.fields)).toEqual([]);
      expect(parsed.problems.map((p) => p.kind)).toEqual([kind as never]);
    }
  });

  test("truncates long malformed lines in reports", () => {
    const parsed = parseNotifyDatagram(bytes("x".repeat(3000)));
    expect(parsed.problems[0]?.message.length).toBeLessThan(120);
  });

  test("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(5000), (data, extra) => {
        const parsed = parseNotifyDatagram(data, data.length + (extra % 3 === 0 ? extra : 0));
        for (const [key, value] of Object.entries(parsed.fields)) {
          expect(key).toMatch(/^[A-Za-z0-9_]+$/);
          expect(value).not.toContain("\n");
        }
        for (const problem of parsed.problems) expect(problem.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  test("round-trips what encodeState produces", () => {
    const key = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,15}$/);
    const value = fc
      .string({ maxLength: 40 })
      .filter((v) => !v.includes("\n") && !v.includes("\0"));
    fc.assert(
      fc.property(fc.dictionary(key, value, { minKeys: 1, maxKeys: 8 }), (state) => {
        if ("RELOADING" in state) return;
        const parsed = parseNotifyDatagram(bytes(encodeState(state)));
        expect(parsed.problems).toEqual([]);
        expect({ ...parsed.fields }).toEqual(state);
      }),
      { numRuns: 500 },
    );
  });
});
