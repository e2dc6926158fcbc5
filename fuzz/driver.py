"""The atheris side of every fuzz target: coverage instrumentation and libFuzzer's loop.

``fuzz/fuzz_<name>.py`` calls ``main("<name>")``; the command line is libFuzzer's (corpus
directories, ``-max_total_time=``, ``-rss_limit_mb=``, ``-timeout=`` ...). The modules the
target names in ``targets.TARGETS`` are imported under ``atheris.instrument_imports`` so their
branches guide the mutations; the C core's memory errors are caught by running against the
sanitized build (``fuzz/run.py`` does). An input that makes the target raise anything but a
``PredictError`` is a crash: libFuzzer saves it as ``<artifact_prefix>crash-<sha1>``.

    $ python fuzz/fuzz_pnet.py -max_total_time=30 build/fuzz/corpus/pnet   # doctest: +SKIP
"""
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main(name):
    import atheris

    for path in (ROOT, HERE):
        if path not in sys.path:
            sys.path.insert(0, path)
    # Which modules to instrument is targets.TARGETS' business, but importing targets imports
    # predict; so it is imported under a first, wide instrumentation whose list is the union
    # of every target's, and only then are this target's modules imported.
    with atheris.instrument_imports(include=["predict", "converters", "PIL"]):
        import targets

        _, modules = targets.TARGETS[name]
        for module in modules:
            importlib.import_module(module)
    if "PIL.Image" in modules:
        from PIL import Image

        Image.init()

    def test_one_input(data):
        targets.check(name, data)

    mutator = None
    if name in ("pnet", "native"):
        import pnet_mutator

        mutator = pnet_mutator.mutate
    atheris.Setup(sys.argv, test_one_input, custom_mutator=mutator)
    atheris.Fuzz()
