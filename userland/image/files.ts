// Files the test-image builder writes from the policy and the VM plan: pure functions, so a
// policy change shows up as a change of their output in tests.
import { NETWORK_NAMES, type NetworkName, type Policy, UNIT_NAMES } from "@smgw/policy";
import { APPLIANCE, DATA_DEVICE, VM } from "./layout.ts";

const HEADER = "# Written by the image builder (smgw image build) from the policy; do not edit.";

/** .link and .network files: NICs named by MAC (wan0, lmn0, han0) and given their address. */
export function networkFiles(
  policy: Policy,
  macs: Record<NetworkName, string> = VM.macs,
): Record<string, string> {
  const files: Record<string, string> = {};
  for (const n of NETWORK_NAMES) {
    const net = policy.document.networks[n];
    const name = net.interface;
    files[`10-smgw-${name}.link`] = [
      HEADER,
      `# The ${n} NIC is the one with this MAC, whatever slot it sits in.`,
      "[Match]",
      `MACAddress=${macs[n]}`,
      "",
      "[Link]",
      `Name=${name}`,
      "",
    ].join("\n");
    files[`10-smgw-${name}.network`] = [
      HEADER,
      `# ${n}: the gateway's address from the policy; nothing learnt from the network.`,
      "[Match]",
      `Name=${name}`,
      "",
      "[Link]",
      "RequiredForOnline=yes",
      "",
      "[Network]",
      `Address=${net.address}`,
      "LinkLocalAddressing=no",
      "IPv6AcceptRA=no",
      "ConfigureWithoutCarrier=yes",
      "",
    ].join("\n");
  }
  return files;
}

export function dataVolumeConf(device: string = DATA_DEVICE): string {
  return `${HEADER}\n# The disk that holds the LUKS2 data volume.\nDATA_DEVICE=${device}\n`;
}

/**
 * Test image only: a oneshot that reports on the second serial port once multi-user.target is
 * reached and every gateway unit has reported ready (Type=notify units count as started only
 * then). With the gateway masked it reports after multi-user.target alone.
 */
export function readyMarkerUnit(): string {
  const units = UNIT_NAMES.map((u) => `smgw-${u}.service`).join(" ");
  return [
    HEADER,
    "[Unit]",
    "Description=Report the end of the boot to the test host (test image only)",
    `After=multi-user.target ${units}`,
    "",
    "[Service]",
    "Type=oneshot",
    "ExecStart=/usr/libexec/smgw-test/mark-ready",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export interface KernelOptions {
  /** Boot with the gateway's units masked (the benchmark's baseline). */
  gatewayDisabled?: boolean;
  extra?: string[];
}

export function kernelCommandLine(o: KernelOptions = {}): string {
  return [
    `root=${VM.rootDevice}`,
    "rw",
    "console=ttyS0,115200",
    // Debian's kernel starts AppArmor unless told otherwise.
    "security=selinux",
    "selinux=1",
    "enforcing=1",
    "audit=1",
    "audit_backlog_limit=8192",
    "systemd.show_status=1",
    ...(o.gatewayDisabled ? ["systemd.mask=smgw.target"] : []),
    ...(o.extra ?? []),
  ].join(" ");
}

/** Where each kind of generated systemd file goes on the appliance. */
export function unitTarget(fileName: string): string {
  return `${APPLIANCE.unitDir}/${fileName}`;
}

export class PortRecordError extends Error {
  override name = "PortRecordError";
}

/**
 * `semanage import` port lines (`port -a|-m -t TYPE -p tcp|udp PORT[-PORT]`) as the lines of
 * the policy store's ports.local, which the store merges into the policy on its next commit
 * (no semanage needed on the build host, and no chroot).
 */
export function portsLocal(semanageText: string, maxBytes = 1 << 20): string {
  if (semanageText.length > maxBytes) {
    throw new PortRecordError(`port records: ${semanageText.length} bytes, more than ${maxBytes}`);
  }
  const out: string[] = [];
  semanageText.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m =
      /^port\s+-[am]\s+-t\s+([A-Za-z][A-Za-z0-9_]{0,127})\s+-p\s+(tcp|udp|sctp|dccp)\s+(\d{1,5})(?:-(\d{1,5}))?$/.exec(
        line,
      );
    if (!m?.[1] || !m[2] || !m[3]) {
      throw new PortRecordError(
        `port records, line ${i + 1}: expected "port -a|-m -t TYPE -p PROTOCOL PORT[-PORT]", got "${line.slice(0, 80)}"`,
      );
    }
    const low = Number(m[3]);
    const high = m[4] === undefined ? low : Number(m[4]);
    if (low < 1 || high > 65535 || high < low) {
      throw new PortRecordError(`port records, line ${i + 1}: bad port range ${low}-${high}`);
    }
    const range = low === high ? `${low}` : `${low} - ${high}`;
    out.push(`portcon ${m[2]} ${range} system_u:object_r:${m[1]}:s0`);
  });
  return out.length ? `${out.join("\n")}\n` : "";
}
