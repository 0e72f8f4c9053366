// Test files that need tools a machine may lack (Chromium, SIPp, Kamailio).
import { test } from 'uvu';

type Test = typeof test;

/**
 * The tests of a file that needs what may be missing here: uvu's `test` when `missing` is null; otherwise a `t` that
 * registers nothing, and the file's `count` tests declared skipped with the reason ("confbox-skipped: N reason", which
 * scripts/test.mjs counts), so that each is counted once.
 */
export function testsNeeding(count: number, missing: string | null): { enabled: boolean; t: Test } {
  if (missing === null) return { enabled: true, t: test };
  console.log(`confbox-skipped: ${count} ${missing}`);
  const nothing = ((_name: string, _fn: unknown) => undefined) as unknown as Test;
  return { enabled: false, t: nothing };
}
