import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmdirSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import {
  BadInputError,
  RecordTooLargeError,
  SecureStoreError,
  StorageFullError,
} from "./errors.ts";
import { type DomainStore, openDomainStore } from "./store.ts";
import { cleanup, devKeys, silent, tempDir } from "./test-support.ts";

afterEach(cleanup);

const ok = (i: number) => ({
  stream: "readings",
  series: "a",
  time: i,
  payload: Buffer.from(`v${i}`),
});

async function withRecords(dir: string, options = {}): Promise<DomainStore> {
  const s = await openDomainStore(dir, "meter", devKeys(dir), {
    log: silent,
    segmentSize: 16,
    ...options,
  });
  await s.append([ok(1), ok(2), ok(3)]);
  return s;
}

async function intact(s: DomainStore, n = 3): Promise<void> {
  expect(
    s.read({ stream: "readings", series: "a" }).records.map((r) => r.payload.toString()),
  ).toEqual(Array.from({ length: n }, (_, i) => `v${i + 1}`));
  expect((await s.verify()).ok).toBe(true);
}

describe("bad input is refused clearly and loses nothing", () => {
  test("oversized records, too many or no records", async () => {
    const dir = tempDir();
    const s = await withRecords(dir, { maxRecordBytes: 1024, maxBatch: 50 });
    const big = { ...ok(4), payload: new Uint8Array(1025) };
    await expect(s.append([ok(4), big])).rejects.toThrow(RecordTooLargeError);
    await expect(s.append([ok(4), big])).rejects.toThrow(/records\[1\]\.payload has 1025 bytes/);
    await expect(s.append(Array.from({ length: 51 }, (_, i) => ok(i)))).rejects.toThrow(/1 to 50/);
    await expect(s.append([])).rejects.toThrow(BadInputError);
    await intact(s);
    await s.close();
  });

  test("malformed records name the field", async () => {
    const dir = tempDir();
    const s = await withRecords(dir);
    const cases: [unknown, RegExp][] = [
      [{ ...ok(4), stream: "Readings" }, /stream/],
      [{ ...ok(4), stream: "_retention" }, /stream/],
      [{ ...ok(4), series: 5 }, /series/],
      [{ ...ok(4), series: "x".repeat(257) }, /series/],
      [{ ...ok(4), time: 1.5 }, /time/],
      [{ ...ok(4), time: Number.NaN }, /time/],
      [{ ...ok(4), time: 9e15 }, /time/],
      [{ ...ok(4), payload: "text" }, /payload/],
      [null, /not a record/],
    ];
    for (const [bad, message] of cases) {
      await expect(s.append([ok(4), bad as never])).rejects.toThrow(message);
    }
    expect(() => s.read({ stream: "readings", cursor: "12" })).toThrow(/cursor/);
    expect(() => s.read({ stream: "readings", limit: 0 })).toThrow(/limit/);
    expect(() => s.read({ stream: "readings", series: [] })).toThrow(/series/);
    expect(() => s.read({ stream: "readings", from: Number.POSITIVE_INFINITY })).toThrow(/from/);
    expect(() => s.get(0)).toThrow(/not a seq/);
    await expect(s.deleteBefore("readings", "a", 5, "")).rejects.toThrow(/reason/);
    await intact(s);
    await s.close();
  });

  test("random records and queries: stored, or refused with a BadInputError", async () => {
    const dir = tempDir();
    const s = await withRecords(dir, { maxRecordBytes: 64 });
    let stored = 3;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          stream: fc.oneof(fc.constant("readings"), fc.string({ maxLength: 40 })),
          series: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
          time: fc.oneof(fc.integer(), fc.double()),
          payload: fc.uint8Array({ maxLength: 80 }),
        }),
        async (r) => {
          try {
            await s.append([r]);
            stored++;
          } catch (e) {
            expect(e).toBeInstanceOf(BadInputError);
          }
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string(), fc.anything(), (cursor, limit) => {
        try {
          s.read({ stream: "readings", cursor, limit: limit as number });
        } catch (e) {
          expect(e).toBeInstanceOf(BadInputError);
        }
      }),
    );
    expect(s.status().lastSeq).toBe(stored);
    expect((await s.verify()).ok).toBe(true);
    await s.close();
  });

  test("a full page quota: StorageFullError, nothing stored is lost, later writes work", async () => {
    const dir = tempDir();
    const s = await withRecords(dir, { maxPages: 40 });
    let full: unknown;
    for (let i = 4; i < 1000 && !full; i++) {
      try {
        await s.append([{ ...ok(i), payload: new Uint8Array(3000) }]);
      } catch (e) {
        full = e;
      }
    }
    expect(full).toBeInstanceOf(StorageFullError);
    expect((full as Error).message).toContain("nothing of the write was stored");
    const last = s.status().lastSeq;
    expect(s.get(1)?.payload.toString()).toBe("v1");
    expect((await s.verify()).ok).toBe(true);
    await s.close();
    const bigger = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(bigger.quarantined).toBeUndefined();
    expect(bigger.status().lastSeq).toBe(last);
    await bigger.append([{ ...ok(5000), payload: new Uint8Array(3000) }]);
    expect((await bigger.verify()).ok).toBe(true);
    await bigger.close();
  });

  const root = process.getuid?.() === 0;
  test.skipIf(!root)(
    "a full disk (a small tmpfs): StorageFullError, nothing stored is lost",
    async () => {
      const base = tempDir();
      const mnt = path.join(base, "small");
      mkdirSync(mnt);
      const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt]);
      if (mounted.status !== 0) {
        console.warn(`skipped: cannot mount a tmpfs (${mounted.stderr.toString().trim()})`);
        return;
      }
      try {
        // The key service's counters live elsewhere (in the security module in production).
        const s = await openDomainStore(mnt, "meter", devKeys(base), {
          log: silent,
          segmentSize: 16,
        });
        await s.append([ok(1), ok(2), ok(3)]);
        let full: unknown;
        for (let i = 4; i < 2000 && !full; i++) {
          try {
            await s.append([{ ...ok(i), payload: new Uint8Array(4000) }]);
          } catch (e) {
            full = e;
          }
        }
        expect(full).toBeInstanceOf(SecureStoreError);
        expect((full as SecureStoreError).code).toBe("full");
        const last = s.status().lastSeq;
        expect(s.get(2)?.payload.toString()).toBe("v2");
        await s.close();
        const again = await openDomainStore(mnt, "meter", devKeys(base), { log: silent });
        expect(again.quarantined).toBeUndefined();
        expect(again.status().lastSeq).toBe(last);
        expect(again.get(3)?.payload.toString()).toBe("v3");
        expect((await again.verify()).ok).toBe(true);
        await again.close();
      } finally {
        spawnSync("umount", [mnt]);
        rmdirSync(mnt);
      }
    },
  );
});
