import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { LineSplitter, MAX_LINE, parseChannelLine, runCommandLine } from "./channel.ts";

const encode = (s: string) => gzipSync(Buffer.from(s)).toString("base64");

describe("parseChannelLine", () => {
  test("a result line: id, exit code, gzip+base64 output", () => {
    expect(parseChannelLine(`@@smgw-result c7 0 ${encode("Enforcing\n")}\r`)).toEqual({
      kind: "result",
      id: "c7",
      code: 0,
      output: "Enforcing\n",
    });
  });

  test("a result with empty output and a non-zero code", () => {
    expect(parseChannelLine(`@@smgw-result c1 3 ${encode("")}`)).toMatchObject({
      kind: "result",
      code: 3,
      output: "",
    });
  });

  test("noise before the marker is ignored, a line without it is 'other'", () => {
    expect(parseChannelLine(`\u0000garbage@@smgw-result a 1 ${encode("x")}`)).toMatchObject({
      kind: "result",
      output: "x",
    });
    expect(parseChannelLine("[   12.3] kernel says hello")).toEqual({
      kind: "other",
      line: "[   12.3] kernel says hello",
    });
  });

  test("the ready line", () => {
    expect(parseChannelLine("@@smgw-ready 61.42 failed=")).toEqual({
      kind: "ready",
      uptime: 61.42,
      failed: [],
    });
    expect(parseChannelLine("@@smgw-ready 70 failed=smgw-ifm.service,smgw-data.service")).toEqual({
      kind: "ready",
      uptime: 70,
      failed: ["smgw-ifm.service", "smgw-data.service"],
    });
  });

  test("malformed lines say what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["@@smgw-result c1 0", /fields/],
      ["@@smgw-result c1 0 a b", /fields/],
      ["@@smgw-result c/1 0 AAAA", /id/],
      ["@@smgw-result c1 x AAAA", /exit code/],
      ["@@smgw-result c1 1000 AAAA", /exit code/],
      ["@@smgw-result c1 0 not*base64", /base64/],
      ["@@smgw-result c1 0 QUJD", /gzip/],
      [`@@smgw-result c1 0 ${encode("abc").slice(0, 12)}`, /gzip/],
      ["@@smgw-ready", /ready line/],
      ["@@smgw-ready soon failed=", /uptime/],
      ["@@smgw-ready 1e999 failed=", /uptime/],
      ["@@smgw-ready 12 broken", /ready line/],
      ["@@smgw-what 1", /unknown event/],
    ];
    for (const [line, reason] of cases) {
      const ev = parseChannelLine(line);
      expect(ev.kind).toBe("error");
      if (ev.kind === "error") expect(ev.reason).toMatch(reason);
    }
  });

  test("an oversized line is refused without decoding", () => {
    const ev = parseChannelLine(`@@smgw-result c1 0 ${"A".repeat(MAX_LINE + 4)}`);
    expect(ev).toMatchObject({ kind: "error" });
  });

  test("random input never throws and is always classified", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const ev = parseChannelLine(s);
        expect(["result", "ready", "other", "error"]).toContain(ev.kind);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 200 }), (id, bytes) => {
        const ev = parseChannelLine(
          `@@smgw-result ${id} 0 ${Buffer.from(bytes).toString("base64")}`,
        );
        expect(["result", "error"]).toContain(ev.kind);
      }),
      { numRuns: 1000 },
    );
  });

  test("round trip: any output survives the encoding", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), fc.integer({ min: 0, max: 255 }), (out, code) => {
        expect(parseChannelLine(`@@smgw-result r1 ${code} ${encode(out)}`)).toEqual({
          kind: "result",
          id: "r1",
          code,
          output: out,
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe("LineSplitter", () => {
  test("keeps the unfinished tail for the next chunk", () => {
    const s = new LineSplitter();
    expect(s.push("ab")).toEqual([]);
    expect(s.push("c\nde")).toEqual(["abc"]);
    expect(s.push("f\n\ng\n")).toEqual(["def", "", "g"]);
  });

  test("any split of a text gives the same lines", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 20 }), { maxLength: 20 }), (parts) => {
        const text = `${parts.join("")}\n`;
        const s = new LineSplitter();
        const got = parts.flatMap((p) => s.push(p)).concat(s.push("\n"));
        expect(got).toEqual(text.split("\n").slice(0, -1));
      }),
    );
  });
});

describe("runCommandLine", () => {
  test("base64 of the script after the id, one line", () => {
    const line = runCommandLine("c3", "echo 'a b'");
    expect(line).toBe(
      `/usr/libexec/smgw-test/run c3 ${Buffer.from("echo 'a b'").toString("base64")}\n`,
    );
  });

  test("refuses ids that would break the line and scripts longer than a console line", () => {
    expect(() => runCommandLine("c 1", "true")).toThrow(/id/);
    expect(() => runCommandLine("c;1", "true")).toThrow(/id/);
    expect(() => runCommandLine("c1", "x".repeat(3000))).toThrow(/too long/);
  });
});
