#!/usr/bin/env bash
# make cross-python: the Python test suite's core subset under an arm64
# Python in qemu-user (docs: /work/shared/DATA.md, "ARM without ARM hardware").
#
# 1. A minimal arm64 Debian with python3, numpy, cffi, Pillow, msgpack, pytest
#    and the Python headers: `debootstrap --foreign` resolves and downloads the
#    packages (its resolver misses a few dependencies, e.g. python3-ply of
#    pycparser, so they are listed too), `dpkg-deb -x` unpacks them all (nothing runs in the target, so
#    no chroot and no binfmt are needed).  Cached in build/arm64-root; a re-run
#    only rebuilds when the suite or the package list changes.
# 2. The cffi C source of predict._core is emitted by the arm64 cffi itself
#    (under qemu, so it matches the arm64 _cffi_backend's version), then the
#    module is compiled on the host with the cross compiler against the arm64
#    Python headers, with the same flags as native/build_ffi.py.
# 3. The tests run under qemu-aarch64 on a copy of the package, on a CPU with
#    the dot product (-cpu max: family neondot) and on one without it
#    (-cpu cortex-a53: family neon), so both dispatch outcomes run end to end.
#
# DEBIAN_MIRROR and DEBIAN_SUITE override the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cross_tools.sh
require_tools aarch64-linux-gnu-gcc qemu-aarch64 debootstrap dpkg-deb

SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-dev,python3-numpy,python3-cffi,python3-cffi-backend,python3-ply,python3-pil,python3-msgpack,python3-pytest
ROOT="$PWD/build/arm64-root"
OUT=build/cross-python
STAMP="$SUITE $PACKAGES"

if [ ! -f "$ROOT/.ready" ] || [ "$(cat "$ROOT/.ready")" != "$STAMP" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "cross-python: debootstrap needs root to build $ROOT (once; it is cached)." >&2
        exit 1
    fi
    echo "cross-python: building $ROOT from $MIRROR ($SUITE, arm64)"
    rm -rf "$ROOT.tmp"
    if ! debootstrap --foreign --arch=arm64 --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$ROOT.tmp" "$MIRROR" >"$OUT.debootstrap.log" 2>&1; then
        tail -5 "$OUT.debootstrap.log" >&2
        echo "cross-python: debootstrap failed; can this machine reach $MIRROR? (DEBIAN_MIRROR=... to use another)" >&2
        exit 1
    fi
    for deb in "$ROOT.tmp"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$ROOT.tmp"
    done
    rm -f "$ROOT.tmp"/var/cache/apt/archives/*.deb
    # numpy links libblas.so.3 / liblapack.so.3, which Debian provides through
    # update-alternatives when a package is configured; nothing is configured here.
    ln -sf blas/libblas.so.3 "$ROOT.tmp/usr/lib/aarch64-linux-gnu/libblas.so.3"
    ln -sf lapack/liblapack.so.3 "$ROOT.tmp/usr/lib/aarch64-linux-gnu/liblapack.so.3"
    echo "$STAMP" >"$ROOT.tmp/.ready"
    rm -rf "$ROOT"
    mv "$ROOT.tmp" "$ROOT"
fi

PY=$(cd "$ROOT/usr/bin" && ls python3.[0-9]* | grep -E '^python3\.[0-9]+$' | head -1)
PYINC="$ROOT/usr/include/$PY"
# QEMU_LD_PREFIX / QEMU_CPU also reach a child process, were binfmt_misc there.
export QEMU_LD_PREFIX="$ROOT"
SUFFIX=$(qemu-aarch64 "$ROOT/usr/bin/$PY" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")

# A copy of the package and its tests, with the arm64 extension in it.
TREE="$OUT/tree"
rm -rf "$TREE"
mkdir -p "$TREE"
cp -r predict converters tests native pyproject.toml "$TREE"/
find "$TREE" \( -name '*.so' -o -name '__pycache__' -o -name '_core.c' \) -prune -exec rm -rf {} +

echo "cross-python: emitting the cffi module source with the arm64 cffi"
(cd "$TREE" && QEMU_CPU=cortex-a53 qemu-aarch64 "$ROOT/usr/bin/$PY" -c \
    "import sys; sys.path.insert(0, 'native'); from build_ffi import ffibuilder; ffibuilder.emit_c_code('_core.c')")
mapfile -t SOURCES < <(find native/src -name '*.c' | sort)
echo "cross-python: compiling predict/_core$SUFFIX for aarch64"
aarch64-linux-gnu-gcc -shared -fPIC -std=c11 -O2 -Wall -Wextra -fvisibility=hidden \
    -Inative/include -Inative/src -I"$PYINC" -idirafter "$ROOT/usr/include" \
    "$TREE/_core.c" "${SOURCES[@]}" -lm -o "$TREE/predict/_core$SUFFIX"

# The C core's tests, the per-family kernel tests, and the layers above them
# that need no converter (no onnx on this Python); the int8 kernels of every
# family against the numpy twin (converters.quantize, numpy only, builds them).
TESTS=(tests/test_native_*.py tests/test_network.py tests/test_format.py tests/test_graph.py tests/test_image.py
       tests/test_resample.py tests/test_pillow_memory.py
       tests/test_quant_exact.py tests/test_checksum.py)
for extra in tests/test_isa_*.py; do
    [ -e "$extra" ] && TESTS+=("$extra")
done
# qemu-user (7.2 here, 8.0 too) aborts when a guest that has started threads
# forks ("cpu_exec: assertion failed: (cpu == current_cpu)"): a qemu
# limitation, not ours; the fork-safety of the thread pool is tested natively.
DESELECT=(--deselect tests/test_native_threads.py::test_a_forked_child_runs_the_net)
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # It runs sys.executable in a child: an arm64 binary the kernel cannot
    # start without binfmt_misc (absent in most containers).
    DESELECT+=(--deselect tests/test_network.py::test_package_surface
               --deselect tests/test_checksum.py::test_loading_and_classifying_never_loads_hashlib_or_openssl
               --deselect tests/test_image.py::test_a_jpeg_only_process_loads_no_other_decoder)
fi
status=0
for cpu in max cortex-a53; do
    echo "== qemu-aarch64 -cpu $cpu: $PY -m pytest ${TESTS[*]}"
    (cd "$TREE" && QEMU_CPU=$cpu qemu-aarch64 "$ROOT/usr/bin/$PY" -c \
        "from predict import _native as n; print('kernel family', n.isa(), '| cpu', n.cpu_features(), '| runnable', n.runnable_isas())") || status=1
    (cd "$TREE" && QEMU_CPU=$cpu qemu-aarch64 "$ROOT/usr/bin/$PY" -m pytest -q -p no:cacheprovider \
        "${DESELECT[@]}" "${TESTS[@]}") || status=1
done
if [ $status -ne 0 ]; then
    echo "cross-python: FAILED" >&2
    exit 1
fi
echo "cross-python: the core Python tests pass on arm64 (qemu -cpu max and cortex-a53)"
