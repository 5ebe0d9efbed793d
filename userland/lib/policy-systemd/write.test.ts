import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseDocument } from "yaml";
import { parsePolicy } from "../policy/index.ts";
import { compileSystemd } from "./compile.ts";
import { GENERATED_DIR, staleSystemdFiles, writeSystemd } from "./write.ts";

const REPO = path.resolve(import.meta.dir, "../../..");
const SHIPPED = path.join(REPO, "policy/smgw.policy.yaml");
const shippedText = await Bun.file(SHIPPED).text();
const policy = parsePolicy(shippedText, SHIPPED);

const temps: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "smgw-systemd-out-"));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe("committed output", () => {
  test("image/generated/systemd is what the shipped policy produces (run `smgw policy build`)", () => {
    expect(staleSystemdFiles(path.join(REPO, GENERATED_DIR), policy)).toEqual([]);
  });
});

describe("writeSystemd", () => {
  test("writes every file, removes generated files no longer produced, leaves others", () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, "smgw-gone.service"), "old\n");
    writeFileSync(path.join(dir, "README.md"), "not ours\n");
    const written = writeSystemd(dir, policy);
    expect(written).toEqual(Object.keys(compileSystemd(policy)).sort());
    expect(readdirSync(dir).sort()).toEqual([...written, "README.md"].sort());
    for (const name of written) {
      expect(readFileSync(path.join(dir, name), "utf8")).toBe(compileSystemd(policy)[name] ?? "");
    }
    expect(staleSystemdFiles(dir, policy)).toEqual([]);
  });

  test("rewrites only what changed; a policy change shows up as stale first", () => {
    const dir = tempDir();
    writeSystemd(dir, policy);
    const doc = parseDocument(shippedText);
    const flows = doc.toJS() as { flows: { id: string }[] };
    const i = flows.flows.findIndex((f) => f.id === "lmn-meter-readings");
    doc.setIn(["flows", i, "transport", "port"], 7300);
    const changed = parsePolicy(doc.toString(), "changed.yaml");
    expect(staleSystemdFiles(dir, changed)).toEqual(["smgw-meter.service"]);
    const target = path.join(dir, "smgw.target");
    const before = statSync(target).mtimeMs;
    Bun.sleepSync(20);
    writeSystemd(dir, changed);
    expect(statSync(target).mtimeMs).toBe(before);
    expect(readFileSync(path.join(dir, "smgw-meter.service"), "utf8")).toContain("tcp:7300");
    expect(staleSystemdFiles(dir, changed)).toEqual([]);
  });

  test("a missing folder is all stale", () => {
    const dir = path.join(tempDir(), "absent");
    expect(staleSystemdFiles(dir, policy)).toEqual(Object.keys(compileSystemd(policy)).sort());
  });
});
