// The boot test's database step (scripts/image/test.ts): the card's unit gives the box the board's MariaDB as its own
// database (--own-db), so the page's choice must win over it. A technician points the running box at an office's
// MariaDB, here a server on this machine that the guest reaches at 10.0.2.2 (QEMU's user network takes that address
// to this machine's loopback), with the rooms copied along, and then comes back to the board's, from the page's API.
import { OfficeDb } from '../../test/support/office-db.ts';
import type { GuestWeb } from './qemu-guest.ts';

const OFFICE_PASSWORD = 'office-db-password-9';
/** A switch under emulation: the connection test, the tables made on the office's server, the rooms copied. */
const SWITCH_TIMEOUT_MS = 180_000;

export async function testDatabaseSwitch(web: GuestWeb, check: (name: string, ok: boolean, detail?: string) => boolean, room: number): Promise<void> {
  const office = new OfficeDb();
  await office.start();
  try {
    await office.account('confbox', OFFICE_PASSWORD, 'office');
    const before = await web.api('GET', '/api/database');
    check('the box runs on the board\'s MariaDB, its own database (the unit\'s --own-db)', before.json?.kind === 'embedded' && /mysqld\.sock/.test(before.json?.own?.where ?? '') && before.json?.setBy === 'default', JSON.stringify(before.json));
    const saved = await web.api('PUT', '/api/database', { host: '10.0.2.2', port: office.port, user: 'confbox', password: OFFICE_PASSWORD, database: 'office', tls: 'off', copy: 'yes' }, SWITCH_TIMEOUT_MS);
    check('the office\'s database chosen on the page: the running box moves there, its rooms copied', saved.status === 200 && saved.json?.kind === 'server' && saved.json?.setBy === 'page', `${saved.status} ${saved.json?.message ?? saved.body.slice(0, 300)}`);
    if (saved.status === 200) console.log(`# switch to the office's database: ${(saved.json.switchedInMs / 1000).toFixed(1)} s under emulation`);
    const rows = await office.root('SELECT id FROM office.rooms').catch(() => []);
    check(`room ${room} is on the office's server`, rows.some((r) => r.id === room), JSON.stringify(rows));
    const made = await web.api('POST', '/api/rooms', { id: '13', pin: '6802' });
    const there = await office.root('SELECT id FROM office.rooms WHERE id = 13').catch(() => []);
    check('a room made after the switch is kept on the office\'s server', made.status === 201 && there.length === 1, `${made.status} ${JSON.stringify(there)}`);
    const back = await web.api('DELETE', '/api/database', undefined, SWITCH_TIMEOUT_MS);
    check('back to the board\'s MariaDB from the page', back.status === 200 && back.json?.kind === 'embedded' && /mysqld\.sock/.test(back.json?.own?.where ?? ''), `${back.status} ${back.json?.message ?? back.body.slice(0, 300)}`);
    const rooms = await web.api('GET', '/api/rooms');
    check(`the board's MariaDB still holds room ${room}`, rooms.json?.some((r: { id: number }) => r.id === room) === true, JSON.stringify(rooms.json)?.slice(0, 200));
  } finally {
    await office.stop();
  }
}
