// Where things live on the appliance (both images) and in the test image's virtual machine.
// image/README.md explains the plan; the generated units and file contexts use the same paths.
import type { NetworkName } from "@smgw/policy";

export const APPLIANCE = {
  /** The one executable of all ten units. */
  binary: "/usr/lib/smgw/smgwd",
  policy: "/etc/smgw/policy.yaml",
  runDir: "/run/smgw",
  stateRoot: "/var/lib/smgw",
  /** The encrypted data volume's mount point; only storage writes it. */
  dataMount: "/var/lib/smgw/data",
  /** Units, target, drop-ins shipped by the image (vendor directory). */
  unitDir: "/usr/lib/systemd/system",
  sysusers: "/usr/lib/sysusers.d/smgw.conf",
  tmpfiles: "/usr/lib/tmpfiles.d/smgw.conf",
  nftables: "/etc/nftables.conf",
  networkDir: "/etc/systemd/network",
  dataVolumeConf: "/etc/smgw/data-volume.conf",
  /** The SELinux policy store name of the Debian reference policy. */
  selinuxType: "default",
} as const;

/** The test image's disks and NICs as QEMU presents them. */
export const VM = {
  /** Serial number of the data disk: the guest finds it as /dev/disk/by-id/virtio-<serial>. */
  dataDiskSerial: "smgw-data",
  dataDiskBytes: 256 * 1024 * 1024,
  rootDevice: "/dev/vda",
  /** Fixed MACs (QEMU's 52:54:00 prefix): the guest names its NICs by them, not by slot. */
  macs: {
    WAN: "52:54:00:5a:00:01",
    LMN: "52:54:00:5a:00:02",
    HAN: "52:54:00:5a:00:03",
  } satisfies Record<NetworkName, string>,
} as const;

export const DATA_DEVICE = `/dev/disk/by-id/virtio-${VM.dataDiskSerial}`;
