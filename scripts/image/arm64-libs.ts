// Prints the directory of Debian's arm64 libraries the media engine loads at run time (libasound2, libsrtp2-1 and
// what it links), fetched into the cache on first use; prints nothing when they cannot be had (the reason goes to
// stderr). firmware/media/native/build.sh arm64 runs the C tests under qemu-user with them.
//   node --import tsx scripts/image/arm64-libs.ts
import { arm64LibDir } from './arm64.ts';

const dir = arm64LibDir((line) => console.error(`# ${line}`));
if (dir) console.log(dir);
