"""`make demo`, the README's first command, classifies the sample photos correctly."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_prints_top5_for_every_sample_photo():
    venv = pathlib.Path(sys.prefix)
    # Run inside the environment that runs the tests, so the demo reuses it.
    env = dict(os.environ, VENV=str(venv))
    # -o: take the environment and the native build as they are; the test
    # must not reinstall the environment it runs in.
    done = subprocess.run(
        ["make", "-s", "-o", f"{venv}/.installed", "-o", f"{venv}/.native", "demo", f"VENV={venv}"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    blocks = {}
    current = None
    for line in done.stdout.splitlines():
        if line.endswith(".jpg"):
            current = pathlib.Path(line.strip()).name
            blocks[current] = []
        elif current and line.strip():
            blocks[current].append(line)
    assert {"chelsea.jpg", "coffee.jpg", "astronaut.jpg"} <= set(blocks)
    for lines in blocks.values():
        assert len(lines) == 5, lines
    assert re.search(r"\bespresso\b", blocks["coffee.jpg"][0])
    assert re.search(r"\bcat\b", blocks["chelsea.jpg"][0])
