# Two commands, each sets itself up on a fresh clone:
#   make run    the main job on its built-in default
#   make test   lint and the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/skclipens evaluate --perturb

test: $(STAMP)
	$(VENV)/bin/ruff check skclipens tests benchmarks conftest.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python benchmarks/bench_controller.py
	HF_HUB_OFFLINE=1 $(VENV)/bin/python benchmarks/bench_clip_features.py
