# sbcompile: `make demo` runs the main job, `make test` the whole suite; both set up .venv first.
# Lava (the loihi2 target) needs Python 3.10: give one with `make setup PYTHON=/path/to/python3.10`,
# else a working python3.10 on PATH is used, else the newest 3.10 under pyenv's versions folder.

SHELL := /bin/bash
VENV  := .venv
VPY   := $(VENV)/bin/python
STAMP := $(VENV)/.installed

PYTHON ?= $(shell \
  if python3.10 -c 'import sys' >/dev/null 2>&1; then command -v python3.10; \
  else root=$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv"); \
       ls -d "$$root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -n 1; fi)

.PHONY: setup test bless demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(VPY)" ]; then \
	  if [ -z "$(PYTHON)" ]; then \
	    echo "make setup: no Python 3.10 found (tried python3.10 on PATH and pyenv's versions/3.10.*)." >&2; \
	    echo "  Lava needs 3.10; install one (pyenv install 3.10) or run: make setup PYTHON=/path/to/python3.10" >&2; \
	    exit 1; fi; \
	  echo "make setup: creating $(VENV) from $(PYTHON)"; \
	  "$(PYTHON)" -m venv $(VENV); \
	fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[all]'
	@touch $(STAMP)

# pytest exits 5 when it collects nothing; that is not a failure of the code.
test: setup
	$(VPY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

# Rewrite the golden files (tests/golden/*.expected, tests/frontend/golden/*.sbir) from the current
# output; review the diff before committing. Tests never write them otherwise.
bless: setup
	$(VPY) -m pytest -q tests/test_golden.py tests/frontend/test_frontend.py -k golden --update-goldens

# The main job: compile the tiny trained SpikingBrain for Loihi 2 (mapping, schedule, energy and a
# Lava process graph), generate from a short prompt on Lava's fixed-point simulator, show the outputs.
demo: setup
	$(VENV)/bin/sbcompile examples/tiny -t loihi2 -o out/tiny
	$(VENV)/bin/sbcompile run out/tiny --text "$$(printf 'def add(a, b):\n    return')" --generate 24 --stats
	@echo "report: out/tiny/report.md   pictures: out/tiny/mesh.png, out/tiny/layers.png   IR: out/tiny/module.sbir   Lava graph: out/tiny/lava_graph.json"

bench: setup
	$(VPY) benchmarks/ir_text.py
	$(VPY) benchmarks/ref_speed.py
	$(VPY) benchmarks/k_sweep.py
	$(VPY) benchmarks/placement.py
	$(VPY) benchmarks/grounding.py
	$(VPY) benchmarks/lava_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
