// The unit tests of the rules alone (firmware/conference/): what `npm run mutate -- --rules` runs against every mutant.
import '../unit/conference.test.ts';
import '../unit/feature-code.test.ts';
import '../unit/settings.test.ts';
import '../unit/lockout.test.ts';
import '../unit/validate.test.ts';
import '../unit/conference-edges.test.ts';
