"""Run the test suite against a build of the C core with AddressSanitizer and UBSan.

Usage: python tools/sanitize.py [pytest arguments...]

The in-place build (predict/_core*.so) is left alone: the sanitized core is
compiled into build/sanitize/obj/, and build/sanitize/tree/ is a mirror of the
repository whose ``predict/`` holds symlinks to the real Python files beside
the sanitized ``_core``.  Tests run from that mirror, so every ``import
predict._core`` (the tests' subprocesses too) loads the sanitized core while
every line of Python is the repository's own.

Python itself is not instrumented, so the sanitizer runtimes are preloaded
(LD_PRELOAD) and leak detection is off (the interpreter keeps memory until
exit on purpose; ``make valgrind`` checks our leaks).  UBSan stops at the
first report (-fno-sanitize-recover) and asserts stay on (-UNDEBUG).

Example::

    $ python tools/sanitize.py -q                     # the whole default suite
    $ python tools/sanitize.py -q tests/test_hostile.py
"""
import os
import pathlib
import runpy
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "sanitize"
TREE = OUT / "tree"
CFLAGS = ("-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined "
          "-UNDEBUG -g -O1")
# Which directories and files of the repository the tests need, besides predict/.
LINKED = ("converters", "tests", "tools", "native", "docs", "fuzz", "pyproject.toml", "Makefile",
          "setup.py", "README.md")
ASAN_OPTIONS = ("detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:"
                "detect_stack_use_after_return=1:check_initialization_order=1")
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"


def runtime_libraries(cc="gcc"):
    """The sanitizer runtimes to preload, as the compiler names them."""
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        found = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True,
                               check=True).stdout.strip()
        if not os.path.isabs(found):
            sys.exit(f"sanitize: {cc} has no {name}; install the compiler's sanitizer runtime")
        libs.append(os.path.realpath(found))
    return libs


def build_core():
    """Compiles predict._core with the sanitizers into build/sanitize/obj; returns the .so."""
    obj = OUT / "obj"
    obj.mkdir(parents=True, exist_ok=True)
    os.environ["PREDICT_CFLAGS"] = CFLAGS
    builder = runpy.run_path(str(ROOT / "native" / "build_ffi.py"))["ffibuilder"]
    return pathlib.Path(builder.compile(tmpdir=str(obj), verbose=False))


def make_tree(core):
    """build/sanitize/tree: the repository by symlinks, with the sanitized core in predict/."""
    if TREE.exists():
        shutil.rmtree(TREE)
    package = TREE / "predict"
    package.mkdir(parents=True)
    for source in (ROOT / "predict").iterdir():
        # Subpackages (predict/batch) hold no compiled code: linked whole.
        if source.suffix == ".py" or (source / "__init__.py").is_file():
            (package / source.name).symlink_to(source)
    shutil.copy2(core, package / core.name)
    for name in LINKED:
        if (ROOT / name).exists():
            (TREE / name).symlink_to(ROOT / name)
    return TREE


def environment():
    env = dict(os.environ)
    env.pop("PREDICT_CFLAGS", None)
    env["LD_PRELOAD"] = " ".join(runtime_libraries() + [env.get("LD_PRELOAD", "")]).strip()
    env["ASAN_OPTIONS"] = ASAN_OPTIONS
    env["UBSAN_OPTIONS"] = UBSAN_OPTIONS
    env["PYTHONPATH"] = str(TREE)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PREDICT_SANITIZED"] = "1"      # memory-figure tests skip: ASan's quarantine inflates RSS
    return env


def check_core_is_sanitized(env):
    """Fails loudly if the mirror would import an uninstrumented core."""
    code = ("import predict._core as c, sys; f = c.__file__; "
            "data = open(f, 'rb').read(); "
            "sys.exit(0 if b'__asan_' in data and b'__ubsan_' in data and "
            f"f.startswith({str(TREE)!r}) else 'not sanitized: ' + f)")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=TREE, check=True)


def main(argv):
    core = build_core()
    make_tree(core)
    env = environment()
    check_core_is_sanitized(env)
    print(f"sanitize: {core.name} built with {CFLAGS}", flush=True)
    print(f"sanitize: LD_PRELOAD={env['LD_PRELOAD']} ASAN_OPTIONS={ASAN_OPTIONS}", flush=True)
    args = argv or ["-q"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          env=env, cwd=TREE)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
