// The unit tests of the rules, the digest and the SDP module in one process: what `npm run mutate` runs against every
// mutant (one Node start-up a mutant instead of one a file). Each file runs its suites as it is imported; a failure
// sets a non-zero exit code, which tells Stryker the mutant was killed.
import '../unit/conference.test.ts';
import '../unit/feature-code.test.ts';
import '../unit/settings.test.ts';
import '../unit/lockout.test.ts';
import '../unit/validate.test.ts';
import '../unit/conference-edges.test.ts';
import '../unit/auth-records.test.ts';
import '../unit/digest.test.ts';
import '../unit/digest-rules.test.ts';
import '../unit/sip-auth.test.ts';
import '../unit/sdp.test.ts';
import '../unit/sdp-offer.test.ts';
import '../unit/sdp-limits.test.ts';
