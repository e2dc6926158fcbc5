"""Memcheck on load + run + free cycles of small real models: no invalid access, no leak of ours.

Usage: python tools/valgrind_check.py [--cycles N]

Runs itself under ``valgrind --tool=memcheck`` in ``--cycle`` mode, which writes the models of
tools/small_models.py, then for each: loads it with predict.load, runs a batch of one and a full
batch, classifies and extracts features where the model has a preprocess spec, closes it; and
the same through NativeNet alone, freed by the garbage collector (ffi.gc). Then it reads
valgrind's log and fails if

- memcheck reports any error other than a leak (invalid read or write, use of uninitialised
  memory, bad free) anywhere in the process, or
- a "definitely lost" block was allocated under the C core (a stack naming ``_core`` or a
  ``pd_`` function). Python keeps some memory to its exit on purpose; those blocks are not ours
  and are listed only as a count.

Python runs with PYTHONMALLOC=malloc so every allocation goes through valgrind. The in-place
build of the core (predict/_core*.so) is the one checked: valgrind needs no special build.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
OURS = re.compile(r"_core\.|\bpd_[a-z_]+|/native/src/")


def cycle(cycles):
    """The workload run under valgrind."""
    sys.path.insert(0, str(ROOT / "tools"))
    import gc

    import numpy as np

    import predict
    import small_models
    from predict._native import NativeNet
    from predict.format import read_pnet

    rng = np.random.default_rng(0)
    photo = (rng.random((23, 17, 3)) * 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        paths = small_models.write_all(tmp)
        for _ in range(cycles):
            for path in paths:
                with predict.load(path, max_batch=4) as net:
                    x = rng.standard_normal((1,) + net.input_shape).astype(np.float32)
                    net.run(x)
                    net.run(np.repeat(x, 6, axis=0))    # two C runs: 4 + 2
                    if net.preprocess_spec is not None:
                        net.classify([photo, photo[::-1]], top=2)
                        if net.info()["features"] is not None:
                            net.features(photo)
                model = read_pnet(path)
                native = NativeNet(model.header, model.arrays, max_batch=2)
                del native                              # freed by ffi.gc, not close()
                gc.collect()
                model.close()
    print("cycle: done", flush=True)


# Objects whose own errors are the interpreter's, not ours: CPython reads a few uninitialised
# digits of its small-int cache on purpose, and the dynamic loader over-reads strings with SSE.
_FOREIGN = re.compile(r"libpython3|/bin/python3|ld-linux|/libc\.so|/libm\.so|vgpreload_")


def _frames(stack):
    return [{key: (frame.findtext(key) or "") for key in ("obj", "fn", "dir", "file")}
            for frame in stack.iter("frame")]


def _is_ours(frame):
    return bool(OURS.search(frame["obj"]) or frame["fn"].startswith("pd_") or
                "native/src" in frame["dir"])


def classify(xml_path):
    """(failures, counts) of a memcheck XML report; each failure is (kind, text, frames).

    A definite leak is a failure when a frame of its allocation stack is the C core's (but not
    the module's one-time initialisation). Any other
    error is a failure when one of its frames is the core's, or when its stack passes through
    any object besides the interpreter, libc and the loader (numpy reading past our buffer is
    ours too).
    """
    import xml.etree.ElementTree as ET

    root = ET.parse(xml_path).getroot()
    failures, counts = [], {"errors": 0, "interpreter": 0, "leaks": 0, "leaked_bytes": 0}
    for error in root.iter("error"):
        kind = error.findtext("kind") or "?"
        text = error.findtext("what") or error.findtext("xwhat/text") or ""
        stacks = [_frames(stack) for stack in error.findall("stack")]
        frames = [frame for stack in stacks for frame in stack]
        ours = any(_is_ours(frame) for frame in frames)
        if kind.startswith("Leak_"):
            counts["leaks"] += 1
            counts["leaked_bytes"] += int(error.findtext("xwhat/leakedbytes") or 0)
            # cffi's module object, made once when predict._core is imported: CPython never
            # frees an extension module, so it is lost at exit whatever the workload does.
            once = any(frame["fn"] == "PyInit__core" for frame in frames)
            if kind == "Leak_DefinitelyLost" and ours and not once:
                failures.append((kind, text, frames))
            continue
        counts["errors"] += 1
        foreign = all(_FOREIGN.search(frame["obj"]) for frame in stacks[0]) if stacks else True
        if ours or not foreign:
            failures.append((kind, text, frames))
        else:
            counts["interpreter"] += 1
    return failures, counts


def check(cycles):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind_check: valgrind is not installed (apt-get install valgrind)")
    out = ROOT / "build" / "valgrind"
    out.mkdir(parents=True, exist_ok=True)
    xml_path = out / "memcheck.xml"
    env = dict(os.environ, PYTHONMALLOC="malloc",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [valgrind, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
               "--errors-for-leak-kinds=definite", "--track-origins=yes", "--num-callers=40",
               "--xml=yes", f"--xml-file={xml_path}", sys.executable, __file__, "--cycle",
               "--cycles", str(cycles)]
    print("valgrind_check:", " ".join(command), flush=True)
    done = subprocess.run(command, env=env)
    failures, counts = classify(xml_path)
    print(f"valgrind_check: workload exit {done.returncode}; {counts['errors']} memcheck error "
          f"contexts ({counts['interpreter']} inside the interpreter or the loader, ignored); "
          f"{counts['leaks']} definitely-lost records, {counts['leaked_bytes']} bytes, none may be "
          f"the C core's; report {xml_path}")
    for kind, text, frames in failures:
        print(f"FAILURE {kind}: {text}")
        for frame in frames[:25]:
            print(f"    {frame['fn'] or '?'} ({frame['file'] or frame['obj']})")
    if done.returncode != 0 or failures:
        print(f"valgrind_check: FAILED ({len(failures)} problems)")
        return 1
    print("valgrind_check: clean")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--cycle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cycle:
        cycle(args.cycles)
        return 0
    return check(args.cycles)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
