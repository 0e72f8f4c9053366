// The boot test's last part (scripts/image/test.ts): on the booted card, where a technician set the password and
// added room 12 and extension 201, a bundle of the same root file system with another version, signed with the update key,
// is sent to POST /api/update: the box installs it into slot B, restarts, U-Boot starts slot B, and the room and the
// extension are still there. Then a deliberately broken bundle (its firmware exits at once, so it never becomes
// healthy) goes into slot A: U-Boot starts A as often as its attempts allow, the slot check restarts it each time,
// and the box comes back on B by itself, with slot A marked bad.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageConfig } from './config.ts';
import type { Guest, GuestWeb } from './qemu-guest.ts';
import { signingKey, writeBundle } from './update-bundle.ts';
import type { Layout } from './test.ts';
import { spawnSync } from 'node:child_process';

export interface UpdateTest {
  c: ImageConfig;
  guest: Guest;
  image: string;
  layout: Layout;
  bundle: string;
  scratch: string;
  version: string;
  check: (name: string, ok: boolean, detail?: string) => boolean;
  timeoutS: number;
  /** The page, logged in with `password` after first use (scripts/image/test.ts). */
  web: GuestWeb;
  password: string;
}

/** Sending a bundle and installing it under emulation: the upload, the verity check and 1 GB written. */
const INSTALL_TIMEOUT_MS = 40 * 60_000;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}

/** Slot A's file system as the image holds it (its own size, not the slot's). */
function slotImage(x: UpdateTest, out: string): void {
  const header = sh('dumpe2fs', ['-h', `${x.image}?offset=${x.layout.slotOffsets[0]}`]);
  const blocks = Number(/^Block count:\s+(\d+)$/m.exec(header)?.[1]);
  const size = Number(/^Block size:\s+(\d+)$/m.exec(header)?.[1]);
  sh('dd', [`if=${x.image}`, `of=${out}`, 'bs=1M', `skip=${x.layout.slotOffsets[0]}`, `count=${blocks * size}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
}

export async function testUpdates(x: UpdateTest): Promise<void> {
  const { guest: g, check, c, web, password: PASSWORD } = x;
  const before = await web.api('GET', '/api/update');
  check('the API shows slot A running and slot B empty', before.json?.booted === 'A' && before.json.slots?.find((s: { bootname: string }) => s.bootname === 'B')?.version === '', JSON.stringify(before.json?.slots));

  // Bundle B: the same root file system, another version, signed with this machine's update key.
  const log = join(x.scratch, 'bundles.log');
  const signing = signingKey(log);
  const rootImg = join(x.scratch, 'root-b.ext4');
  slotImage(x, rootImg);
  const versionB = `${x.version}-update-test`;
  const bundleB = join(x.scratch, 'b.raucb');
  await writeBundle(c, versionB, rootImg, bundleB, signing, x.scratch, log);
  let mark = g.mark();
  const t0 = Date.now();
  const sent = await web.upload('/api/update', readFileSync(bundleB), INSTALL_TIMEOUT_MS).catch((e: Error) => ({ status: 0, json: null, body: e.message }));
  check('bundle B sent and installed (POST /api/update)', sent.status === 200 && sent.json?.phase === 'restarting', `${sent.status} ${sent.body.slice(0, 300)} after ${Math.round((Date.now() - t0) / 1000)} s`);
  const restart = await g.waitFor(() => /confbox: restarting as the firmware asked/.test(g.since(mark)), 'the restart the firmware asked for', 120);
  check('the box restarts as the firmware asked', restart === true);
  const slotB = await g.waitFor(() => /confbox boot: slot B \(partition 3\)/.test(g.since(mark)), 'U-Boot starting slot B', 300);
  check('U-Boot starts slot B', slotB === true);
  const readyB = await g.waitFor(() => g.jsonLines(mark).find((r) => r.msg === 'running slot marked good' && r.slot === 'B'), 'the firmware in slot B marking it good', x.timeoutS);
  check('the firmware in slot B is healthy and marks it good', readyB !== null);
  check('slot B has the update\'s own first boot (host name again, secrets kept)', /confbox first boot: done/.test(g.since(mark)));
  check('after the update: the administrator password still opens the page', (await web.login(PASSWORD)) === 303);
  const rooms = await web.api('GET', '/api/rooms');
  const exts = await web.api('GET', '/api/extensions');
  check('after the update: room 12 and extension 201 are still there', rooms.json?.some((r: { id: number }) => r.id === 12) && exts.json?.some((e: { number: string }) => e.number === '201'), `${JSON.stringify(rooms.json)?.slice(0, 200)}`);
  const afterB = await web.api('GET', '/api/update');
  const slots = (afterB.json?.slots ?? []) as Array<{ bootname: string; version: string; primary: boolean; bootStatus: string }>;
  check(`the API shows slot B running ${versionB}, slot A keeping ${x.version}`, afterB.json?.booted === 'B' && slots.find((s) => s.bootname === 'B')?.version === versionB && slots.find((s) => s.bootname === 'A')?.version === x.version, JSON.stringify(slots));
  console.log(`# update into slot B: ${Math.round((Date.now() - t0) / 1000)} s from upload to healthy under emulation`);

  // A broken bundle: its firmware exits at once (a drop-in replaces its command), so it never becomes healthy.
  const broken = join(x.scratch, 'root-broken.ext4');
  copyFileSync(rootImg, broken);
  const dropIn = join(x.scratch, 'broken.conf');
  writeFileSync(dropIn, '[Service]\nExecStart=\nExecStart=/bin/sh -c \'echo "confbox: this firmware never becomes healthy"; exit 3\'\n');
  sh('debugfs', ['-w', '-R', `write ${dropIn} /etc/systemd/system/${c.firmware.unit}.d/broken.conf`, broken]);
  const bundleBroken = join(x.scratch, 'broken.raucb');
  await writeBundle(c, `${x.version}-broken`, broken, bundleBroken, signing, x.scratch, log);
  mark = g.mark();
  const t1 = Date.now();
  const sentBroken = await web.upload('/api/update', readFileSync(bundleBroken), INSTALL_TIMEOUT_MS).catch((e: Error) => ({ status: 0, json: null, body: e.message }));
  check('the broken bundle is accepted (it is signed) and installed into slot A', sentBroken.status === 200 && sentBroken.json?.slots?.find((s: { primary: boolean }) => s.primary)?.bootname === 'A', `${sentBroken.status} ${sentBroken.body.slice(0, 300)}`);
  const fellBack = await g.waitFor(() => {
    const text = g.since(mark);
    const lastA = text.lastIndexOf('confbox boot: slot A (partition 2)');
    const b = text.lastIndexOf('confbox boot: slot B (partition 3)');
    return lastA >= 0 && b > lastA ? text : null;
  }, 'U-Boot falling back to slot B', 60 * 60);
  const text = fellBack ?? g.since(mark);
  const attempts = text.split('confbox boot: slot A (partition 2)').length - 1;
  const gaveUp = text.split(/confbox slot check: slot A: the firmware (failed to start \d+ times|was not healthy within \d+ s)/).length - 1;
  check(`U-Boot tried the broken slot A ${c.updates.bootAttempts} times, the slot check restarted it each time`, attempts === c.updates.bootAttempts && gaveUp >= c.updates.bootAttempts, `${attempts} starts, ${gaveUp} restarts by the slot check`);
  check('then U-Boot went back to slot B by itself', fellBack !== null);
  const healthyAgain = await g.waitFor(() => g.jsonLines(mark).find((r) => r.msg === 'running slot marked good' && r.slot === 'B'), 'slot B healthy again', x.timeoutS);
  check('slot B is healthy again', healthyAgain !== null);
  check('back on slot B: the password still opens the page', (await web.login(PASSWORD)) === 303);
  const end = await web.api('GET', '/api/update');
  const endSlots = (end.json?.slots ?? []) as typeof slots;
  check('the API shows slot B running and slot A given up (bad)', end.json?.booted === 'B' && endSlots.find((s) => s.bootname === 'A')?.bootStatus === 'bad', JSON.stringify(endSlots));
  const roomsEnd = await web.api('GET', '/api/rooms');
  check('room 12 is still there', roomsEnd.json?.some((r: { id: number }) => r.id === 12) === true);
  console.log(`# broken update rolled back: ${Math.round((Date.now() - t1) / 1000)} s from upload to slot B healthy again`);
}
