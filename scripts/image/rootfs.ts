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
GROW_DATA_PARTITION=${yes(c.firstBoot.growDataPartition)}
DATA_MOUNT=${c.partitions.data.mount}
HOSTNAME_PREFIX=${c.firstBoot.hostnamePrefix}
SECRETS="${c.firstBoot.secrets.join(' ')}"
INIT_DATABASE=${yes(c.firstBoot.initDatabase)}
FAULT_LED=${yes(c.firstBoot.faultLed)}
BOOT_PARTITION=${c.partitions.boot.mount}
`;
}

/** Where each persistent directory lives on the data partition: /var/lib/confbox -> /data/confbox. */
export function persistentPlace(c: ImageConfig, dir: string): string {
  return `${c.partitions.data.mount}/${dir.split('/').filter(Boolean).at(-1)}`;
}

/** The root file system is the slot U-Boot started (root=PARTUUID=… on the command line), so it has no line here. */
export function fstab(c: ImageConfig): string {
  const { boot, data } = c.partitions;
  const binds = c.updates.persistent.map((dir) => `${persistentPlace(c, dir)}\t${dir}\tnone\tbind,x-systemd.requires-mounts-for=${data.mount}\t0\t0`);
  return `# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>
LABEL=${boot.label}\t${boot.mount}\tvfat\trw,noatime,umask=0077\t0\t2
LABEL=${data.label}\t${data.mount}\text4\trw,noatime,errors=remount-ro\t0\t2
${binds.join('\n')}
`;
}

/** The size of U-Boot's environment file on the boot partition, as the boot script and fw_setenv both read it. */
export const UBOOT_ENV_SIZE = 0x4000;
// Not uboot.env: U-Boot on the Pi reads that file as its whole environment (ENV_IS_IN_FAT), which three variables are not.
export const UBOOT_ENV_FILE = 'confbox-boot.env';

/** libubootenv's configuration: RAUC reads and writes the boot counter through fw_printenv/fw_setenv. */
export function fwEnvConfig(c: ImageConfig): string {
  return `# U-Boot's environment: a file on the boot partition (image.yml: partitions.boot.mount).
${c.partitions.boot.mount}/${UBOOT_ENV_FILE} 0x0000 0x${UBOOT_ENV_SIZE.toString(16)}
`;
}

/** The two root slots, found by the card's identifier (image.yml: partitions.diskId), on the Pi and under qemu alike. */
export function raucSystemConf(c: ImageConfig): string {
  const id = c.partitions.diskId.replace(/^0x/, '');
  return `# RAUC on the box (written by the image build from image.yml: updates, partitions).
[system]
compatible=${c.updates.compatible}
bootloader=uboot
boot-attempts=${c.updates.bootAttempts}
boot-attempts-primary=${c.updates.bootAttempts}
mountprefix=/run/rauc/mnt

[keyring]
path=/etc/rauc/keyring.pem

[slot.rootfs.0]
device=/dev/disk/by-partuuid/${id}-02
type=ext4
bootname=A

[slot.rootfs.1]
device=/dev/disk/by-partuuid/${id}-03
type=ext4
bootname=B
`;
}

/** /etc/confbox/slot-check.conf, read by /usr/lib/confbox/slot-check. */
export function slotCheckConfig(c: ImageConfig): string {
  return `# Written by the image build from image.yml (updates).
BOOT_ATTEMPTS=${c.updates.bootAttempts}
HEALTH_DEADLINE_SECONDS=${c.updates.healthDeadlineSeconds}
MAX_FIRMWARE_RESTARTS=${c.updates.maxFirmwareRestarts}
`;
}

/**
 * U-Boot's boot script (boot.scr on the boot partition): reads the boot state from uboot.env, takes one attempt of the
 * first slot in BOOT_ORDER that has attempts left, writes the state back, and boots that slot's kernel and initramfs
 * from its own root file system (so that an update brings its kernel). With no attempts left anywhere, both slots get
 * theirs back and the board restarts. The console: ttyAMA0 under qemu's virt machine, image.yml's on the Pi.
 */
export function bootScript(c: ImageConfig): string {
  const n = c.updates.bootAttempts;
  const size = `0x${UBOOT_ENV_SIZE.toString(16)}`;
  const words = ['rootwait', 'rw', 'fsck.repair=yes', 'panic=10', ...c.boot.cmdline].join(' ');
  return `# confbox A/B boot (generated by the image build from image.yml; see scripts/image/rootfs.ts)
setenv bootpart \${devnum}:1
setexpr scratch \${kernel_addr_r} + 0x6000000
test -n "\${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "\${BOOT_A_LEFT}" || setenv BOOT_A_LEFT ${n}
test -n "\${BOOT_B_LEFT}" || setenv BOOT_B_LEFT ${n}
if load \${devtype} \${bootpart} \${scratch} ${UBOOT_ENV_FILE}; then env import -c \${scratch} ${size} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT; fi
setenv rootpart
setenv raucslot
for BOOT_SLOT in "\${BOOT_ORDER}"; do
  if test -n "\${rootpart}"; then
    # a slot is chosen: the others wait
  elif test "\${BOOT_SLOT}" = "A"; then
    if test \${BOOT_A_LEFT} -gt 0; then setexpr BOOT_A_LEFT \${BOOT_A_LEFT} - 1; setenv rootpart 2; setenv raucslot A; fi
  elif test "\${BOOT_SLOT}" = "B"; then
    if test \${BOOT_B_LEFT} -gt 0; then setexpr BOOT_B_LEFT \${BOOT_B_LEFT} - 1; setenv rootpart 3; setenv raucslot B; fi
  fi
done
if test -z "\${rootpart}"; then
  echo "confbox boot: no slot has attempts left; both get ${n} again"
  setenv BOOT_A_LEFT ${n}
  setenv BOOT_B_LEFT ${n}
  env export -c -s ${size} \${scratch} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
  fatwrite \${devtype} \${bootpart} \${scratch} ${UBOOT_ENV_FILE} ${size}
  reset
fi
env export -c -s ${size} \${scratch} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
fatwrite \${devtype} \${bootpart} \${scratch} ${UBOOT_ENV_FILE} ${size}
echo "confbox boot: slot \${raucslot} (partition \${rootpart}); attempts left: A \${BOOT_A_LEFT}, B \${BOOT_B_LEFT}"
part uuid \${devtype} \${devnum}:\${rootpart} rootuuid
if test "\${board}" = "rpi"; then setenv console ${c.boot.console}; else setenv console ttyAMA0,115200; fi
setenv bootargs "console=tty0 console=\${console} root=PARTUUID=\${rootuuid} rauc.slot=\${raucslot} ${words}"
setexpr rdaddr \${kernel_addr_r} + 0x3000000
load \${devtype} \${devnum}:\${rootpart} \${kernel_addr_r} /boot/vmlinuz
# A gzip-compressed kernel is unpacked above the initramfs; Debian's arm64 kernel is a plain Image.
if unzip \${kernel_addr_r} \${scratch}; then setenv kernel \${scratch}; else setenv kernel \${kernel_addr_r}; fi
load \${devtype} \${devnum}:\${rootpart} \${rdaddr} /boot/initrd.img
booti \${kernel} \${rdaddr}:\${filesize} \${fdt_addr}
echo "confbox boot: slot \${raucslot} did not boot"
reset
`;
}

/** The Pi firmware's config.txt: raspi-firmware's, with U-Boot started instead of the kernel (U-Boot picks the slot). */
export function ubootConfigTxt(raspiFirmwareConfig: string): string {
  const kept = raspiFirmwareConfig.split('\n').filter((l) => !/^\s*(kernel|initramfs|cmdline)\b/.test(l));
  return `${kept.join('\n').trimEnd()}

# Written by the image build: the Pi firmware starts U-Boot, whose boot.scr starts root slot A or B.
kernel=u-boot.bin
enable_uart=1
`;
}
