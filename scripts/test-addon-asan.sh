#!/bin/sh
# The media engine addon (its C core and its N-API binding) built with AddressSanitizer and UndefinedBehaviorSanitizer,
# and test/unit/native-engine.test.ts run against it: the sanitizers' runtimes are preloaded into node (which is not
# instrumented itself), leak checking is off (node keeps what it allocates until exit), and the first report fails
# the run. scripts/test.mjs runs it as one of the test files.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/firmware/media/native/build/asan-addon"
node_bin=$(readlink -f "$(command -v node)")
include=""
for dir in "$(dirname "$node_bin")/../include/node" "${HOME:-/root}/.cache/node-gyp/$(node -p process.versions.node)/include/node"; do
    if [ -f "$dir/node_api.h" ]; then
        include=$dir
        break
    fi
done
if [ -z "$include" ]; then
    echo "node's headers (node_api.h) were not found beside $node_bin or in node-gyp's cache" >&2
    exit 1
fi
cc=${CC:-cc}
mkdir -p "$out"
# shellcheck disable=SC2086
$cc -std=c11 -O1 -g -fPIC -shared -pthread -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -DNAPI_VERSION=8 -I"$include" \
    firmware/media/native/src/*.c firmware/media/native/binding/*.c -lm -ldl -o "$out/confbox_engine.node"
LD_PRELOAD="$($cc -print-file-name=libasan.so):$($cc -print-file-name=libubsan.so)" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    CONFBOX_TEST_ADDON="$out/confbox_engine.node" exec node --import tsx test/unit/native-engine.test.ts
