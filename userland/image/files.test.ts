import { describe, expect, test } from "bun:test";
import path from "node:path";
import { loadPolicyFile, UNIT_NAMES } from "@smgw/policy";
import fc from "fast-check";
import { baseKey, fileContextOf, parsePackageList } from "./build.ts";
import {
  dataVolumeConf,
  kernelCommandLine,
  networkFiles,
  PortRecordError,
  portsLocal,
  readyMarkerUnit,
} from "./files.ts";
import { VM } from "./layout.ts";
import { peerNets, qemuArgs } from "./machine.ts";
import { curlOutcome, parseAvcDenials, typeOf } from "./probe.ts";

const REPO = path.resolve(import.meta.dir, "../..");
const policy = await loadPolicyFile(path.join(REPO, "policy", "smgw.policy.yaml"));

describe("network files", () => {
  const files = networkFiles(policy);

  test("each NIC is named by its MAC and gets the policy's address, nothing learnt", () => {
    expect(Object.keys(files).sort()).toEqual([
      "10-smgw-han0.link",
      "10-smgw-han0.network",
      "10-smgw-lmn0.link",
      "10-smgw-lmn0.network",
      "10-smgw-wan0.link",
      "10-smgw-wan0.network",
    ]);
    expect(files["10-smgw-lmn0.link"]).toContain(`MACAddress=${VM.macs.LMN}\n`);
    expect(files["10-smgw-lmn0.link"]).toContain("Name=lmn0\n");
    expect(files["10-smgw-wan0.network"]).toContain("Address=192.0.2.1/24\n");
    expect(files["10-smgw-han0.network"]).toContain("Address=203.0.113.1/24\n");
    for (const [name, text] of Object.entries(files)) {
      if (name.endsWith(".network")) {
        expect(text).toContain("LinkLocalAddressing=no");
        expect(text).toContain("IPv6AcceptRA=no");
      }
    }
  });

  test("the MACs are distinct", () => {
    expect(new Set(Object.values(VM.macs)).size).toBe(3);
  });
});

describe("unit and config files", () => {
  test("the ready marker waits for every gateway unit", () => {
    const unit = readyMarkerUnit();
    for (const u of UNIT_NAMES) expect(unit).toContain(`smgw-${u}.service`);
    expect(unit).toContain("WantedBy=multi-user.target");
  });

  test("the data volume names the disk by its serial", () => {
    expect(dataVolumeConf()).toContain(`DATA_DEVICE=/dev/disk/by-id/virtio-${VM.dataDiskSerial}\n`);
  });

  test("the kernel command line: SELinux enforcing from the start, the gateway maskable", () => {
    const line = kernelCommandLine();
    for (const w of ["security=selinux", "enforcing=1", "console=ttyS0,115200", "root=/dev/vda"]) {
      expect(line.split(" ")).toContain(w);
    }
    expect(line).not.toContain("systemd.mask");
    expect(kernelCommandLine({ gatewayDisabled: true })).toContain("systemd.mask=smgw.target");
  });
});

describe("portsLocal", () => {
  test("semanage port lines become the store's portcon records", () => {
    const text = [
      "# Generated ...",
      "port -m -t smgw_han_display_port_t -p tcp 8080",
      "",
      "port -a -t smgw_x_port_t -p udp 4711-4712",
    ].join("\n");
    expect(portsLocal(text)).toBe(
      "portcon tcp 8080 system_u:object_r:smgw_han_display_port_t:s0\nportcon udp 4711 - 4712 system_u:object_r:smgw_x_port_t:s0\n",
    );
    expect(portsLocal("# nothing\n")).toBe("");
  });

  test("anything else is refused with its line number", () => {
    const bad = [
      "port -d -t x_t -p tcp 1",
      "port -m -t x_t -p icmp 1",
      "port -m -t x_t -p tcp 0",
      "port -m -t x_t -p tcp 70000",
      "port -m -t x_t -p tcp 9-8",
      "port -m -t x;y -p tcp 9",
      "fcontext -a -t x_t /etc",
      "port -m -t x_t -p tcp",
    ];
    for (const line of bad) {
      expect(() => portsLocal(`# header\n${line}`)).toThrow(PortRecordError);
      expect(() => portsLocal(`# header\n${line}`)).toThrow(/line 2/);
    }
    expect(() => portsLocal("#".repeat(2_000_000))).toThrow(/bytes/);
  });

  test("random text never crashes: it is converted or refused with PortRecordError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          const out = portsLocal(s);
          for (const l of out.split("\n").filter(Boolean)) expect(l).toStartWith("portcon ");
        } catch (e) {
          expect(e).toBeInstanceOf(PortRecordError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("package list and base cache key", () => {
  test("comments and blanks are dropped, names sorted and unique", () => {
    expect(parsePackageList("# x\nsystemd\n\nudev # y\nsystemd\n")).toEqual(["systemd", "udev"]);
  });

  test("a bad name is refused", () => {
    expect(() => parsePackageList("systemd\nrm -rf\n")).toThrow(/not a Debian package name/);
    expect(() => parsePackageList("Systemd")).toThrow(/not a Debian package name/);
  });

  test("the key changes with the list, the suite and the sources", () => {
    const spec = {
      suite: "bookworm",
      arch: "amd64",
      variant: "apt",
      packages: ["a", "b"],
      sources: [{ file: "/etc/apt/sources.list", text: "deb x" }],
    };
    const k = baseKey(spec);
    expect(k).toMatch(/^[0-9a-f]{16}$/);
    expect(baseKey({ ...spec })).toBe(k);
    expect(baseKey({ ...spec, packages: ["a"] })).not.toBe(k);
    expect(baseKey({ ...spec, suite: "trixie" })).not.toBe(k);
    expect(baseKey({ ...spec, sources: [] })).not.toBe(k);
  });

  test("the committed package list parses", async () => {
    const list = parsePackageList(await Bun.file(path.join(REPO, "image/debian/packages")).text());
    for (const p of [
      "systemd",
      "selinux-policy-default",
      "cryptsetup",
      "nftables",
      "linux-image-amd64",
    ]) {
      expect(list).toContain(p);
    }
  });
});

describe("fileContextOf", () => {
  test("finds the exact path's context, escaped or not", () => {
    const fc =
      "# x\n/usr/lib/smgw/smgwd\t--\tsystem_u:object_r:smgw_exec_t:s0\n/etc/smgw(/.*)?\tsystem_u:object_r:smgw_etc_t:s0\n";
    expect(fileContextOf(fc, "/usr/lib/smgw/smgwd")).toBe("system_u:object_r:smgw_exec_t:s0");
    expect(fileContextOf("/a\\.b\tsystem_u:object_r:t:s0", "/a.b")).toBe("system_u:object_r:t:s0");
    expect(fileContextOf(fc, "/nowhere")).toBeUndefined();
  });
});

describe("QEMU plan", () => {
  const nets = peerNets("smgwvm", policy);

  test("peer namespaces and taps are named after the machine, with the policy's endpoints", () => {
    expect(nets.LMN.namespace).toBe("smgwvm-lmn");
    expect(nets.LMN.addresses).toEqual([
      "198.51.100.11/24",
      "198.51.100.12/24",
      "198.51.100.13/24",
      "198.51.100.21/24",
      "198.51.100.22/24",
      "198.51.100.23/24",
      "198.51.100.24/24",
      "198.51.100.25/24",
    ]);
    expect(nets.HAN.addresses).toContain("203.0.113.10/24");
    for (const n of Object.values(nets)) expect(n.tap.length).toBeLessThanOrEqual(15);
  });

  test("TCG, q35, direct boot, two disks, TPM, three NICs by MAC, two serial ports", () => {
    const args = qemuArgs({
      kernel: "/k",
      initrd: "/i",
      overlay: "/o.qcow2",
      dataDisk: "/d.raw",
      tpmSocket: "/t.sock",
      qmpSocket: "/q.sock",
      qemuPid: "/q.pid",
      channel: "/c.log",
      nets: [nets.WAN, nets.LMN, nets.HAN],
      cmdline: kernelCommandLine(),
    });
    const joined = args.join(" ");
    expect(joined).toContain("-accel tcg,thread=multi -cpu max -M q35 -smp 2 -m 1024");
    expect(joined).toContain("-kernel /k -initrd /i");
    expect(joined).toContain(`serial=${VM.dataDiskSerial}`);
    expect(joined).toContain("-tpmdev emulator,id=tpm0,chardev=tpm");
    expect(joined).toContain("-serial stdio -serial file:/c.log");
    for (const n of Object.values(nets)) {
      expect(joined).toContain(`ifname=${n.tap},script=no,downscript=no`);
      expect(joined).toContain(`mac=${n.mac}`);
    }
  });
});

describe("probes", () => {
  test("curl's exit codes", () => {
    expect(curlOutcome(0)).toBe("connected");
    expect(curlOutcome(7)).toBe("refused");
    expect(curlOutcome(28)).toBe("blocked");
    expect(curlOutcome(6)).toBe("error");
  });

  test("AVC denials are parsed from audit lines; other lines are skipped", () => {
    const log = [
      "----",
      'type=AVC msg=audit(1.2:3): avc:  denied  { search } for  pid=896 comm="smgwd" name="display" dev="tmpfs" ino=323 scontext=system_u:system_r:smgw_meter_t:s0 tcontext=system_u:object_r:smgw_display_ipc_t:s0 tclass=dir permissive=0',
      "type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=42",
      "type=AVC msg=audit(1.2:4): avc:  denied  { read write } for scontext=a:b:c_t:s0 tcontext=d:e:f_t:s0 tclass=file",
      "type=AVC msg=audit(1.2:5): avc:  denied  { read } broken",
    ].join("\n");
    const d = parseAvcDenials(log);
    expect(d.length).toBe(2);
    expect(d[0]).toMatchObject({
      permissions: ["search"],
      comm: "smgwd",
      tclass: "dir",
    });
    expect(typeOf(d[0]?.source ?? "")).toBe("smgw_meter_t");
    expect(d[1]?.permissions).toEqual(["read", "write"]);
  });

  test("random audit text never crashes the parser", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        for (const d of parseAvcDenials(`type=AVC avc: denied ${s}`)) {
          expect(d.permissions.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
