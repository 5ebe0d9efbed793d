// Tampering with a store's file, in every way the store must notice: flipped bytes anywhere,
// deleted, reordered and replayed records, a rolled-back file, a reset counter.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ProblemCode } from "./errors.ts";
import { type DomainStore, openDomainStore } from "./store.ts";
import { cleanup, devKeys, silent, tempDir } from "./test-support.ts";

afterAll(cleanup);

const rec = (i: number, series: string) => ({
  stream: "readings",
  series,
  time: 1_000_000 + i * 1000,
  payload: Buffer.from(`reading ${series} ${i}`),
});

/** A small store: two series, a retention event that pruned a segment, a finished rotation. */
async function smallStore(): Promise<string> {
  const dir = tempDir();
  const s = await openDomainStore(dir, "meter", devKeys(dir), { segmentSize: 8, log: silent });
  for (let i = 0; i < 30; i += 6) {
    await s.append([0, 1, 2].flatMap((k) => [rec(i + k, "a"), rec(i + k, "b")]));
  }
  await s.deleteBefore("readings", "a", 1_004_000, "test");
  await s.deleteBefore("readings", "b", 1_004_000, "test");
  await s.rotateKey();
  await s.append([rec(99, "a")]);
  await s.close();
  return dir;
}

/** Everything a reader can get out of a store. */
function dump(s: DomainStore): string {
  const out: unknown[] = [s.status().lastSeq];
  for (let seq = 1; seq <= s.status().lastSeq; seq++) {
    const r = s.get(seq);
    out.push(r ? [r.seq, r.stream, r.time, r.payload.toString("hex")] : null);
  }
  for (const series of ["a", "b"]) {
    out.push(s.read({ stream: "readings", series, limit: 1000 }).records.map((r) => r.seq));
  }
  return JSON.stringify(out);
}

/** Copy the store (and the counters) into a fresh directory, let `change` alter the copy, open. */
async function openAltered(
  from: string,
  change: (file: string) => void,
  verifyOnOpen: "auto" | "checkpoints" = "auto",
): Promise<{ store: DomainStore; dir: string }> {
  const dir = tempDir("smgw-tamper-");
  mkdirSync(path.join(dir, "meter"), { mode: 0o700 });
  const file = path.join(dir, "meter", "store.sqlite");
  copyFileSync(path.join(from, "meter", "store.sqlite"), file);
  copyFileSync(path.join(from, "counters.json"), path.join(dir, "counters.json"));
  change(file);
  const store = await openDomainStore(dir, "meter", devKeys(dir), {
    log: silent,
    verifyOnOpen,
    sampleSegments: 0,
  });
  return { store, dir };
}

function sql(statements: string): (file: string) => void {
  return (file) => {
    const db = new Database(file);
    db.exec(statements);
    db.close(true);
  };
}

async function expectQuarantined(
  from: string,
  change: (file: string) => void,
  codes: ProblemCode[],
): Promise<string> {
  const { store, dir } = await openAltered(from, change);
  const problems = store.quarantined ?? [];
  expect(problems.map((p) => p.code)).toContainAnyValues(codes);
  expect(() => store.get(1)).toThrow(/quarantined/);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return problems.map((p) => p.message).join("; ");
}

describe("tampering is detected", () => {
  let base = "";
  let original = "";

  test("the untouched copy opens and serves everything", async () => {
    base = await smallStore();
    const { store } = await openAltered(base, () => {});
    expect(store.quarantined).toBeUndefined();
    original = dump(store);
    expect(original).toContain(Buffer.from("reading a 99").toString("hex"));
    await store.close();
  });

  test("flipping a byte anywhere in the file is detected or changes nothing served", async () => {
    const bytes = readFileSync(path.join(base, "meter", "store.sqlite"));
    // Reproducible positions: every nonzero byte is a candidate, plus zero bytes at random.
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const nonzero = [...bytes.keys()].filter((i) => bytes[i] !== 0);
    const positions = new Set<number>();
    while (positions.size < Math.min(900, nonzero.length)) {
      positions.add(nonzero[Math.floor(random() * nonzero.length)] as number);
    }
    while (positions.size < 1200) positions.add(Math.floor(random() * bytes.length));
    // SMGW_FLIP_ALL=1 tries every byte of the file (about a minute).
    if (process.env.SMGW_FLIP_ALL) for (let i = 0; i < bytes.length; i++) positions.add(i);
    let detected = 0;
    let harmless = 0;
    const undetected: number[] = [];
    for (const pos of positions) {
      const mask = 1 + Math.floor(random() * 255);
      const { store, dir } = await openAltered(base, (file) => {
        const copy = Buffer.from(bytes);
        copy[pos] = (copy[pos] as number) ^ mask;
        writeFileSync(file, copy);
      });
      if (store.quarantined) {
        detected++;
      } else {
        let same = false;
        try {
          same = dump(store) === original;
        } catch {
          same = false;
        }
        if (same) harmless++;
        else if (!store.quarantined) undetected.push(pos);
        else detected++;
      }
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // A flip either quarantines the store or hit bytes SQLite never reads (free space in a
    // page, header fields like the change counter): what is served is then exactly the original.
    expect(undetected).toEqual([]);
    expect(detected + harmless).toBe(positions.size);
    expect(detected).toBeGreaterThan(700);
  }, 600_000);

  test("a damaged page of a big store, opened by checkpoints, is never served", async () => {
    const dir = tempDir();
    const s = await openDomainStore(dir, "meter", devKeys(dir), { segmentSize: 64, log: silent });
    for (let i = 0; i < 3000; i += 500) {
      await s.append(Array.from({ length: 500 }, (_, k) => rec(i + k, "a")));
    }
    await s.close();
    const bytes = readFileSync(path.join(dir, "meter", "store.sqlite"));
    const pages = bytes.length / 4096;
    let refused = 0;
    for (let page = 2; page < pages; page += 3) {
      const { store, dir: copy } = await openAltered(
        dir,
        (file) => {
          const damaged = Buffer.from(bytes);
          damaged.fill(0x5a, page * 4096 + 100, page * 4096 + 400);
          writeFileSync(file, damaged);
        },
        "checkpoints",
      );
      let served = 0;
      let ranged = 0;
      try {
        if (!store.quarantined) {
          for (let seq = 1; seq <= 3000; seq++) {
            if (store.get(seq)?.payload.toString() === `reading a ${seq - 1}`) served++;
          }
          let cursor: string | undefined;
          for (;;) {
            const page = store.read({
              stream: "readings",
              series: "a",
              limit: 1000,
              ...(cursor ? { cursor } : {}),
            });
            ranged += page.records.length;
            if (!page.next) break;
            cursor = page.next;
          }
        }
      } catch (e) {
        expect(String(e)).toContain("quarantined");
      }
      // Either refused, or everything served in full (the damage hit unused space).
      if (store.quarantined) refused++;
      else expect([served, ranged]).toEqual([3000, 3000]);
      await store.close();
      rmSync(copy, { recursive: true, force: true });
    }
    expect(refused).toBeGreaterThan(0);
  }, 30_000);

  test("a deleted record", async () => {
    const msg = await expectQuarantined(base, sql("DELETE FROM records WHERE seq = 20"), [
      "missing-record",
    ]);
    expect(msg).toContain("record 20 missing");
    await expectQuarantined(
      base,
      sql("DELETE FROM records WHERE seq = (SELECT max(seq) FROM records)"),
      ["missing-record"],
    );
  });

  test("records cut off the end, with the anchor and checkpoints adjusted", async () => {
    await expectQuarantined(
      base,
      sql(
        "DELETE FROM records WHERE seq > 30; DELETE FROM segments WHERE idx > 3; UPDATE segments SET count = 6 WHERE idx = 3; UPDATE anchor SET last_seq = 30",
      ),
      ["anchor"],
    );
  });

  test("reordered records", async () => {
    // Two records swap places (contents exchanged between rows).
    await expectQuarantined(
      base,
      sql(
        "UPDATE records SET seq = -1 WHERE seq = 20; UPDATE records SET seq = 20 WHERE seq = 21; UPDATE records SET seq = 21 WHERE seq = -1",
      ),
      ["segment"],
    );
    // The same, keeping each row's time so queries would still look plausible.
    await expectQuarantined(
      base,
      sql(
        "CREATE TEMP TABLE t AS SELECT * FROM records WHERE seq IN (20, 22); UPDATE records SET body = (SELECT body FROM t WHERE seq = 22) WHERE seq = 20; UPDATE records SET body = (SELECT body FROM t WHERE seq = 20) WHERE seq = 22",
      ),
      ["segment"],
    );
  });

  test("a replayed record", async () => {
    await expectQuarantined(
      base,
      sql(
        "INSERT INTO records SELECT (SELECT max(seq) FROM records) + 1, stream, series, ts, key_id, body, deleted_by FROM records WHERE seq = 20",
      ),
      ["extra-record"],
    );
    const msg = await expectQuarantined(
      base,
      sql(
        "UPDATE records SET (series, ts, key_id, body) = (SELECT series, ts, key_id, body FROM records WHERE seq = 20) WHERE seq = 22",
      ),
      ["segment"],
    );
    expect(msg).toContain("record 22 repeats record 20");
  });

  test("a record moved from another domain's store", async () => {
    const cls = tempDir();
    const other = await openDomainStore(cls, "cls", devKeys(cls), { segmentSize: 8, log: silent });
    await other.append(Array.from({ length: 30 }, (_, i) => rec(i, "a")));
    await other.close();
    const foreign = path.join(cls, "cls", "store.sqlite");
    await expectQuarantined(
      base,
      sql(
        `ATTACH '${foreign}' AS f; UPDATE records SET (series, ts, body) = (SELECT series, ts, body FROM f.records WHERE seq = 20) WHERE seq = 20`,
      ),
      ["segment"],
    );
  });

  test("checkpoints and the anchor", async () => {
    await expectQuarantined(
      base,
      sql(
        "UPDATE segments SET pruned = 1 WHERE idx = 2; DELETE FROM records WHERE seq BETWEEN 17 AND 24",
      ),
      ["head"],
    );
    await expectQuarantined(base, sql("UPDATE anchor SET counter = '99'"), ["anchor"]);
    await expectQuarantined(base, sql("UPDATE data_keys SET created = created + 1"), ["anchor"]);
    await expectQuarantined(
      base,
      sql("CREATE TRIGGER t AFTER INSERT ON records BEGIN DELETE FROM records; END"),
      ["not-a-store"],
    );
  });

  test("a rolled-back file, a reset counter, a deleted file", async () => {
    const dir = tempDir();
    const s = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    await s.append([rec(1, "a")]);
    await s.close();
    const file = path.join(dir, "meter", "store.sqlite");
    const old = readFileSync(file);
    const again = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    await again.append([rec(2, "a")]);
    await again.append([rec(3, "a")]);
    await again.close();
    const counters = readFileSync(path.join(dir, "counters.json"));

    writeFileSync(file, old);
    const rolled = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(rolled.quarantined?.map((p) => p.code)).toEqual(["rolled-back"]);
    expect(rolled.quarantined?.[0]?.message).toContain("counter 2 is behind the key service's 4");
    await rolled.close();

    const fresh = tempDir();
    mkdirSync(path.join(fresh, "meter"), { mode: 0o700 });
    copyFileSync(file, path.join(fresh, "meter", "store.sqlite"));
    writeFileSync(path.join(fresh, "counters.json"), counters);
    rmSync(path.join(fresh, "meter", "store.sqlite"));
    const missing = await openDomainStore(fresh, "meter", devKeys(fresh), { log: silent });
    expect(missing.quarantined?.map((p) => p.code)).toEqual(["missing-file"]);
    await missing.close();

    // Provisioning a fresh volume: a new store anchored at the module's counter, which then
    // goes on from there (a later rollback of that store is still caught).
    rmSync(path.join(fresh, "meter", ".quarantine"), { force: true, recursive: true });
    for (const f of readdirSync(path.join(fresh, "meter")))
      rmSync(path.join(fresh, "meter", f), { recursive: true });
    const provisioned = await openDomainStore(fresh, "meter", devKeys(fresh), {
      log: silent,
      provision: true,
    });
    expect(provisioned.quarantined).toBeUndefined();
    await provisioned.append([rec(1, "a")]);
    expect((await provisioned.read({ stream: "readings", series: "a" })).records).toHaveLength(1);
    await provisioned.close();
    const reopened = await openDomainStore(fresh, "meter", devKeys(fresh), { log: silent });
    expect(reopened.quarantined).toBeUndefined();
    await reopened.close();

    // The anchor deleted together with the counter file: refused, never taken for a new store.
    const noAnchor = tempDir();
    mkdirSync(path.join(noAnchor, "meter"), { mode: 0o700 });
    const kept = path.join(noAnchor, "meter", "store.sqlite");
    copyFileSync(path.join(base, "meter", "store.sqlite"), kept);
    sql("DELETE FROM anchor")(kept);
    const anchorless = await openDomainStore(noAnchor, "meter", devKeys(noAnchor), { log: silent });
    expect(anchorless.quarantined?.map((p) => p.code)).toEqual(["not-a-store"]);
    await anchorless.close();
    const db = new Database(kept, { readonly: true });
    expect(db.query("SELECT count(*) FROM records").values()[0]?.[0]).toBeGreaterThan(20);
    db.close(true);

    const reset = tempDir();
    mkdirSync(path.join(reset, "meter"), { mode: 0o700 });
    copyFileSync(
      path.join(base, "meter", "store.sqlite"),
      path.join(reset, "meter", "store.sqlite"),
    );
    const noCounter = await openDomainStore(reset, "meter", devKeys(reset), { log: silent });
    expect(noCounter.quarantined?.map((p) => p.code)).toEqual(["counter-behind"]);
    await noCounter.close();
  });
});
