// The unit tests of the rules, the digest and the SDP module in one process: what `npm run mutate` runs against every
// mutant (one Node start-up a mutant instead of one a file). Each file runs its suites as it is imported; a failure
// sets a non-zero exit code, which tells Stryker the mutant was killed.
import './conference-tests.ts';
import './digest-tests.ts';
import './sdp-tests.ts';
