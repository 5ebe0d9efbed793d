import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const SMGW = path.resolve(import.meta.dir, "../../smgw");
const run = (...args: string[]) => {
  const p = Bun.spawnSync([SMGW, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

describe("smgw command line", () => {
  test("--help prints usage", () => {
    const r = run("--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("smgw up [--name NAME]");
  });

  test("wrong use gives a clear error and usage, exit 64", () => {
    expect(run("frobnicate")).toMatchObject({ code: 64 });
    expect(run("frobnicate").err).toContain('unknown command "frobnicate"');
    expect(run("up", "--colour", "red").err).toContain("--colour");
    expect(run("up", "--meter-interval", "0").err).toContain("--meter-interval must be");
    expect(run("up", "--name", "Bad Name").code).not.toBe(0);
    expect(run("sim", "meter").err).toContain("sim meter needs --id");
    expect(run()).toMatchObject({ code: 64 });
  });

  test("policy check: the shipped policy lists its flows; a bad one names line and key", () => {
    const ok = run("policy", "check");
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(
      "ipc  meter -> storage  storage.append-readings  [meter-stores-readings, GW-INT]",
    );
    expect(ok.out).toContain("net  LMN tcp/7259 -> meter");
    const dir = mkdtempSync(path.join(tmpdir(), "smgw-cli-"));
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "version: 1\nnetworks: {}\nunits: {}\n");
    const r = run("policy", "check", bad);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/bad\.yaml:2:\d+: \/networks\/WAN/);
  });
});

describe("smgw taf bill", () => {
  const golden = process.env.SMGW_GOLDEN ?? path.resolve(import.meta.dir, "../../../shared/golden");
  const casesDir = path.join(golden, "trudi-taf", "cases");

  test("every golden TRuDI case through the command line", async () => {
    const files = [...new Bun.Glob("*.json").scanSync({ cwd: casesDir })].sort();
    expect(files.length).toBeGreaterThanOrEqual(28);
    for (const f of files) {
      const c = JSON.parse(await Bun.file(path.join(casesDir, f)).text());
      const r = run(
        "taf",
        "bill",
        "--meter-data",
        path.join(golden, "trudi-taf", "data", c.meterData),
        "--supplier",
        path.join(golden, "trudi-taf", "data", c.supplier),
      );
      const out = JSON.parse(r.out);
      if (c.expect.registers) {
        expect({ f, code: r.code }).toEqual({ f, code: 0 });
        expect(
          out.registers.map((x: { obis: string; amount: number }) => [x.obis, x.amount]),
        ).toEqual(
          c.expect.registers.map((x: { obis: string; amount: number }) => [x.obis, x.amount]),
        );
      } else {
        expect({ f, code: r.code }).toEqual({ f, code: 1 });
        expect({ f, kind: out.error.kind }).toEqual({ f, kind: c.expect.error });
      }
    }
  }, 120_000);

  test("wrong use", () => {
    const r = run("taf", "bill", "--meter-data");
    expect(r.code).not.toBe(0);
    expect(run("taf", "pay").err).toContain('unknown taf command "pay"');
  });
});

describe("smgw lmn decode", () => {
  test("a golden mode-5 telegram decodes with its key, and without it is refused with the reason", async () => {
    const golden =
      process.env.SMGW_GOLDEN ?? path.resolve(import.meta.dir, "../../../shared/golden");
    const lines = (await Bun.file(path.join(golden, "wmbus", "telegrams.jsonl")).text())
      .trim()
      .split("\n");
    const keyed = lines
      .map((l) => JSON.parse(l))
      .find((t) => t.key && t.frameInfo?.[0]?.tplSecurityMode === 5);
    expect(keyed).toBeDefined();
    const ok = run("lmn", "decode", "--key", keyed.key, keyed.telegramHex);
    expect(ok.code).toBe(0);
    const decoded = JSON.parse(ok.out);
    const first = Array.isArray(decoded) ? decoded[0] : decoded;
    expect(first.id).toBe(keyed.meterId);
    expect(first.records.length).toBeGreaterThan(0);
    const refused = run("lmn", "decode", keyed.telegramHex);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain("key");
  });

  test("garbage is refused with a clear error", () => {
    const r = run("lmn", "decode", "zz");
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.out).error.kind).toBeDefined();
  });
});
