// The module against the real reference policy: it installs with semodule (neverallow
// checking on), the binary policy has the rules the flows need, every assertion in
// selinux/assertions.ini and selinux/infoflow.ini holds, and a rule that breaks an invariant
// stops the install. Needs Debian's SELinux tools (see verify.ts); fails if they are missing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parsePolicy } from "@smgw/policy";
import {
  type BuiltPolicy,
  buildPolicy,
  compileSelinux,
  expectedRules,
  formatTable,
  runChecks,
  SemoduleError,
  selinuxToolsPresent,
} from "./index.ts";

const REPO = path.resolve(import.meta.dir, "../../..");
const POLICY_FILE = path.join(REPO, "policy/smgw.policy.yaml");
const policy = parsePolicy(readFileSync(POLICY_FILE, "utf8"), POLICY_FILE);
const output = compileSelinux(policy);

const MISSING =
  "Debian's SELinux tools are missing: apt-get install semodule-utils policycoreutils " +
  "selinux-policy-default secilc setools python3-setools selinux-utils";

describe("the module on Debian's reference policy", () => {
  let built: BuiltPolicy | undefined;

  beforeAll(() => {
    if (!selinuxToolsPresent()) throw new Error(MISSING);
    built = buildPolicy(output);
    console.log(`semodule -i smgw.cil: ${built.seconds.toFixed(1)} s`);
  }, 120_000);

  afterAll(() => {
    if (built) rmSync(built.root, { recursive: true, force: true });
  });

  test("installs and gives a binary policy", () => {
    expect(built?.policyFile).toEndWith("policy.33");
  });

  test("every rule the flows need, every assertion and every information-flow check holds", () => {
    if (!built) throw new Error("no policy built");
    const start = performance.now();
    const results = runChecks(built.policyFile, {
      assertions: path.join(REPO, "selinux/assertions.ini"),
      infoflow: path.join(REPO, "selinux/infoflow.ini"),
      rules: expectedRules(policy),
    });
    console.log(formatTable(results));
    console.log(`checks: ${((performance.now() - start) / 1000).toFixed(1)} s`);
    expect(results.filter((r) => r.file === "assertions").length).toBeGreaterThan(20);
    expect(results.filter((r) => r.file === "infoflow").length).toBeGreaterThan(5);
    expect(
      results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.details.join("; ")}`),
    ).toEqual([]);
  }, 180_000);

  test("the checker reports what does not hold", () => {
    if (!built) throw new Error("no policy built");
    const dir = mkdtempSync(path.join(tmpdir(), "smgw-infoflow-"));
    try {
      const infoflow = path.join(dir, "infoflow.ini");
      // Without the brokers excluded, meter data does reach the display: must be reported.
      writeFileSync(
        infoflow,
        "[scope]\nexclude_other_domains = yes\nbooleans = default\n\n" +
          "[must-fail]\nsource = smgw_meter_t\ntarget = smgw_display_t\nthrough =\n",
      );
      const results = runChecks(built.policyFile, {
        infoflow,
        rules: [
          {
            name: "meter-may-not-reach-443",
            source: "smgw_meter_t",
            target: "smgw_wan_tls_port_t",
            tclass: "tcp_socket",
            perms: ["name_connect"],
          },
          { name: "no-such-label", kind: "port", protocol: "tcp", port: 7259, type: "http_port_t" },
        ],
      });
      expect(results.map((r) => [r.name, r.passed])).toEqual([
        ["meter-may-not-reach-443", false],
        ["no-such-label", false],
        ["must-fail", false],
      ]);
      expect(results[2]?.details.join()).toContain("smgw_meter_t -> smgw_display_t");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the installed file contexts label the appliance's paths", () => {
    if (!built) throw new Error("no policy built");
    const cases: [string, string][] = [
      ["/usr/lib/smgw/smgwd", "smgw_exec_t"],
      ["/etc/smgw/policy.yaml", "smgw_etc_t"],
      ["/var/lib/smgw/data/readings.db", "smgw_data_t"],
      ["/var/lib/smgw/storage/store.db", "smgw_storage_var_t"],
      ["/run/smgw/ipc/meter/ifm.sock", "smgw_meter_ipc_t"],
      ["/run/smgw/ipc", "smgw_run_t"],
    ];
    for (const [file, type] of cases) {
      const mode = file.endsWith(".sock") ? "sock_file" : file === "/run/smgw/ipc" ? "dir" : "file";
      const run = Bun.spawnSync([
        "selabel_lookup",
        "-b",
        "file",
        "-k",
        file,
        "-f",
        built.fileContexts,
      ]);
      expect({ file, mode, label: `${run.stdout}`.trim() }).toEqual({
        file,
        mode,
        label: `Default context: system_u:object_r:${type}:s0`,
      });
    }
  });
});

describe("an invariant stops the install", () => {
  test("a direct connection from meter to display is refused by neverallow", () => {
    if (!selinuxToolsPresent()) throw new Error(MISSING);
    const broken = `${output["smgw.cil"]}\n; deliberately wrong\n(allow smgw_meter_t smgw_display_t (unix_stream_socket (connectto)))\n`;
    let error: unknown;
    try {
      const b = buildPolicy(output, broken);
      rmSync(b.root, { recursive: true, force: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SemoduleError);
    expect(String(error)).toContain("neverallow check failed");
    expect(String(error)).toContain("smgw_meter_t smgw_display_t");
  }, 120_000);
});
