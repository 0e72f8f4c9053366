// The digest's unit tests alone (and those of its callers' records): what `npm run mutate -- firmware/sip/digest.ts`
// runs against every mutant.
import '../unit/auth-records.test.ts';
import '../unit/digest.test.ts';
import '../unit/digest-rules.test.ts';
import '../unit/sip-auth.test.ts';
