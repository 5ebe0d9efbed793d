import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { QuarantinedError, UnknownDomainError } from "./errors.ts";
import { clearQuarantine, type DomainStore, openDomainStore } from "./store.ts";
import {
  cleanup,
  devKeys,
  quarantineSink,
  recordingLogger,
  silent,
  tempDir,
} from "./test-support.ts";

afterEach(cleanup);

const rec = (i: number, series = "a", stream = "readings") => ({
  stream,
  series,
  time: 1_000_000 + i * 1000,
  payload: Buffer.from(`value ${i}`),
});

async function filled(dir: string, n: number, options = {}): Promise<DomainStore> {
  const s = await openDomainStore(dir, "meter", devKeys(dir), {
    segmentSize: 8,
    log: silent,
    ...options,
  });
  for (let i = 0; i < n; i += 10) {
    await s.append(Array.from({ length: Math.min(10, n - i) }, (_, k) => rec(i + k)));
  }
  return s;
}

function texts(s: DomainStore, q: Parameters<DomainStore["read"]>[0]): string[] {
  const out: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = s.read({ ...q, ...(cursor ? { cursor } : {}) });
    out.push(...page.records.map((r) => r.payload.toString()));
    if (!page.next) return out;
    cursor = page.next;
  }
}

describe("domain store", () => {
  test("pages through a range in time order without gaps or repeats", async () => {
    const dir = tempDir();
    const s = await filled(dir, 95);
    // Appended out of time order: reads still come in time order.
    await s.append([{ ...rec(-5), payload: Buffer.from("early") }]);
    const all = texts(s, { stream: "readings", series: "a", limit: 7 });
    expect(all).toEqual(["early", ...Array.from({ length: 95 }, (_, i) => `value ${i}`)]);
    const some = texts(s, { stream: "readings", series: "a", from: 1_010_000, to: 1_013_000 });
    expect(some).toEqual(["value 10", "value 11", "value 12"]);
    expect(s.read({ stream: "readings", series: "other" }).records).toEqual([]);
    expect(s.count("readings", "a")).toBe(96);
    expect(s.lastTime("readings", "a")).toBe(1_094_000);
    await s.close();
  });

  test("merges several series in time order", async () => {
    const dir = tempDir();
    const s = await filled(dir, 0);
    await s.append([rec(2, "x"), rec(1, "y"), rec(3, "y"), rec(0, "x")]);
    const page = s.read({ stream: "readings", series: ["x", "y"], limit: 3 });
    expect(page.records.map((r) => [r.series, r.payload.toString()])).toEqual([
      ["x", "value 0"],
      ["y", "value 1"],
      ["x", "value 2"],
    ]);
    expect(page.next).toBeDefined();
    await s.close();
  });

  test("what was acknowledged is there, verified, after reopening", async () => {
    const dir = tempDir();
    const s = await filled(dir, 50);
    await s.close();
    const again = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(again.quarantined).toBeUndefined();
    expect(again.status()).toMatchObject({ lastSeq: 50, counter: "6", segments: 7 });
    expect(again.get(17)?.payload.toString()).toBe("value 16");
    expect(again.scan({ limit: 100 }).records).toHaveLength(50);
    const report = await again.verify();
    expect(report).toMatchObject({ ok: true, authenticated: true, recordsChecked: 50 });
    await again.close();
  });

  test("files are 0600 in a 0700 directory per domain", async () => {
    const dir = tempDir();
    const s = await filled(dir, 5);
    const cls = await openDomainStore(dir, "cls", devKeys(dir), { log: silent });
    await cls.append([rec(1)]);
    for (const domain of ["meter", "cls"]) {
      expect(statSync(path.join(dir, domain)).mode & 0o777).toBe(0o700);
      const files = readdirSync(path.join(dir, domain));
      expect(files).toContain("store.sqlite");
      expect(files).toContain("store.sqlite-wal");
      for (const f of files) expect(statSync(path.join(dir, domain, f)).mode & 0o777).toBe(0o600);
    }
    await s.close();
    await cls.close();
  });

  test("an unknown domain or a bad store name is refused", async () => {
    const dir = tempDir();
    await expect(openDomainStore(dir, "nobody", devKeys(dir))).rejects.toThrow(UnknownDomainError);
    await expect(openDomainStore(dir, "meter", devKeys(dir), { name: "../x" })).rejects.toThrow(
      /store name/,
    );
    expect(existsSync(path.join(dir, "nobody"))).toBe(false);
  });

  test("one store is opened once per process", async () => {
    const dir = tempDir();
    const s = await filled(dir, 1);
    await expect(openDomainStore(dir, "meter", devKeys(dir))).rejects.toThrow(/already open/);
    await s.close();
  });

  test("one domain cannot read another's store", async () => {
    const dir = tempDir();
    const s = await filled(dir, 12);
    await s.close();
    // The meter store's file put where the cls domain's store lives.
    mkdirSync(path.join(dir, "cls"), { mode: 0o700 });
    copyFileSync(path.join(dir, "meter", "store.sqlite"), path.join(dir, "cls", "store.sqlite"));
    const sink = quarantineSink();
    const log = recordingLogger();
    const cls = await openDomainStore(dir, "cls", devKeys(dir), { log, ...sink });
    expect(cls.quarantined?.[0]?.code).toBe("wrong-store");
    expect(() => cls.get(1)).toThrow(QuarantinedError);
    expect(() => cls.read({ stream: "readings", series: "a" })).toThrow(
      /meter\/store, not cls\/store/,
    );
    expect(sink.reports).toHaveLength(1);
    expect(log.lines.some((l) => l.level === "error" && l.msg.includes("quarantined"))).toBe(true);
    await cls.close();

    // Even with its identity rewritten to cls, the data key does not unwrap for cls.
    const copy = path.join(dir, "admin", "store.sqlite");
    mkdirSync(path.dirname(copy), { mode: 0o700 });
    copyFileSync(path.join(dir, "meter", "store.sqlite"), copy);
    const db = new Database(copy);
    db.exec("UPDATE meta SET value = 'admin' WHERE name = 'domain'");
    db.close();
    const admin = await openDomainStore(dir, "admin", devKeys(dir), { log: silent });
    expect(admin.quarantined?.[0]?.code).toBe("key-unwrap");
    await admin.close();

    // The right file with another key service's master key.
    const other = await openDomainStore(dir, "meter", devKeys(dir, Buffer.alloc(32, 1)), {
      log: silent,
    });
    expect(other.quarantined?.[0]?.code).toBe("key-unwrap");
    await other.close();
  });

  test("a quarantine stays marked until cleared, then the store is verified again", async () => {
    const dir = tempDir();
    const s = await filled(dir, 3);
    await s.close();
    const wrong = await openDomainStore(dir, "meter", devKeys(dir, Buffer.alloc(32, 1)), {
      log: silent,
    });
    expect(wrong.quarantined).toBeDefined();
    await wrong.close();
    const marked = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(marked.quarantined?.[0]?.code).toBe("marked");
    expect(marked.quarantined?.[0]?.message).toContain("does not unwrap");
    await expect(marked.append([rec(9)])).rejects.toThrow(QuarantinedError);
    await marked.close();
    expect(clearQuarantine(dir, "meter")).toBe(true);
    const fine = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(fine.quarantined).toBeUndefined();
    expect(fine.get(3)?.payload.toString()).toBe("value 2");
    await fine.close();
  });

  test("retention deletes through a chained event; emptied segments are pruned", async () => {
    const dir = tempDir();
    const s = await filled(dir, 40);
    await s.append([rec(100, "b")]);
    const res = await s.deleteBefore("readings", "a", 1_020_000, "keep 20 values");
    expect(res).toEqual({ deleted: 20, event: 42 });
    expect(await s.deleteBefore("readings", "a", 1_020_000, "again")).toEqual({ deleted: 0 });
    expect(texts(s, { stream: "readings", series: "a" })).toHaveLength(20);
    expect(s.get(1)).toBeUndefined();
    expect(s.get(21)?.payload.toString()).toBe("value 20");
    const event = s.get(42);
    expect(event?.stream).toBe("_retention");
    expect(JSON.parse(event?.payload.toString() ?? "")).toMatchObject({
      stream: "readings",
      series: "a",
      deleted: 20,
      firstSeq: 1,
      lastSeq: 20,
      reason: "keep 20 values",
    });
    const report = await s.verify();
    expect(report).toMatchObject({ ok: true, segments: { total: 6, pruned: 2 } });
    expect(report.tombstonesChecked).toBe(4);
    await s.close();
    const again = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(again.quarantined).toBeUndefined();
    expect(again.count("readings", "a")).toBe(20);
    await again.close();
  });

  test("key rotation re-encrypts everything, writes go on, the old key is deleted", async () => {
    const dir = tempDir();
    const s = await filled(dir, 60);
    const before = s.scan({ limit: 100 }).records.map((r) => r.payload.toString());
    const progress: number[] = [];
    const rotation = s.rotateKey({ segmentsPerCommit: 2, onProgress: (n) => progress.push(n) });
    const during = s.append([rec(500)]);
    const result = await rotation;
    await during;
    expect(result).toMatchObject({ from: 1, to: 3, reencrypted: 60 });
    expect(progress.at(-1)).toBe(60);
    expect(s.status().rotation).toBeUndefined();
    const after = s.scan({ limit: 100 }).records;
    expect(after.filter((r) => r.stream === "readings").map((r) => r.payload.toString())).toEqual([
      ...before,
      "value 500",
    ]);
    expect(
      after.filter((r) => r.stream === "_keys").map((r) => JSON.parse(r.payload.toString()).event),
    ).toEqual(["rotation-started", "rotation-finished"]);
    await s.close();
    const db = new Database(path.join(dir, "meter", "store.sqlite"), { readonly: true });
    expect(db.query("SELECT id, state FROM data_keys WHERE purpose = 'data'").values()).toEqual([
      [3, "active"],
    ]);
    expect(db.query("SELECT count(*) FROM records WHERE key_id = 1").values()).toEqual([[0]]);
    db.close();
    const again = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(again.quarantined).toBeUndefined();
    expect(again.get(1)?.payload.toString()).toBe("value 0");
    await again.close();
  });

  test("checkpoints on open; an old segment's damage is caught on read and by verify()", async () => {
    const dir = tempDir();
    const s = await filled(dir, 400);
    await s.close();
    const db = new Database(path.join(dir, "meter", "store.sqlite"));
    db.exec("UPDATE records SET body = zeroblob(40) WHERE seq = 5");
    db.close();
    const opened = await openDomainStore(dir, "meter", devKeys(dir), {
      log: silent,
      verifyOnOpen: "checkpoints",
      sampleSegments: 0,
    });
    expect(opened.quarantined).toBeUndefined();
    expect(opened.get(300)?.payload.toString()).toBe("value 299");
    expect(() => opened.get(5)).toThrow(/record 5 does not decrypt/);
    expect(opened.quarantined?.[0]?.code).toBe("record");
    await opened.close();
    clearQuarantine(dir, "meter");
    const again = await openDomainStore(dir, "meter", devKeys(dir), {
      log: silent,
      verifyOnOpen: "checkpoints",
      sampleSegments: 0,
    });
    const report = await again.verify();
    expect(report.ok).toBe(false);
    expect(report.problems[0]?.message).toContain("segment 0");
    expect(again.quarantined).toBeDefined();
    await again.close();
  });

  test("concurrent appends share commits, each all or none with its own seqs", async () => {
    const dir = tempDir();
    const keys = devKeys(dir);
    const s = await openDomainStore(dir, "meter", keys, { segmentSize: 8, log: silent });
    const before = await keys.counter("meter/store");
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        s.append(
          i === 7
            ? [rec(i), { ...rec(i), time: Number.NaN }]
            : [rec(i * 2, `s${i}`), rec(i * 2 + 1, `s${i}`)],
        ),
      ),
    );
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    const ranges = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    expect(ranges.every((r) => r.last === r.first + 1)).toBe(true);
    expect(new Set(ranges.map((r) => r.first)).size).toBe(39);
    // Fewer commits than appends: the waiting ones were grouped.
    expect(Number((await keys.counter("meter/store")) - before)).toBeLessThan(39);
    expect(
      s.read({ stream: "readings", series: "s5" }).records.map((r) => r.payload.toString()),
    ).toEqual(["value 10", "value 11"]);
    expect((await s.verify()).ok).toBe(true);
    await s.close();
  });

  test("a closed store refuses work", async () => {
    const dir = tempDir();
    const s = await filled(dir, 1);
    await s.close();
    expect(() => s.get(1)).toThrow(/closed/);
    await expect(s.append([rec(1)])).rejects.toThrow(/closed/);
  });
});
