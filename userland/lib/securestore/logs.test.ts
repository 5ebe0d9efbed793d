import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { BadInputError, SchemaError } from "./errors.ts";
import { SoftwareKeyService } from "./keys.ts";
import { openCalibrationLog, openConsumerLog, openSystemLog } from "./logs.ts";
import { cleanup, devKeys, silent, T0, tempDir } from "./test-support.ts";
import { runVerifyCli } from "./verify-cli.ts";
import { verifyLog } from "./verify-log.ts";

afterEach(cleanup);

function clock(start = T0) {
  let t = start;
  return () => {
    t += 1000;
    return t;
  };
}

describe("the three logs", () => {
  test("system log: schema-checked, stamped, in order, deletions chained", async () => {
    const dir = tempDir();
    const log = await openSystemLog(dir, devKeys(dir), { log: silent, now: clock() });
    for (let i = 0; i < 5; i++) {
      await log.append({
        unit: "ifm",
        event: "flow.denied",
        severity: "warning",
        detail: { i, from: "meter" },
      });
    }
    const page = log.query({ limit: 3 });
    expect(page.entries.map((e) => e.detail.i)).toEqual([0, 1, 2]);
    expect(page.entries[0]).toEqual({
      seq: 1,
      // The store took the first tick when it was created.
      ts: "2026-01-01T00:00:02.000Z",
      unit: "ifm",
      event: "flow.denied",
      severity: "warning",
      detail: { i: 0, from: "meter" },
    });
    expect(log.query({ cursor: page.next as string }).entries).toHaveLength(2);
    expect(await log.deleteBefore(T0 + 4000, "capacity")).toMatchObject({ deleted: 2 });
    expect(log.query().entries.map((e) => e.detail.i)).toEqual([2, 3, 4]);
    await expect(
      log.append({ unit: "ifm", event: "x", severity: "warning", detail: {} } as never),
    ).rejects.toThrow(SchemaError);
    await expect(
      log.append({ unit: "ifm", event: "a.b", severity: "debug", detail: {} } as never),
    ).rejects.toThrow(/severity/);
    await expect(
      log.append({
        unit: "ifm",
        event: "a.b",
        severity: "info",
        detail: { x: { nested: 1 } },
      } as never),
    ).rejects.toThrow(/detail/);
    await expect(
      log.append({ unit: "ifm", event: "a.b", severity: "info", detail: {}, ts: "now" } as never),
    ).rejects.toThrow(SchemaError);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  test("random system-log entries are stored or refused with a SchemaError, never anything else", async () => {
    const dir = tempDir();
    const log = await openSystemLog(dir, devKeys(dir), { log: silent });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          unit: fc.oneof(fc.constant("ifm"), fc.string()),
          event: fc.oneof(fc.constant("a.b"), fc.string()),
          severity: fc.constantFrom("info", "warning", "alert", "fatal"),
          detail: fc.dictionary(
            fc.string({ maxLength: 70 }),
            fc.oneof(fc.string(), fc.integer(), fc.object()),
          ),
        }),
        async (entry) => {
          try {
            await log.append(entry as never);
          } catch (e) {
            expect(e).toBeInstanceOf(SchemaError);
          }
        },
      ),
      { numRuns: 150 },
    );
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  test("consumer log: each consumer gets only their own entries", async () => {
    const dir = tempDir();
    const log = await openConsumerLog(dir, devKeys(dir), { log: silent, now: clock() });
    await log.append({
      consumer: "alice",
      what: "meter-reading",
      to: "emt-1",
      meter: "meter-1",
      purpose: "billing",
    });
    await log.append({
      consumer: "bob",
      what: "meter-reading",
      to: "display",
      meter: "meter-3",
      purpose: "HAN view",
    });
    await log.append({ consumer: "alice", what: "meter-list", to: "display", purpose: "HAN view" });
    const alice = log.query("alice");
    expect(alice.entries.map((e) => [e.seq, e.consumer, e.to])).toEqual([
      [1, "alice", "emt-1"],
      [3, "alice", "display"],
    ]);
    expect(log.query("bob").entries.map((e) => e.meter)).toEqual(["meter-3"]);
    expect(log.query("carol").entries).toEqual([]);
    expect(() => log.query("")).toThrow(SchemaError);
    expect(() => log.query("alice", { from: "later" })).toThrow(BadInputError);
    await expect(
      log.append({ consumer: "alice", what: "x", to: "display" } as never),
    ).rejects.toThrow(/purpose/);
    expect(await log.deleteBefore("alice", T0 + 3000, "retention")).toMatchObject({ deleted: 1 });
    expect(log.query("alice").entries.map((e) => e.seq)).toEqual([3]);
    expect(log.query("bob").entries).toHaveLength(1);
    await log.close();
  });

  test("calibration log: append only, nothing to delete or overwrite", async () => {
    const dir = tempDir();
    const log = await openCalibrationLog(dir, devKeys(dir), { log: silent, now: clock() });
    await log.append({
      event: "meter.added",
      meter: "meter-1",
      detail: { serial: "1ESY1161234561" },
    });
    await log.append({ event: "clock.set", detail: { offsetMs: 1200 } });
    expect(log.query().entries.map((e) => e.event)).toEqual(["meter.added", "clock.set"]);
    expect("deleteBefore" in log).toBe(false);
    await expect(
      log.append({ event: "clock.set", detail: { huge: "x".repeat(600) } }),
    ).rejects.toThrow(SchemaError);
    await log.close();
  });

  test("verifyLog: anyone checks the structure; with the key service also the anchor", async () => {
    const dir = tempDir();
    const keys = devKeys(dir);
    const log = await openSystemLog(dir, keys, { log: silent });
    await log.append({ unit: "admin", event: "wakeup.refused", severity: "alert", detail: {} });
    await log.close();
    const file = path.join(dir, "system-log", "log.sqlite");
    const plain = await verifyLog(file);
    expect(plain).toMatchObject({
      ok: true,
      authenticated: false,
      domain: "system-log",
      recordsChecked: 1,
    });
    const full = await verifyLog(file, { keys: devKeys(dir) });
    expect(full).toMatchObject({
      ok: true,
      authenticated: true,
      counter: { stored: "2", keyService: "2" },
    });

    const bad = path.join(dir, "copy.sqlite");
    copyFileSync(file, bad);
    const db = new Database(bad);
    db.exec("UPDATE records SET body = zeroblob(length(body)) WHERE seq = 1");
    db.close(true);
    const report = await verifyLog(bad);
    expect(report.ok).toBe(false);
    expect(report.problems[0]?.code).toBe("segment");
    expect((await verifyLog(path.join(dir, "none.sqlite"))).problems[0]?.code).toBe("missing-file");
    writeFileSync(path.join(dir, "junk.sqlite"), "not a database at all, not at all, no");
    expect((await verifyLog(path.join(dir, "junk.sqlite"))).problems[0]?.code).toBe("unreadable");
  });

  test("verify-cli prints a JSON report and exits 0, 1 or 2", async () => {
    const dir = tempDir();
    const keyFiles = {
      masterKeyFile: path.join(dir, "master.key"),
      counterFile: path.join(dir, "c.json"),
    };
    const keys = SoftwareKeyService.fromFiles({ ...keyFiles, create: true, log: silent });
    const log = await openCalibrationLog(dir, keys, { log: silent });
    await log.append({ event: "clock.set", detail: {} });
    await log.close();
    const file = path.join(dir, "calibration-log", "log.sqlite");
    const lines: string[] = [];
    expect(await runVerifyCli([file], (l) => lines.push(l))).toBe(0);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      ok: true,
      reports: [{ file, ok: true }],
    });

    // As its own process, with the key service's files.
    const cli = Bun.spawnSync(
      [
        process.execPath,
        path.join(import.meta.dir, "verify-cli.ts"),
        "--master-key",
        keyFiles.masterKeyFile,
        "--counters",
        keyFiles.counterFile,
        file,
      ],
      { stderr: "pipe" },
    );
    expect(cli.exitCode).toBe(0);
    expect(JSON.parse(cli.stdout.toString())).toMatchObject({
      ok: true,
      reports: [{ authenticated: true }],
    });

    lines.length = 0;
    expect(await runVerifyCli([file, path.join(dir, "missing.sqlite")], (l) => lines.push(l))).toBe(
      1,
    );
    expect(JSON.parse(lines[0] as string).ok).toBe(false);
    expect(await runVerifyCli([], () => {})).toBe(2);
    expect(await runVerifyCli(["--bogus", file], () => {})).toBe(2);
    expect(await runVerifyCli(["--master-key", "x", file], () => {})).toBe(2);
  });
});
