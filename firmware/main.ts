import { runBox } from './box.ts';
import { VERSION } from './version.ts';
import { allCommandOptions, CLI_GROUPS, CLI_USAGE, runCli } from './cli.ts';
import { ConfigError, optionsHelp, parseArgs } from './config.ts';
import { BoxError, StoreUnavailable } from './errors.ts';
import { fatalHandler } from './fatal.ts';
import { createLogger } from './log.ts';
import { systemClock } from './clock.ts';
import { createLedDriver, ledTest, resolveBoard } from './hw/index.ts';
import { updateThroughBox } from './update/index.ts';
import { resolve } from 'node:path';


const USAGE = `confbox ${VERSION}: SIP conference box firmware

  confbox [options]            run the box
  confbox led test             light each status LED in turn (for a technician)
  confbox update FILE          install a signed update bundle through the running box (it restarts into it)
${CLI_USAGE.replace(/^/gm, '  ').replace(/^  Technician/, '\nTechnician')}

Options (each also an environment variable):
${optionsHelp()}
  --json             machine-readable output for technician commands`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv, process.env, allCommandOptions());
  } catch (e) {
    if (e instanceof ConfigError) return fail(`invalid option ${e.message}`, 2);
    throw e;
  }
  const { config, positional, extra } = parsed;
  if (extra.has('help') || positional[0] === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (extra.has('version')) {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  // Options of the technician commands belong to them alone.
  const commandOnly = (allowed: string[]) => [...extra.keys()].find((name) => !allowed.includes(name));
  if (positional[0] === 'led' || positional[0] === 'update') {
    const stray = commandOnly(['verbose']);
    if (stray) return fail(`--${stray} is not an option of "confbox ${positional[0]}"; see confbox --help`, 2);
  }
  if (positional[0] === 'led') {
    if (positional[1] !== 'test') return fail('usage: confbox led test [--board NAME]', 2);
    try {
      const board = resolveBoard(config.board ?? undefined);
      const driver = createLedDriver(board, { clock: systemClock });
      process.stdout.write(`board ${board.name}: lighting each LED for one second\n`);
      // systemClock's timers do not hold the process open; this command has nothing else to wait for.
      const held = { ...systemClock, setTimeout: (fn: () => void, ms: number) => ({ id: setTimeout(fn, ms) }) };
      await ledTest(driver, held, { onLed: (led) => process.stdout.write(`${led}\n`) });
      driver.close();
      return 0;
    } catch (e) {
      return fail(describe(e), 1);
    }
  }
  if (positional[0] === 'update') {
    if (positional.length !== 2) return fail('usage: confbox update FILE.raucb', 2);
    try {
      const done = await updateThroughBox(config.dataDir, resolve(positional[1]!), (p) => process.stdout.write(`${String(p.percent).padStart(3)}% ${p.step}\n`));
      process.stdout.write(`installed into slot ${done.slot}${done.version ? ` (version ${done.version})` : ''}; the box ends its calls and restarts${done.restartInSeconds !== null ? ` in ${done.restartInSeconds} s` : ''}\n`);
      return 0;
    } catch (e) {
      return fail(`update: ${describe(e)}`, 1);
    }
  }
  if (positional.length > 0) {
    if (!CLI_GROUPS.has(positional[0]!)) return fail(`unknown command "${positional[0]}"; see confbox --help`, 2);
    const log = createLogger(extra.has('verbose') ? 'debug' : 'warn', {}, (l) => process.stderr.write(l));
    try {
      await runCli(config, positional, extra, log, (line) => process.stdout.write(line + '\n'));
      return 0;
    } catch (e) {
      if (e instanceof BoxError) return fail(e.message, 1);
      if (e instanceof StoreUnavailable) return fail(`cannot reach the database: ${describe(e.cause)}`, 1);
      return fail(describe(e), 1);
    }
  }
  const stray = commandOnly(['verbose']);
  if (stray) return fail(`--${stray} is an option of a technician command, not of the box; see confbox --help`, 2);

  const log = createLogger(config.logLevel, { subsystem: 'box' });
  const fatal = fatalHandler(log);
  process.on('uncaughtException', (e, origin) => fatal(e, origin));
  process.on('unhandledRejection', (e) => fatal(e, 'unhandledRejection'));
  let stop: () => Promise<void>;
  try {
    stop = await runBox(config, log, VERSION);
  } catch (e) {
    return fail(`cannot start: ${describe(e)}`, 1);
  }
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      log.info('stopping', { signal: sig });
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await stop();
  log.info('stopped');
  return 0;
}

function describe(e: unknown): string {
  if (e instanceof StoreUnavailable) return `the database is unreachable (${describe(e.cause)})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

function fail(message: string, code: number): number {
  process.stderr.write(`confbox: ${message}\n`);
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`confbox: ${describe(e)}\n`);
    process.exit(1);
  },
);
