// The generator as a pure function: committed output current, policy changes visible,
// impossible policies refused, the port-label reader robust against bad input.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Policy, parsePolicy } from "@smgw/policy";
import fc from "fast-check";
import { parseDocument } from "yaml";
import {
  buildModel,
  compileSelinux,
  parseSemanagePorts,
  SelinuxCompileError,
  SemanagePortsError,
  write,
} from "./index.ts";

const REPO = path.resolve(import.meta.dir, "../../..");
const POLICY_FILE = path.join(REPO, "policy/smgw.policy.yaml");
const GENERATED = path.join(REPO, "selinux/generated");
const policyText = readFileSync(POLICY_FILE, "utf8");
const shipped = parsePolicy(policyText, POLICY_FILE);

/** The shipped policy with one edit applied to its YAML document. */
function edited(edit: (doc: ReturnType<typeof parseDocument>) => void): Policy {
  const doc = parseDocument(policyText);
  edit(doc);
  return parsePolicy(doc.toString(), "edited");
}

function flowIndex(id: string): number {
  const i = shipped.document.flows.findIndex((f) => f.id === id);
  if (i < 0) throw new Error(`no flow ${id}`);
  return i;
}

describe("committed output", () => {
  test("selinux/generated is what the generator makes of the shipped policy", () => {
    const out = compileSelinux(shipped);
    for (const [name, text] of Object.entries(out)) {
      const committed = readFileSync(path.join(GENERATED, name), "utf8");
      // On a difference: run `smgw policy build` (or write()) and review the diff.
      expect(committed).toBe(text);
    }
  });

  test("every output starts with the do-not-edit line", () => {
    for (const text of Object.values(compileSelinux(shipped))) {
      expect(text.split("\n")[0]).toMatch(
        /^[;#] Generated from policy\/smgw\.policy\.yaml by `smgw policy build`\. Do not edit\.$/,
      );
    }
  });

  test("pure: the same policy gives the same text", () => {
    expect(compileSelinux(shipped)).toEqual(compileSelinux(parsePolicy(policyText)));
  });

  test("write() puts the three files into the folder", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "smgw-selinux-write-"));
    try {
      const files = write(shipped, dir).map((f) => path.basename(f));
      expect(files.sort()).toEqual(["file_contexts", "smgw.cil", "smgw.semanage"]);
      expect(readFileSync(path.join(dir, "smgw.cil"), "utf8")).toBe(
        compileSelinux(shipped)["smgw.cil"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("what the module says", () => {
  const out = compileSelinux(shipped);
  const cil = out["smgw.cil"];

  test("balanced parentheses outside comments and strings", () => {
    let depth = 0;
    for (const line of cil.split("\n")) {
      if (line.startsWith(";")) continue;
      for (const ch of line.replace(/"[^"]*"/g, "")) {
        if (ch === "(") depth++;
        if (ch === ")") depth--;
        expect(depth).toBeGreaterThanOrEqual(0);
      }
    }
    expect(depth).toBe(0);
  });

  test("one domain per unit, entered from init, smgwd its entrypoint", () => {
    for (const u of Object.keys(shipped.document.units)) {
      expect(cil).toContain(`(type smgw_${u}_t)`);
      expect(cil).toContain(`(roletype system_r smgw_${u}_t)`);
    }
    expect(cil).toContain("(allow init_t smgw_domain (process (transition)))");
    expect(cil).toContain("(allow smgw_domain smgw_exec_t (file (entrypoint)))");
    expect(cil).toContain("(allow smgw_domain self (process (execmem)))");
  });

  test("IPC: every unit but the IFM connects to the IFM through its own socket", () => {
    for (const u of ["meter", "admin", "cls", "display", "tcm", "crypto", "storage", "net"]) {
      expect(cil).toContain(`(allow smgw_${u}_t smgw_ifm_t (unix_stream_socket (connectto)))`);
      expect(cil).toContain(`(allow smgw_${u}_t smgw_${u}_ipc_t (smgw_sockets (connect)))`);
      expect(cil).toContain(`(allow smgw_ifm_t smgw_${u}_ipc_t (smgw_sockets (serve)))`);
    }
    expect(cil).not.toMatch(
      /\(allow smgw_\w+_t smgw_(?!ifm)\w+_t \(unix_stream_socket \(connectto/,
    );
  });

  test("network: the listeners and the TCM's TLS port", () => {
    expect(cil).toContain(
      "(portcon tcp 7259 (system_u object_r smgw_lmn_meter_port_t ((s0) (s0))))",
    );
    expect(cil).toContain(
      "(portcon udp 4711 (system_u object_r smgw_wan_admin_port_t ((s0) (s0))))",
    );
    expect(cil).toContain(
      "(portcon tcp 8080 (system_u object_r smgw_han_display_port_t ((s0) (s0))))",
    );
    expect(cil).toContain("(portcon tcp 8443 (system_u object_r smgw_han_cls_port_t ((s0) (s0))))");
    expect(cil).toContain("(portcon tcp 443 (system_u object_r smgw_wan_tls_port_t ((s0) (s0))))");
    expect(cil).toContain("(allow smgw_meter_t smgw_lmn_meter_port_t (tcp_socket (name_bind)))");
    expect(cil).toContain("(allow smgw_meter_t smgw_lmn_node_t (tcp_socket (node_bind)))");
    expect(cil).toContain("(allow smgw_tcm_t smgw_wan_tls_port_t (tcp_socket (name_connect)))");
    expect(cil.match(/^\(allow .*name_connect\)\)\)$/gm)?.length).toBe(1);
    for (const [iface, net] of [
      ["wan0", "wan"],
      ["lmn0", "lmn"],
      ["han0", "han"],
    ]) {
      expect(cil).toContain(
        `(netifcon ${iface} (system_u object_r smgw_${net}_netif_t ((s0) (s0)))`,
      );
    }
    expect(cil).toContain(
      "(nodecon (198.51.100.0) (255.255.255.0) (system_u object_r smgw_lmn_node_t ((s0) (s0))))",
    );
    expect(out["smgw.semanage"]).toContain("port -m -t smgw_wan_tls_port_t -p tcp 443");
  });

  test("security module and data volume", () => {
    expect(cil).toContain("(allow smgw_crypto_t pcscd_t (unix_stream_socket (connectto)))");
    expect(cil).toContain(
      "(allow smgw_crypto_t tpm_device_t (chr_file (getattr open read write ioctl)))",
    );
    expect(cil).toContain("(allow smgw_storage_t smgw_data_t (smgw_files (read mutate)))");
    expect(
      cil
        .match(/^\(allow \S+ (pcscd_t|pcscd_runtime_t|tpm_device_t) /gm)
        ?.every((l) => l.startsWith("(allow smgw_crypto_t")),
    ).toBe(true);
    expect(cil.match(/^\(allow \S+ smgw_data_t /gm)).toEqual([
      "(allow smgw_storage_t smgw_data_t ",
    ]);
  });

  test("every rule and invariant has a comment above it", () => {
    const lines = cil.split("\n");
    lines.forEach((line, i) => {
      if (/^\((allow|neverallow|dontaudit) /.test(line)) {
        // Walk up over the statements of the same group to its comment.
        let j = i - 1;
        while (j >= 0 && lines[j]?.startsWith("(")) j--;
        expect(lines[j]?.startsWith(";")).toBe(true);
      }
    });
  });

  test("file_contexts: the paths of the appliance", () => {
    const fcText = out.file_contexts;
    expect(fcText).toContain("/usr/lib/smgw/smgwd\t--\tsystem_u:object_r:smgw_exec_t:s0");
    expect(fcText).toContain("/etc/smgw(/.*)?\tsystem_u:object_r:smgw_etc_t:s0");
    expect(fcText).toContain("/var/lib/smgw/data(/.*)?\tsystem_u:object_r:smgw_data_t:s0");
    expect(fcText).toContain("/var/lib/smgw/meter(/.*)?\tsystem_u:object_r:smgw_meter_var_t:s0");
    expect(fcText).toContain("/run/smgw/ipc/meter(/.*)?\tsystem_u:object_r:smgw_meter_ipc_t:s0");
    expect(fcText).not.toContain("/run/smgw/ipc/ifm");
    // The module carries the same lines.
    expect(cil).toContain(
      '(filecon "/var/lib/smgw/data(/.*)?" any (system_u object_r smgw_data_t ((s0) (s0))))',
    );
  });
});

describe("policy changes show in the output", () => {
  test("moving the meter listener from 7259 to 7300 moves every rule with it", () => {
    const i = flowIndex("lmn-meter-readings");
    const p = edited((doc) => doc.setIn(["flows", i, "transport", "port"], 7300));
    const out = compileSelinux(p);
    expect(out["smgw.cil"]).toContain("(portcon tcp 7300 (system_u object_r smgw_lmn_meter_port_t");
    expect(out["smgw.cil"]).not.toContain("7259");
    expect(out["smgw.semanage"]).toContain("port -m -t smgw_lmn_meter_port_t -p tcp 7300");
    expect(out["smgw.semanage"]).not.toContain("7259");
    // Nothing else changes.
    const before = compileSelinux(shipped)["smgw.cil"].replaceAll("7259", "7300");
    expect(out["smgw.cil"]).toBe(before);
  });

  test("removing the CLS listener removes its port, packet label and bind rule", () => {
    const i = flowIndex("han-cls-proxy");
    const p = edited((doc) => doc.deleteIn(["flows", i]));
    const cil = compileSelinux(p)["smgw.cil"];
    expect(cil).not.toContain("8443");
    expect(cil).not.toContain("smgw_han_cls_port_t");
    expect(cil).not.toContain("smgw_han_cls_packet_t");
    expect(cil).not.toMatch(/smgw_cls_t \S+ \(tcp_socket/);
    // cls stays a unit that talks to the IFM.
    expect(cil).toContain("(allow smgw_cls_t smgw_ifm_t (unix_stream_socket (connectto)))");
  });

  test("a unit left without IPC flows loses its socket and the IFM connection", () => {
    const p = edited((doc) => {
      const flows = doc.get("flows") as { items: unknown[] };
      // Drop net from every IPC flow that names it.
      const i = flowIndex("units-report-events");
      doc.setIn(
        ["flows", i, "from"],
        ["meter", "admin", "cls", "display", "tcm", "crypto", "sysmgmt"],
      );
      const j = flowIndex("sysmgmt-reads-status");
      doc.setIn(
        ["flows", j, "to"],
        ["meter", "admin", "cls", "display", "tcm", "crypto", "storage"],
      );
      expect(flows.items.length).toBe(shipped.document.flows.length);
    });
    const out = compileSelinux(p);
    expect(out["smgw.cil"]).not.toContain("smgw_net_ipc_t");
    expect(out["smgw.cil"]).not.toContain("(allow smgw_net_t smgw_ifm_t");
    expect(out.file_contexts).not.toContain("/run/smgw/ipc/net");
    expect(buildModel(p).ipcClients).not.toContain("net");
  });

  test("an outbound TLS flow not opened by the TCM is refused with the reason", () => {
    const p = edited((doc) => {
      doc.addIn(["flows"], {
        id: "display-fetches",
        from: "display",
        to: "role:consumer",
        network: "HAN",
        transport: { protocol: "tcp", port: 9443, tls: true },
        carries: ["gateway-status"],
        rule: "PP-HAN-1",
        why: "test",
      });
    });
    expect(() => compileSelinux(p)).toThrow(SelinuxCompileError);
    expect(() => compileSelinux(p)).toThrow(/display-fetches.*tcm/);
  });
});

describe("smgw.semanage reader", () => {
  test("reads what the generator writes", () => {
    const labels = parseSemanagePorts(compileSelinux(shipped)["smgw.semanage"]);
    expect(labels).toContainEqual({ type: "smgw_wan_tls_port_t", protocol: "tcp", port: 443 });
    expect(labels.length).toBe(buildModel(shipped).ports.length);
  });

  test.each([
    ["port -a -t x_t -p tcp 1", /line 1/],
    ["port -m -t x_t -p sctp 1", /expected/],
    ["port -m -t x_t -p tcp 0", /expected/],
    ["port -m -t x_t -p tcp 65536", /expected/],
    ["port -m -t X_T -p tcp 1", /expected/],
    ["# ok\nport -m -t x_t -p tcp", /line 2/],
    ["port -m -t x_t -p tcp 1; rm -rf /", /expected/],
  ])("refuses %p", (text, message) => {
    expect(() => parseSemanagePorts(text)).toThrow(SemanagePortsError);
    expect(() => parseSemanagePorts(text)).toThrow(message);
  });

  test("refuses oversized input", () => {
    expect(() => parseSemanagePorts("#".repeat((1 << 20) + 1))).toThrow(/larger than/);
  });

  test("random input: a list or a SemanagePortsError, nothing else", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          const labels = parseSemanagePorts(text);
          for (const l of labels) expect(l.port).toBeGreaterThanOrEqual(1);
        } catch (e) {
          expect(e).toBeInstanceOf(SemanagePortsError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
