// Files the image build writes into the root file system from image.yml (the rest comes from board/rootfs).
import type { ImageConfig } from './config.ts';

function firmwareCommand(c: ImageConfig): string {
  return `${c.node.path} ${c.install.app}/confbox.mjs --data-dir ${c.firmware.dataDir} --sip-port ${c.firmware.sipPort} --sip-tls-port ${c.firmware.sipTlsPort} --http-port ${c.firmware.httpPort} --https-port ${c.firmware.httpsPort}`;
}

/** The firmware's unit for an image whose overlays bring none. */
export function firmwareUnit(c: ImageConfig): string {
  return `[Unit]
Description=confbox SIP conference box
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${c.firmware.user}
Group=${c.firmware.user}
ExecStart=${firmwareCommand(c)}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}

/** The image's additions to the firmware's unit: after first boot, and its log lines on the serial console too. */
export function firmwareDropIn(c: ImageConfig): string {
  const firstBoot = c.services.enable.includes('confbox-firstboot.service');
  return `# Written by the image build (image.yml).
[Unit]
${firstBoot ? 'Requires=confbox-firstboot.service\nAfter=confbox-firstboot.service\n' : ''}
[Service]
StandardOutput=journal+console
`;
}

export function sysusers(c: ImageConfig): string {
  return `# The firmware's user (image.yml: firmware.user).
u ${c.firmware.user} - "confbox conference box" ${c.firmware.dataDir} /usr/sbin/nologin
`;
}

export function tmpfiles(c: ImageConfig): string {
  return `# The firmware's data directory (image.yml: firmware.dataDir).
d ${c.firmware.dataDir} 0750 ${c.firmware.user} ${c.firmware.user} -
`;
}

const yes = (b: boolean) => (b ? 'yes' : 'no');

/** /etc/confbox/first-boot.conf, read by /usr/lib/confbox/first-boot. */
export function firstBootConfig(c: ImageConfig): string {
  return `# Written by the image build from image.yml (firstBoot, firmware, node, install).
CONFBOX_USER=${c.firmware.user}
CONFBOX_DATA_DIR=${c.firmware.dataDir}
CONFBOX_NODE=${c.node.path}
CONFBOX_APP=${c.install.app}
GROW_ROOT_PARTITION=${yes(c.firstBoot.growRootPartition)}
HOSTNAME_PREFIX=${c.firstBoot.hostnamePrefix}
SECRETS="${c.firstBoot.secrets.join(' ')}"
INIT_DATABASE=${yes(c.firstBoot.initDatabase)}
FAULT_LED=${yes(c.firstBoot.faultLed)}
BOOT_PARTITION=${c.partitions.boot.mount}
`;
}

export function fstab(c: ImageConfig): string {
  const { boot, root } = c.partitions;
  return `# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>
LABEL=${root.label}\t/\text4\trw,noatime,errors=remount-ro\t0\t1
LABEL=${boot.label}\t${boot.mount}\tvfat\trw,noatime,umask=0077\t0\t2
`;
}

/** The kernel command line; the serial console comes last, so that it is /dev/console. */
export function bootCmdline(c: ImageConfig): string {
  return `${['console=tty0', `console=${c.boot.console}`, `root=LABEL=${c.partitions.root.label}`, 'rw', 'rootwait', 'fsck.repair=yes', ...c.boot.cmdline].join(' ')}\n`;
}

/** raspi-firmware's settings, so that a kernel update on the box writes the same cmdline.txt. */
export function raspiFirmwareDefaults(c: ImageConfig): string {
  return `# Written by the image build (image.yml: boot, partitions.root).
ROOTPART=LABEL=${c.partitions.root.label}
CONSOLES="tty0 ${c.boot.console}"
`;
}
