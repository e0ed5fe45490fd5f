# Everything a fresh machine needs: `make sweep` (the main job) and `make test`.
# uv resolves torch and torchvision from PyPI as a matching pair (pip on some machines prefers a
# local CPU-only torch that PyPI's torchvision cannot import with).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUNS ?= runs
SWEEP ?= smoke-$(shell date +%Y%m%d-%H%M%S)
# Expand once: `run` and `analyze` must name the same sweep.
SWEEP := $(SWEEP)

.PHONY: setup sweep test test-quick lint clean-runs

setup: $(VENV)/.installed

# pip's own configuration picks the index (a mirror or proxy index works as it always does).
.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet uv

# Bytecode is compiled at install (pip does this, uv does not by default): every sweep starts
# many Python processes (the driver, Ray workers, trials), and where .pyc files are not written
# on import (PYTHONDONTWRITEBYTECODE, read-only installs) each of them compiled torch, Ray and
# MLflow from source again, about 7 s of CPU per process (docs/benchmarks.md).
$(VENV)/.installed: pyproject.toml uv.lock Makefile | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --python 3.11 --compile-bytecode
	$(VENV)/bin/python -c "import torch, torchvision, ray, mlflow, optuna, torch_pruning; \
	  print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'ray', ray.__version__)"
	touch $@

sweep: setup
	$(VENV)/bin/prune-sweep run --space smoke --dataset synthetic --name $(SWEEP) --runs-dir $(RUNS)
	$(VENV)/bin/prune-sweep analyze $(SWEEP) --runs-dir $(RUNS)

# Two pytest workers: an end-to-end test leaves a 2-core machine idle about half the time
# (Ray start-up, polling, process launches), so two at once cut the suite's wall time.
# One worker runs a whole file: module-scoped fixtures (a sweep, a dense model) are built once.
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup
	$(PYTEST)

test-quick: setup
	$(PYTEST) -m "not e2e"

lint: setup
	$(VENV)/bin/ruff check .

clean-runs:
	rm -rf $(RUNS)
