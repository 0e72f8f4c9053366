import type { Logger } from './log.ts';

/** Exit code after an error that nothing handled (EX_SOFTWARE); the unit's Restart= starts the box again. */
export const FATAL_EXIT_CODE = 70;

/**
 * What the box does with an exception or rejection that nothing handled: its state is unknown (a call half
 * set up, a timer lost, a socket without a listener), so running on could leave every call broken without a
 * sign. It logs the error and exits non-zero for systemd to restart it; the embedded MariaDB is stopped by
 * its own exit hook, and a restarted box stops a server that outlived it.
 */
export function fatalHandler(log: Logger, exit: (code: number) => void = (code) => process.exit(code)): (e: unknown, origin: string) => void {
  let exiting = false;
  return (e, origin) => {
    if (exiting) return;
    exiting = true;
    log.error('unexpected error: exiting so that the box restarts in a known state', {
      origin, err: e, exitCode: FATAL_EXIT_CODE,
    });
    exit(FATAL_EXIT_CODE);
  };
}
