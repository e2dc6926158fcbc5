"""Runs every fuzz target for a bounded time, then replays its corpus on the sanitized C core.

Usage: python fuzz/run.py [--seconds S] [--rss-limit-mb M] [--no-sanitize] [TARGET ...]

For each target (pnet, native, checkpoint, onnx, image, predictor; one at a time) it writes
fresh seeds into build/fuzz/seeds/<target>/ (fuzz/seeds.py), then runs fuzz/fuzz_<target>.py on
build/fuzz/corpus/<target>/ (kept between runs, so longer runs build on shorter ones) and the
seeds for S seconds, with libFuzzer's -rss_limit_mb (out of memory is a finding) and -timeout
(a hang is a finding).

The fuzzing itself uses the in-place core: gcc's AddressSanitizer runtime, once preloaded,
takes over the coverage hooks atheris needs, and the mutations would go blind. So the corpus
the run built (every input that reached new code) is then replayed once on the AddressSanitizer
+ UBSan build of tools/sanitize.py, where an out-of-bounds access in C aborts (--no-sanitize
skips that). The native target, whose business is the C core itself, fuzzes on the sanitized
build throughout: blind to coverage, but its mutator knows the header's structure. Logs go to build/fuzz/logs/<target>.log (and <target>.asan.log) and
findings to build/fuzz/crashes/<target>-*; minimize one with
``python fuzz/fuzz_<target>.py -minimize_crash=1 -runs=20000 CRASH`` and keep it in
tests/hostile/<target>/ as a regression input (tests/test_hostile.py replays them).

Prints the executions per target and exits non-zero if any target found something.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = ROOT / "build" / "fuzz"
TARGETS = ("pnet", "native", "checkpoint", "onnx", "image", "predictor")
ON_SANITIZED = {"native"}   # fuzzed on the sanitized core, not only replayed there


def sanitized_environment():
    sys.path.insert(0, str(ROOT / "tools"))
    import sanitize

    sanitize.make_tree(sanitize.build_core())
    env = sanitize.environment()
    # libFuzzer's own limits decide about memory; the allocator must return NULL, not abort, so
    # that the core's out-of-memory path is what a huge request meets.
    env["ASAN_OPTIONS"] = ("detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=64:"
                           "malloc_context_size=20")
    sanitize.check_core_is_sanitized(env)
    return env


def replay(name, env):
    """Runs the target once on every input of its corpus and seeds, on the sanitized core."""
    log_path = BUILD / "logs" / f"{name}.asan.log"
    command = [sys.executable, str(HERE / f"fuzz_{name}.py"), "-runs=0", "-timeout=60",
               f"-artifact_prefix={BUILD / 'crashes'}/{name}-asan-", str(BUILD / "corpus" / name),
               str(BUILD / "seeds" / name)]
    with open(log_path, "w") as log:
        done = subprocess.run(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return done.returncode, log_path


def run_target(name, seconds, rss_limit_mb, env):
    seeds, corpus = BUILD / "seeds" / name, BUILD / "corpus" / name
    logs, crashes = BUILD / "logs", BUILD / "crashes"
    for folder in (corpus, logs, crashes):
        folder.mkdir(parents=True, exist_ok=True)
    before = set(crashes.glob(f"{name}-*"))
    command = [sys.executable, str(HERE / f"fuzz_{name}.py"), f"-max_total_time={seconds}",
               f"-rss_limit_mb={rss_limit_mb}", "-timeout=30", "-max_len=262144",
               f"-artifact_prefix={crashes}/{name}-", "-print_final_stats=1", str(corpus),
               str(seeds)]
    log_path = logs / f"{name}.log"
    start = time.monotonic()
    with open(log_path, "w") as log:
        done = subprocess.run(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - start
    text = log_path.read_text(errors="replace")
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    found = sorted(set(crashes.glob(f"{name}-*")) - before)
    return {"target": name, "exit": done.returncode, "executions": int(runs[-1]) if runs else 0,
            "seconds": round(elapsed), "corpus": len(list(corpus.iterdir())),
            "findings": [str(p.relative_to(ROOT)) for p in found], "log": str(log_path)}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 45)))
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--no-sanitize", action="store_true",
                        help="use the in-place core (faster, but C memory errors go unseen)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    import seeds

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    asan_env = None if args.no_sanitize else sanitized_environment()
    print("fuzz: seeds", seeds.write(BUILD / "seeds", args.targets), flush=True)
    failed = False
    for name in args.targets:
        before = set((BUILD / "crashes").glob(f"{name}-*"))
        on_asan = name in ON_SANITIZED and asan_env is not None
        result = run_target(name, args.seconds, args.rss_limit_mb, asan_env if on_asan else env)
        ok = result["exit"] == 0 and not result["findings"]
        replayed = "not replayed on the sanitized core"
        if asan_env is not None:
            code, log_path = replay(name, asan_env)
            ok &= code == 0
            replayed = (f"corpus replayed on the sanitized core: "
                        f"{'clean' if code == 0 else f'FAILED (exit {code}, log {log_path})'}")
        failed |= not ok
        print(f"fuzz: {name:10s} {'ok' if ok else 'FAILED':6s} {result['executions']:>9,} "
              f"executions in {result['seconds']} s, corpus {result['corpus']}, "
              f"exit {result['exit']}, log {result['log']}; {replayed}", flush=True)
        for finding in sorted(set((BUILD / "crashes").glob(f"{name}-*")) - before):
            print(f"fuzz:   finding {finding.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
