// Crash safety: kill -9 at random moments (writes, retention, rotation), and commits whose
// counter increment fails or is lost.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { CRASH_STORE, crashIteration, crashKeys, crashValue, crashValueOf } from "./crash-child.ts";
import { KeyServiceError } from "./errors.ts";
import type { KeyService } from "./keys.ts";
import { openDomainStore } from "./store.ts";
import { cleanup, devKeys, recordingLogger, silent, tempDir } from "./test-support.ts";

afterEach(cleanup);

describe("crash safety", () => {
  test("kill -9 at random moments: 30 iterations, no acknowledged record lost or corrupted", async () => {
    const dir = tempDir();
    let acknowledged = 0;
    let present = 0;
    for (let i = 0; i < 30; i++) {
      const o = await crashIteration(dir, i * 1_000_000);
      expect(o.problems).toBeUndefined();
      expect(o.lost).toBe(0);
      expect(o.corrupted).toBe(0);
      acknowledged += o.acknowledged;
      present = o.present;
    }
    expect(acknowledged).toBeGreaterThan(100);
    expect(present).toBeGreaterThan(0);
  }, 60_000);

  test("kill -9 during key rotation: the store verifies, nothing is lost, the rotation finishes", async () => {
    const dir = tempDir();
    const setup = await openDomainStore(dir, "meter", crashKeys(dir), CRASH_STORE);
    const n = 3000;
    for (let i = 0; i < n; i += 500) {
      await setup.append(
        Array.from({ length: 500 }, (_, k) => ({
          stream: "acked",
          series: "s",
          time: i + k,
          payload: crashValue(i + k),
        })),
      );
    }
    await setup.close();
    const check = async () => {
      const s = await openDomainStore(dir, "meter", crashKeys(dir), CRASH_STORE);
      expect(s.quarantined).toBeUndefined();
      expect((await s.verify()).ok).toBe(true);
      const values: number[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = s.read({
          stream: "acked",
          series: "s",
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        values.push(...page.records.map((r) => crashValueOf(r.payload) ?? -1));
        if (!page.next) break;
        cursor = page.next;
      }
      expect(values).toEqual(Array.from({ length: n }, (_, i) => i));
      return s;
    };
    let interrupted = 0;
    for (let i = 0; i < 6; i++) {
      const child = Bun.spawn(
        [process.execPath, `${import.meta.dir}/crash-child.ts`, dir, "rotate"],
        { stdout: "pipe", stderr: "ignore" },
      );
      // Killed once a random number of rotation commits (one segment each) has been made, so
      // that the crash lands inside the rotation however fast this machine is (a timer raced it).
      const target = 1 + Math.floor(Math.random() * 20);
      let out = "";
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        out += decoder.decode(chunk, { stream: true });
        const commits = out.split("\n").filter((l) => l.startsWith("rotated ")).length;
        if (commits >= target || out.includes("rotation done")) break;
      }
      child.kill("SIGKILL");
      await child.exited;
      if (!out.includes("rotation done")) interrupted++;
      await (await check()).close();
    }
    expect(interrupted).toBeGreaterThan(0);
    const s = await check();
    await s.rotateKey();
    expect(s.status().rotation).toBeUndefined();
    await s.close();
    await (await check()).close();
  }, 60_000);

  test("a commit whose counter increment fails is kept, and anchored before the next write", async () => {
    const dir = tempDir();
    const real = devKeys(dir);
    let failNext: "before" | "after" | undefined;
    const flaky: KeyService = {
      wrap: (d, k) => real.wrap(d, k),
      unwrap: (d, w) => real.unwrap(d, w),
      counter: (n) => real.counter(n),
      increment: async (n) => {
        const mode = failNext;
        failNext = undefined;
        if (mode === "before") throw new Error("security module busy");
        const v = await real.increment(n);
        if (mode === "after") throw new Error("answer lost");
        return v;
      },
    };
    const rec = (i: number) => ({ stream: "acked", time: i, payload: crashValue(i) });
    const s = await openDomainStore(dir, "meter", flaky, { log: silent });
    await s.append([rec(1)]);
    failNext = "before";
    await expect(s.append([rec(2)])).rejects.toThrow(KeyServiceError);
    expect(s.status().counterPending).toBe(true);
    expect(crashValueOf(s.get(2)?.payload ?? new Uint8Array())).toBe(2);
    // The next write anchors the pending commit first.
    await s.append([rec(3)]);
    expect(s.status()).toMatchObject({ lastSeq: 3, counter: "4", counterPending: false });
    failNext = "after";
    await expect(s.append([rec(4)])).rejects.toThrow(/counter increment failed/);
    // The lost answer's increment did happen: the retry sees it and does not count twice.
    await s.append([rec(5)]);
    expect(s.status()).toMatchObject({ lastSeq: 5, counter: "6", counterPending: false });
    expect(await real.counter("meter/store")).toBe(6n);
    expect((await s.verify()).ok).toBe(true);

    // The process dies between the commit and the increment: the next open rolls forward.
    failNext = "before";
    await expect(s.append([rec(6)])).rejects.toThrow(KeyServiceError);
    await s.close();
    const log = recordingLogger();
    const again = await openDomainStore(dir, "meter", devKeys(dir), { log });
    expect(again.quarantined).toBeUndefined();
    expect(log.lines.map((l) => l.msg)).toContain(
      "secure store: rolling the counter forward after an interrupted commit",
    );
    expect(crashValueOf(again.get(6)?.payload ?? new Uint8Array())).toBe(6);
    expect(await devKeys(dir).counter("meter/store")).toBe(7n);
    await again.close();
  });

  test("a crash while the store is being created leaves nothing to refuse", async () => {
    const dir = tempDir();
    const s = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    await s.close();
    // As if the first commit never happened: the file without tables, the counter at 0.
    rmSync(`${dir}/counters.json`);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${dir}/meter/store.sqlite`, "");
    const again = await openDomainStore(dir, "meter", devKeys(dir), { log: silent });
    expect(again.quarantined).toBeUndefined();
    await again.append([{ stream: "acked", time: 1, payload: crashValue(1) }]);
    await again.close();
  });
});
