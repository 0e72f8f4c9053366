// The SDP module's unit tests alone: what `npm run mutate -- firmware/sip/sdp.ts` runs against every mutant.
import '../unit/sdp.test.ts';
import '../unit/sdp-offer.test.ts';
import '../unit/sdp-limits.test.ts';
import '../unit/sdp-details.test.ts';
