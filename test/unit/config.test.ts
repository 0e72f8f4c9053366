import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allCommandOptions, COMMAND_OPTIONS, commandNames } from '../../firmware/cli.ts';
import { ConfigError, parseArgs } from '../../firmware/config.ts';

/** The two database options: the box's own, and the one that wins over the page. */
function pick(c: { ownDb: string | null; db: string | null }): { ownDb: string | null; db: string | null } {
  return { ownDb: c.ownDb, db: c.db };
}

function error(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

test('defaults match the README', () => {
  const { config } = parseArgs([], {});
  assert.is(config.sipPort, 5060);
  assert.is(config.bind, '0.0.0.0');
  assert.is(config.publicAddress, null);
  assert.is(config.httpPort, 8080);
  assert.is(config.httpsPort, 8443);
  assert.is(config.sipTlsPort, 5061);
  assert.is(config.tlsCert, null);
  assert.equal(config.rtpPorts, { min: 20000, max: 20999 });
  assert.is(config.mediaThreads, null);
  assert.ok(config.dataDir.endsWith('/var'));
  assert.is(config.db, null);
  assert.is(config.logLevel, 'info');
});

test('options and environment variables; the command line wins', () => {
  const env = { CONFBOX_SIP_PORT: '5070', CONFBOX_LOG_LEVEL: 'warn', CONFBOX_RTP_PORTS: '30000-30099' };
  const { config } = parseArgs(['--sip-port', '5080', '--public-address=10.0.0.7'], env);
  assert.is(config.sipPort, 5080);
  assert.is(config.logLevel, 'warn');
  assert.equal(config.rtpPorts, { min: 30000, max: 30099 });
  assert.is(config.publicAddress, '10.0.0.7');
});

test('a bad value names the option it came from', () => {
  assert.match(error(() => parseArgs(['--sip-port', '70000'], {})).message, /--sip-port: "70000" is not a port number/);
  assert.match(error(() => parseArgs([], { CONFBOX_HTTP_PORT: 'eighty' })).message, /CONFBOX_HTTP_PORT: "eighty"/);
  assert.match(error(() => parseArgs(['--rtp-ports', '20999-20000'], {})).message, /--rtp-ports: range 20999-20000 is empty/);
  assert.match(error(() => parseArgs(['--rtp-ports', '20000'], {})).message, /--rtp-ports: "20000" is not a range/);
  assert.is(parseArgs(['--media-threads', '3'], {}).config.mediaThreads, 3);
  assert.match(error(() => parseArgs(['--media-threads', '0'], {})).message, /--media-threads: "0" is not a number of threads \(1-64\)/);
  assert.match(error(() => parseArgs([], { CONFBOX_MEDIA_THREADS: 'many' })).message, /CONFBOX_MEDIA_THREADS: "many"/);
  assert.match(error(() => parseArgs(['--bind', 'everywhere'], {})).message, /--bind: "everywhere" is not an IP address/);
  assert.match(error(() => parseArgs(['--db', 'postgres://x/y'], {})).message, /--db: database URL postgres:\/\/x\/y is not usable: the scheme is postgres:, not mysql:/);
  assert.match(error(() => parseArgs(['--db', 'mysql://confbox@db1:3306,,db3/confbox'], {})).message, /--db: .*its host list has an empty entry/);
  assert.match(error(() => parseArgs(['--db', 'mysql://confbox:secret@db1:3306,db2:99999/confbox'], {})).message, /--db: database URL mysql:\/\/confbox:\*\*\*@db1:3306,db2:99999\/confbox is not usable/);
  assert.equal(parseArgs(['--db', 'mysql://confbox:pw@db1,db2:3307,[fd00::3]:3308/confbox'], {}).config.db, 'mysql://confbox:pw@db1,db2:3307,[fd00::3]:3308/confbox');
  assert.match(error(() => parseArgs([], { CONFBOX_OWN_DB: 'localhost' })).message, /CONFBOX_OWN_DB: database URL \(not a URL\) is not usable/);
  assert.equal(Object.values(pick(parseArgs(['--own-db', 'mysql://confbox@localhost/confbox?socket=/run/mysqld/mysqld.sock'], {}).config)), ['mysql://confbox@localhost/confbox?socket=/run/mysqld/mysqld.sock', null]);
  assert.match(error(() => parseArgs(['--log-level', 'loud'], {})).message, /--log-level: "loud" is not one of/);
  assert.match(error(() => parseArgs(['--sip-port'], {})).message, /--sip-port: needs a value/);
  assert.match(error(() => parseArgs([], { CONFBOX_HTTPS_PORT: '0' })).message, /CONFBOX_HTTPS_PORT: "0" is not a port number/);
  assert.match(error(() => parseArgs(['--sip-tls-port', 'tls'], {})).message, /--sip-tls-port: "tls" is not a port number/);
});

test('two services on one port are refused, naming both options', () => {
  assert.match(error(() => parseArgs(['--https-port', '8080'], {})).message, /--http-port: port 8080 is also --https-port/);
  assert.match(error(() => parseArgs(['--sip-tls-port', '5060'], {})).message, /--sip-tls-port: port 5060 is also --sip-port/);
  assert.is(parseArgs([], { CONFBOX_HTTPS_PORT: '9443', CONFBOX_SIP_TLS_PORT: '5071' }).config.httpsPort, 9443);
});

test('subcommand words and its own options are passed through', () => {
  const { positional, extra } = parseArgs(['room', 'add', '2', '--pin', '5678', '--json'], {}, allCommandOptions());
  assert.equal(positional, ['room', 'add', '2']);
  assert.is(extra.get('pin'), '5678');
  assert.is(extra.get('json'), true);
});

test('the command line is read strictly: an unknown option, a missing value or a value given to a flag is named', () => {
  assert.match(error(() => parseArgs(['room', 'add', '2', '--pni', '5678'], {}, allCommandOptions())).message, /^--pni: is not an option of confbox; see confbox --help$/);
  assert.match(error(() => parseArgs(['--sip-prot', '5080'], {})).message, /^--sip-prot: is not an option of confbox/);
  assert.match(error(() => parseArgs(['room', 'add', '2', '--pin'], {}, allCommandOptions())).message, /^--pin: needs a value$/);
  assert.match(error(() => parseArgs(['room', 'list', '--json=yes'], {}, allCommandOptions())).message, /^--json: takes no value$/);
  assert.match(error(() => parseArgs(['room', 'add', '2', '--pin', '-5'], {}, allCommandOptions())).message, /^--pin: needs a value; one that starts with "-" is given as --pin=VALUE$/);
});

test('yes/no options may be bare, an empty value and "-" are values, and "--" ends the options', () => {
  const read = (...argv: string[]) => parseArgs(argv, {}, allCommandOptions());
  assert.is(read('room', 'add', '2', '--keep').extra.get('keep'), 'yes');
  const both = read('room', 'add', '2', '--keep', '--record', 'no', '--pin', '1234');
  assert.equal([both.extra.get('keep'), both.extra.get('record'), both.extra.get('pin')], ['yes', 'no', '1234']);
  assert.is(read('room', 'edit', '2', '--keep', 'no').extra.get('keep'), 'no');
  assert.is(read('room', 'edit', '2', '--moderator-pin', '').extra.get('moderator-pin'), '');
  assert.is(read('backup', 'b.json', '--passphrase', '-').extra.get('passphrase'), '-');
  assert.is(read('peer', 'add', '192.0.2.5', '--outbound').extra.get('outbound'), 'yes');
  assert.equal(read('room', 'delete', '--', '--7').positional, ['room', 'delete', '--7']);
});

test('every technician command declares its options', () => {
  assert.equal(Object.keys(COMMAND_OPTIONS).sort(), commandNames().sort());
});

test.run();
