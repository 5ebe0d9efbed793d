import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { KeyServiceError } from "./errors.ts";
import { SoftwareKeyService } from "./keys.ts";
import { cleanup, devKeys, silent, tempDir } from "./test-support.ts";

afterEach(cleanup);

describe("SoftwareKeyService", () => {
  test("warns that it is for development only", () => {
    const dir = tempDir();
    const warnings: string[] = [];
    new SoftwareKeyService({
      masterKey: Buffer.alloc(32, 1),
      counterFile: path.join(dir, "c.json"),
      log: { warn: (m) => warnings.push(m) },
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("development only");
  });

  test("a wrapped key unwraps for its domain only", async () => {
    const dir = tempDir();
    const keys = devKeys(dir);
    const dataKey = new Uint8Array(32).fill(9);
    const wrapped = await keys.wrap("meter", dataKey);
    expect(Buffer.from(await keys.unwrap("meter", wrapped))).toEqual(Buffer.from(dataKey));
    await expect(keys.unwrap("cls", wrapped)).rejects.toThrow(KeyServiceError);
    await expect(devKeys(dir, Buffer.alloc(32, 1)).unwrap("meter", wrapped)).rejects.toThrow(
      /does not unwrap/,
    );
    const flipped = Uint8Array.from(wrapped);
    flipped[10] = (flipped[10] as number) ^ 1;
    await expect(keys.unwrap("meter", flipped)).rejects.toThrow(KeyServiceError);
  });

  test("refuses bad domains, key sizes and wrapped-key formats", async () => {
    const keys = devKeys(tempDir());
    await expect(keys.wrap("Meter!", new Uint8Array(32))).rejects.toThrow(/not a domain name/);
    await expect(keys.wrap("meter", new Uint8Array(16))).rejects.toThrow(/32 bytes/);
    await expect(keys.unwrap("meter", new Uint8Array(3))).rejects.toThrow(/wrong format/);
    expect(
      () => new SoftwareKeyService({ masterKey: new Uint8Array(8), counterFile: "x", log: silent }),
    ).toThrow(/32 bytes/);
  });

  test("random wrapped keys never unwrap and never crash", async () => {
    const keys = devKeys(tempDir());
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), async (bytes) => {
        await expect(keys.unwrap("meter", bytes)).rejects.toThrow(KeyServiceError);
      }),
      { numRuns: 200 },
    );
  });

  test("counters are monotonic and survive a new instance", async () => {
    const dir = tempDir();
    const a = devKeys(dir);
    expect(await a.counter("meter/x")).toBe(0n);
    expect(await a.increment("meter/x")).toBe(1n);
    const all = await Promise.all([
      a.increment("meter/x"),
      a.increment("meter/x"),
      a.increment("y"),
    ]);
    expect(all).toEqual([2n, 3n, 1n]);
    const b = devKeys(dir);
    expect(await b.counter("meter/x")).toBe(3n);
    expect(await b.counter("y")).toBe(1n);
    expect(statSync(path.join(dir, "counters.json")).mode & 0o777).toBe(0o600);
  });

  test("a counter file edited by hand, or not JSON, is refused", async () => {
    const dir = tempDir();
    const a = devKeys(dir);
    await a.increment("meter/x");
    await a.increment("meter/x");
    const file = path.join(dir, "counters.json");
    const doc = JSON.parse(readFileSync(file, "utf8"));
    doc.counters["meter/x"] = "1";
    writeFileSync(file, JSON.stringify(doc));
    expect(() => devKeys(dir)).toThrow(/does not verify/);
    writeFileSync(file, "{");
    expect(() => devKeys(dir)).toThrow(/not JSON/);
    writeFileSync(file, JSON.stringify({ format: 1, counters: { a: "x" }, mac: "" }));
    expect(() => devKeys(dir)).toThrow(/not a number/);
  });

  test("random counter files are refused with a KeyServiceError, never a crash", () => {
    const dir = tempDir();
    const file = path.join(dir, "counters.json");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.json().map((j) => Buffer.from(j)),
          fc
            .record({
              format: fc.constantFrom(1, 2),
              counters: fc.dictionary(fc.string(), fc.string()),
              mac: fc.string(),
            })
            .map((d) => Buffer.from(JSON.stringify(d))),
        ),
        (content) => {
          writeFileSync(file, content);
          expect(() => devKeys(dir)).toThrow(KeyServiceError);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("fromFiles creates a 0600 master key and refuses one others can read", () => {
    const dir = tempDir();
    const masterKeyFile = path.join(dir, "master.key");
    const counterFile = path.join(dir, "c.json");
    expect(() => SoftwareKeyService.fromFiles({ masterKeyFile, counterFile, log: silent })).toThrow(
      /does not exist/,
    );
    SoftwareKeyService.fromFiles({ masterKeyFile, counterFile, create: true, log: silent });
    expect(statSync(masterKeyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(masterKeyFile)).toHaveLength(32);
    chmodSync(masterKeyFile, 0o644);
    expect(() => SoftwareKeyService.fromFiles({ masterKeyFile, counterFile, log: silent })).toThrow(
      /must be 0600/,
    );
  });
});
