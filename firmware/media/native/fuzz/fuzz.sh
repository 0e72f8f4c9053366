#!/bin/sh
# Coverage-guided fuzzing of the media engine's parsers and decoders: libFuzzer through clang, with
# AddressSanitizer and UndefinedBehaviorSanitizer.
#   ./fuzz.sh SECONDS [--merge] [TARGET...]
# Each target (default: all) first replays its regression inputs (regressions/TARGET/: inputs that
# once broke it), then fuzzes for SECONDS, starting from its corpus (corpus/TARGET/, and for rtp and
# rtcp the third-party Janus corpora in ../shared/conformance) in a working copy under build/fuzz/.
# --merge adds the inputs that reached new code to corpus/TARGET/ (minimised: libFuzzer's -merge).
# A finding (crash, failed assertion, leak, timeout, more than 64 MB for one input) is saved as
# build/fuzz/findings/TARGET-*, fails the target, and belongs in regressions/TARGET/ once fixed.
# Ends with "N passed, N failed, 0 skipped" (one per target). Environment: CC (default clang),
# CONFORMANCE (the Janus corpora directory).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
src="$here/../src"
out="$here/../build/fuzz"
janus=${CONFORMANCE:-$root/../shared/conformance/sdp-rtp/janus-fuzzer-corpora}/fuzzers/corpora
cc=${CC:-clang}
all="rtp rtcp jitter codecs srtp"

if [ "${1:-}" = --list ]; then
    echo "$all"
    exit 0
fi
seconds=${1:-}
case "$seconds" in '' | *[!0-9]*)
    echo "usage: $0 --list | SECONDS [--merge] [TARGET...]   (targets: $all)" >&2
    exit 2
    ;;
esac
shift
merge=0
if [ "${1:-}" = --merge ]; then
    merge=1
    shift
fi
targets=${*:-$all}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "$cc is not installed: run scripts/setup-host.sh as root" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

# the engine sources each target needs
sources() {
    case "$1" in
    rtp | rtcp) echo "$src/rtp.c" ;;
    jitter) echo "$src/jitter.c $src/g711.c $src/g722.c" ;;
    codecs) echo "$src/g711.c $src/g722.c" ;;
    srtp) echo "$src/srtp.c $src/rtp.c -ldl" ;;
    *) return 1 ;;
    esac
}

mkdir -p "$out/findings"
passed=0
failed=0
for t in $targets; do
    if ! files=$(sources "$t"); then
        echo "not ok - $t: no such target (targets: $all)"
        failed=$((failed + 1))
        continue
    fi
    bin="$out/fuzz_$t"
    # shellcheck disable=SC2086
    if ! $cc -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer -Wall -Wextra -Werror "$here/fuzz_$t.c" $files -o "$bin" \
        >"$out/$t.build.log" 2>&1; then
        head -n 40 "$out/$t.build.log"
        echo "not ok - $t: does not build"
        failed=$((failed + 1))
        continue
    fi
    log="$out/$t.log"
    if [ -d "$here/regressions/$t" ] && [ -n "$(ls "$here/regressions/$t")" ]; then
        if ! "$bin" -runs=1 "$here/regressions/$t"/* >"$log" 2>&1; then
            tail -n 30 "$log"
            echo "not ok - $t: a regression input fails again (regressions/$t/)"
            failed=$((failed + 1))
            continue
        fi
    fi
    work="$out/corpus/$t"
    rm -rf "$work"
    mkdir -p "$work" "$here/corpus/$t"
    seeds="$here/corpus/$t"
    case "$t" in
    rtp | rtcp) [ -d "$janus/${t}_fuzzer" ] && seeds="$seeds $janus/${t}_fuzzer" ;;
    esac
    # shellcheck disable=SC2086
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/findings/$t-" \
        "$work" $seeds >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "ok - $t: ${runs:-?} inputs in $seconds s, no finding ($cov edges)"
        passed=$((passed + 1))
    else
        tail -n 40 "$log"
        echo "not ok - $t: a finding, saved as $(ls -t "$out/findings/$t-"* 2>/dev/null | head -n 1)"
        failed=$((failed + 1))
        continue
    fi
    if [ "$merge" = 1 ]; then
        before=$(ls "$here/corpus/$t" | wc -l)
        "$bin" -merge=1 -max_len=4096 "$here/corpus/$t" "$work" >>"$log" 2>&1
        echo "# $t: corpus/$t/ $before -> $(ls "$here/corpus/$t" | wc -l) inputs"
    fi
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
