"""cffi builder of predict._core, the compiled C core (out-of-line API mode).

setup.py names it as ``native/build_ffi.py:ffibuilder``; it can also be run alone::

    $ python native/build_ffi.py          # builds predict/_core*.so under build/

The cdef is predict.h verbatim, so the header stays the one description of the
boundary.  Every path is resolved from this file, so the build works from any
working directory.  No -march: instruction-set kernels carry their own
``#pragma GCC target`` so one build runs on every CPU of its architecture.
``PREDICT_CFLAGS`` (e.g. "-fsanitize=address,undefined -g") is appended to
both the compile and the link flags, which is how ``make sanitize`` builds.
"""

import os
import pathlib
import shlex
import sys

from cffi import FFI

NATIVE = pathlib.Path(__file__).resolve().parent
INCLUDE = NATIVE / "include"
SRC = NATIVE / "src"
HEADER = INCLUDE / "predict.h"


def _sources():
    """Every C file of the core, in a stable order (the build is reproducible)."""
    return sorted(str(p) for p in SRC.rglob("*.c"))


def _flags():
    """Compile flags: strict C11 with warnings, plus whatever PREDICT_CFLAGS adds."""
    extra = shlex.split(os.environ.get("PREDICT_CFLAGS", ""))
    if sys.platform == "win32":
        return ["/O2"] + extra, extra
    # Hidden visibility: cffi calls the core from inside the same shared object,
    # so only the module's init function needs to be exported.
    base = ["-std=c11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"]
    return base + extra, extra


_compile_args, _link_args = _flags()

ffibuilder = FFI()
ffibuilder.cdef(HEADER.read_text(encoding="utf-8"))
ffibuilder.set_source(
    "predict._core",
    '#include <stdint.h>\n#include <stddef.h>\n#include "predict.h"\n',
    sources=_sources(),
    include_dirs=[str(INCLUDE), str(SRC)],
    extra_compile_args=_compile_args,
    extra_link_args=_link_args,
    libraries=[] if sys.platform == "win32" else ["m", "pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(NATIVE.parent / "build"), verbose=True)
