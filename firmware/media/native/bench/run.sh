#!/bin/sh
# Builds the media engine's benchmark programs (-O3, like the engine) and runs the mixer one.
#   ./run.sh                  build, then bench_mixer (rooms of 3 and 32, everybody talking)
#   ./run.sh mixer 3 32:3     build, then bench_mixer with these rooms (members[:talkers])
#   ./run.sh srtp             build, then bench_srtp (SRTP protect/unprotect per packet, each suite)
#   ./run.sh build            build only (test/bench/media.bench.ts runs the programs itself)
# Output: ../build/bench/{bench_mixer,rtp_load,bench_srtp}. Environment: CC (compiler).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../src"
out="$here/../build/bench"
cc=${CC:-cc}
flags="-std=c11 -Wall -Wextra -Werror -O3 -pthread -I$src"
mkdir -p "$out"
# shellcheck disable=SC2086
$cc $flags "$here/bench_mixer.c" "$src/mixer.c" "$src/talk_detect.c" "$src/dtmf_detect.c" -o "$out/bench_mixer"
# shellcheck disable=SC2086
$cc $flags "$here/rtp_load.c" "$src/g711.c" -lm -o "$out/rtp_load"
# shellcheck disable=SC2086
$cc $flags "$here/bench_srtp.c" "$src/srtp.c" -ldl -o "$out/bench_srtp"
case "${1:-mixer}" in
build) echo "$out" ;;
mixer)
    [ $# -gt 0 ] && shift
    exec "$out/bench_mixer" "$@"
    ;;
srtp) exec "$out/bench_srtp" ;;
*)
    echo "usage: $0 [build | srtp | mixer [members[:talkers]]...]" >&2
    exit 2
    ;;
esac
