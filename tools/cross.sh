#!/usr/bin/env bash
# make cross: the C core and its kernel tests (native/tests) cross-compiled
# for aarch64 and armv7 and run under qemu-user, on CPUs with and without
# the instructions each kernel family needs:
#   aarch64  -cpu max         neon + dotprod: default family neondot
#   aarch64  -cpu cortex-a53  no dotprod: default neon; neondot forced -> SIGILL
#   armv7    -cpu cortex-a15  neon: default neon
#   armv7    -cpu cortex-r5f  no neon: default ref; neon forced -> SIGILL
# and an UndefinedBehaviorSanitizer build of the tests on both.
# The forced runs prove that the fallback rows are not vacuous: the code of
# the skipped family really holds instructions such a CPU cannot execute.
# No global -march/-mfpu: the baseline of each target is that of Debian
# (armv8-a; armv7-a + VFPv3-D16), the NEON / dotprod files carry their own
# #pragma GCC target, exactly as in the Python extension.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cross_tools.sh
require_tools aarch64-linux-gnu-gcc arm-linux-gnueabihf-gcc qemu-aarch64 qemu-arm

OUT=build/cross
mkdir -p "$OUT"
CFLAGS=(-std=c11 -O2 -Wall -Wextra -Werror -Inative/include -Inative/src)
mapfile -t SOURCES < <(find native/src native/tests -name '*.c' | sort)

aarch64-linux-gnu-gcc "${CFLAGS[@]}" "${SOURCES[@]}" -pthread -lm -o "$OUT/ctest-aarch64"
arm-linux-gnueabihf-gcc "${CFLAGS[@]}" "${SOURCES[@]}" -pthread -lm -o "$OUT/ctest-armv7"
# The same tests with UndefinedBehaviorSanitizer (AddressSanitizer's shadow
# memory does not map under qemu-user; UBSan needs none).
UBSAN=(-O1 -g -fsanitize=undefined -fno-sanitize-recover=all)
aarch64-linux-gnu-gcc "${CFLAGS[@]}" "${UBSAN[@]}" "${SOURCES[@]}" -pthread -lm -o "$OUT/ctest-aarch64-ubsan"
arm-linux-gnueabihf-gcc "${CFLAGS[@]}" "${UBSAN[@]}" "${SOURCES[@]}" -pthread -lm -o "$OUT/ctest-armv7-ubsan"

A64=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
A32=(qemu-arm -L /usr/arm-linux-gnueabihf)
status=0
run() {
    echo "== $*"
    "$@" || status=1
}
run "${A64[@]}" -cpu max "$OUT/ctest-aarch64" --expect-default neondot
run "${A64[@]}" -cpu cortex-a53 "$OUT/ctest-aarch64" --expect-default neon
run "${A64[@]}" -cpu cortex-a53 "$OUT/ctest-aarch64" --unchecked neondot
run "${A32[@]}" -cpu cortex-a15 "$OUT/ctest-armv7" --expect-default neon
run "${A32[@]}" -cpu cortex-r5f "$OUT/ctest-armv7" --expect-default ref
run "${A32[@]}" -cpu cortex-r5f "$OUT/ctest-armv7" --unchecked neon
run "${A64[@]}" -cpu max "$OUT/ctest-aarch64-ubsan"
run "${A32[@]}" -cpu cortex-a15 "$OUT/ctest-armv7-ubsan"
if [ $status -ne 0 ]; then
    echo "cross: FAILED" >&2
    exit 1
fi
echo "cross: aarch64 (max, cortex-a53) and armv7 (cortex-a15, cortex-r5f), plain and UBSan, all ok"
