import { describe, expect, test } from "bun:test";
import path from "node:path";
import { loadPolicyFile } from "@smgw/policy";
import fc from "fast-check";
import { MESSAGE_TYPES } from "./contracts.ts";
import { checkRequest } from "./envelope.ts";
import { encodeFrame, FrameDecoder } from "./frame.ts";

describe("frames", () => {
  test("round trip, split at every byte", () => {
    const msgs = [{ a: 1 }, "x", [1, 2], { nested: { ü: "ß" } }];
    const bytes = Buffer.concat(msgs.map((m) => encodeFrame(m)));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(out.map((r) => (r.ok ? r.value : r.error))).toEqual(msgs);
    }
  });

  test("malformed JSON and invalid UTF-8 are errors, the next frame still decodes", () => {
    const bad = [Buffer.from("{"), Buffer.from([0xff, 0xfe])].map((b) => {
      const f = Buffer.alloc(4 + b.length);
      f.writeUInt32BE(b.length);
      b.copy(f, 4);
      return f;
    });
    const d = new FrameDecoder();
    const out = d.push(Buffer.concat([...bad, encodeFrame({ ok: 1 })]));
    expect(out.map((r) => (r.ok ? r.value : r.error))).toEqual([
      "malformed-json",
      "malformed-json",
      { ok: 1 },
    ]);
  });

  test("an oversized length stops the decoder without buffering it", () => {
    const d = new FrameDecoder(1024);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(2 ** 31);
    expect(d.push(head)[0]).toMatchObject({ ok: false, error: "oversized" });
    expect(d.failed).toBe(true);
    expect(d.push(encodeFrame({ a: 1 }))).toEqual([]);
    expect(() => encodeFrame("x".repeat(2000), 1024)).toThrow(RangeError);
  });

  test("random bytes never throw and never yield more frames than fit", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }), (chunks) => {
        const d = new FrameDecoder(4096);
        let total = 0;
        let frames = 0;
        for (const c of chunks) {
          total += c.length;
          frames += d.push(c).length;
        }
        expect(frames).toBeLessThanOrEqual(Math.floor(total / 4) + 1);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("contracts", () => {
  test("every message type of the policy has a contract, and no contract is unused", async () => {
    const policy = await loadPolicyFile(
      path.resolve(import.meta.dir, "../../../policy/smgw.policy.yaml"),
    );
    expect([...MESSAGE_TYPES].sort() as string[]).toEqual(
      Object.keys(policy.document.messages).sort(),
    );
  });

  test("the request envelope rejects extra keys and wrong kinds", () => {
    expect(
      checkRequest.Check({ kind: "request", id: "1", to: "storage", type: "status.get", body: {} }),
    ).toBe(true);
    expect(
      checkRequest.Check({
        kind: "request",
        id: "1",
        to: "storage",
        type: "status.get",
        body: {},
        from: "ifm",
      }),
    ).toBe(false);
    expect(
      checkRequest.Check({ kind: "request", id: "", to: "storage", type: "status.get", body: {} }),
    ).toBe(false);
    expect(
      checkRequest.Check({ kind: "request", id: "1", to: "../x", type: "status.get", body: {} }),
    ).toBe(false);
  });
});
