#!/bin/sh
# Builds and runs the media engine's C tests.
#   ./build.sh          normal build (-O2), run every test
#   ./build.sh asan     AddressSanitizer + UndefinedBehaviorSanitizer build, run every test
#   ./build.sh tsan     ThreadSanitizer build with clang (the media threads and the host's calls), run every test
#   ./build.sh cross    compile only, with $CC (default aarch64-linux-gnu-gcc) if it exists
#   ./build.sh arm64    cross-compile with $CC (default aarch64-linux-gnu-gcc), run every test under qemu-aarch64,
#                       with Debian's arm64 libasound2 and libsrtp2-1 (scripts/image/arm64-libs.ts fetches them)
#   ./build.sh format   check the sources against .clang-format (if clang-format is installed)
# Environment: CC (compiler), CONFORMANCE (the janus fuzzer corpora directory), CONFBOX_PROMPTS (the generated
# prompts, for the DTMF talk-off test; default dist/prompts), CONFBOX_ARM64_LIBS (a directory of
# arm64 libasound.so.2 and libsrtp2.so.1 for the arm64 tests, instead of the cached Debian packages).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
mode=${1:-normal}
corpus=${CONFORMANCE:-$root/../shared/conformance/sdp-rtp/janus-fuzzer-corpora}
prompts=${CONFBOX_PROMPTS:-$root/dist/prompts}

flags="-std=c11 -Wall -Wextra -Werror -O2 -pthread"
case "$mode" in
normal) cc=${CC:-cc} ;;
asan)
    cc=${CC:-cc}
    flags="$flags -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DFIXED_DEBUG"
    ;;
tsan)
    cc=${CC:-clang}
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "$cc is not installed: run scripts/setup-host.sh as root" >&2
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    flags="$flags -g -fsanitize=thread -fno-omit-frame-pointer -O1"
    export TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}"
    ;;
cross)
    cc=${CC:-aarch64-linux-gnu-gcc}
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "skip: $cc not installed"
        exit 0
    fi
    ;;
arm64)
    cc=${CC:-aarch64-linux-gnu-gcc}
    qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
    if ! command -v "$cc" >/dev/null 2>&1 || [ -z "$qemu" ]; then
        echo "arm64 tests need $cc and qemu-aarch64-static: run scripts/setup-host.sh as root" >&2
        exit 1
    fi
    # One arm64 C library: Debian's multiarch one when installed (mixing it with the cross toolchain's
    # sysroot makes programs hang), otherwise the cross toolchain's sysroot.
    if [ -n "${QEMU_LD_PREFIX:-}" ]; then
        prefix=$QEMU_LD_PREFIX
    elif [ -e /lib/ld-linux-aarch64.so.1 ]; then
        prefix=/
    else
        prefix=/usr/aarch64-linux-gnu
    fi
    ;;
format)
    if ! command -v clang-format >/dev/null 2>&1; then
        echo "clang-format is not installed: run scripts/setup-host.sh as root" >&2
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    if clang-format --dry-run -Werror "$here"/src/*.[ch] "$here"/test/*.[ch] "$here"/binding/*.c "$here"/fuzz/*.[ch] "$here"/bench/*.c; then
        echo "1 passed, 0 failed, 0 skipped"
        echo "# formatting ok"
        exit 0
    fi
    echo "0 passed, 1 failed, 0 skipped"
    echo "# not formatted as .clang-format says: clang-format -i firmware/media/native/{src,test,fuzz}/*.[ch] firmware/media/native/{binding,bench}/*.c" >&2
    exit 1
    ;;
*)
    echo "usage: $0 [normal|asan|tsan|cross|arm64|format]" >&2
    exit 2
    ;;
esac

out="$here/build/$mode"
mkdir -p "$out"
objs=""
for src in "$here"/src/*.c; do
    obj="$out/$(basename "$src" .c).o"
    # shellcheck disable=SC2086
    $cc $flags -c "$src" -o "$obj"
    objs="$objs $obj"
done
ar rcs "$out/libconfbox_media.a" $objs

tests=""
for t in "$here"/test/test_*.c; do
    name=$(basename "$t" .c)
    # A test that needs a library of this machine only says so on a line of its own: /* host only: why */
    if [ "$mode" = arm64 ] || [ "$mode" = cross ]; then
        grep -q '^/\* host only' "$t" && continue
    fi
    # A test may ask for linker options on a line of its own: /* link: OPTIONS */ (given before the engine's
    # library, so that a library of the same names is found first)
    link=$(sed -n 's|^/\* link: \(.*\) \*/$|\1|p' "$t")
    # shellcheck disable=SC2086
    $cc $flags "$t" $link "$out/libconfbox_media.a" -lm -ldl -o "$out/$name"
    tests="$tests $name"
done
[ "$mode" = cross ] && { echo "cross-compiled with $cc into $out"; exit 0; }

run=""
if [ "$mode" = arm64 ]; then
    # The engine loads libasound.so.2 and libsrtp2.so.1 at run time: the arm64 ones, from Debian's packages.
    libs=${CONFBOX_ARM64_LIBS:-$(cd "$root" && node --import tsx scripts/image/arm64-libs.ts || true)}
    run="$qemu -L $prefix${libs:+ -E LD_LIBRARY_PATH=$libs}"
fi
# ThreadSanitizer's shadow memory does not fit beside a randomised layout of 28 bits or more
[ "$mode" = tsan ] && run="setarch $(uname -m) -R"
failed=0
for name in $tests; do
    echo "# $name"
    if [ "$name" = test_rtp ]; then
        $run "$out/$name" "$corpus" || failed=$((failed + 1))
    elif [ "$name" = test_dtmf_detect ]; then
        $run "$out/$name" "$prompts" || failed=$((failed + 1))
    else
        $run "$out/$name" || failed=$((failed + 1))
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "# $failed test program(s) failed ($mode)"
    exit 1
fi
echo "# all test programs passed ($mode)"
