import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ControlError, parseControl } from "./control.ts";
import { VpcdDeframer, VpcdFrameError, vpcdFrame } from "./vpcd.ts";

describe("vpcd framing", () => {
  test("messages split anywhere in the stream come out whole and in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map((m) => vpcdFrame(m)));
          const d = new VpcdDeframer();
          const out: Uint8Array[] = [];
          let pos = 0;
          let i = 0;
          while (pos < stream.length) {
            const n = cuts[i++ % cuts.length] ?? 1;
            out.push(...d.push(stream.subarray(pos, pos + n)));
            pos += n;
          }
          expect(out).toEqual(messages);
        },
      ),
    );
  });

  test("an empty message is an error; sizes out of range are refused", () => {
    expect(() => new VpcdDeframer().push(Uint8Array.of(0, 0))).toThrow(VpcdFrameError);
    expect(() => vpcdFrame(new Uint8Array(0))).toThrow(VpcdFrameError);
    expect(() => vpcdFrame(new Uint8Array(65536))).toThrow(VpcdFrameError);
    expect(new VpcdDeframer().push(Uint8Array.of(0, 5, 1))).toEqual([]);
  });

  test("random streams give messages or a VpcdFrameError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          new VpcdDeframer().push(b);
        } catch (e) {
          expect(e).toBeInstanceOf(VpcdFrameError);
        }
      }),
    );
  });
});

describe("card control commands", () => {
  test("valid commands", () => {
    expect(parseControl('{"cmd":"status"}')).toEqual({ cmd: "status" });
    expect(parseControl('{"cmd":"misbehave","mode":"truncate"}')).toEqual({
      cmd: "misbehave",
      mode: "truncate",
      count: 1,
    });
    expect(parseControl('{"cmd":"misbehave","mode":"garbage","count":2,"ins":42}')).toEqual({
      cmd: "misbehave",
      mode: "garbage",
      count: 2,
      ins: 42,
    });
    expect(parseControl('{"cmd":"remove","ms":500}')).toEqual({ cmd: "remove", ms: 500 });
  });

  test("bad commands name the problem", () => {
    for (const [line, re] of [
      ["", /not JSON/],
      ["[]", /JSON object/],
      ['{"cmd":"dump-keys"}', /unknown control command/],
      ['{"cmd":"misbehave","mode":"explode"}', /mode must be/],
      ['{"cmd":"misbehave","mode":"truncate","count":-1}', /count/],
      ['{"cmd":"misbehave","mode":"truncate","ins":300}', /ins must be a byte/],
      ['{"cmd":"remove"}', /ms/],
      [`{"cmd":"status","x":"${"a".repeat(2000)}"}`, /too long/],
    ] as const) {
      expect(() => parseControl(line)).toThrow(re);
    }
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (s) => {
        try {
          parseControl(s);
        } catch (e) {
          expect(e).toBeInstanceOf(ControlError);
        }
      }),
    );
  });
});
