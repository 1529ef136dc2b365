# orderflow: the two commands (README) and a few helpers.
#   make run    Airflow + the pages + PostgreSQL + the sandbox APIs, on this machine
#   make test   the whole test suite against a real PostgreSQL and headless Chromium
#   make soak   the model-based test (tests/model) with many more examples
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv lint bench clean-state soak

venv: $(STAMP)

$(STAMP): requirements.txt tools/bootstrap.sh
	@bash tools/bootstrap.sh
	@touch $(STAMP)

run: venv
	@PYTHONPATH=plugins:. $(PY) -m tools.run

test: venv
	@bash tools/ensure-system-deps.sh
	@PYTHONPATH=plugins:. $(PY) -m pytest $(PYTEST_ARGS)

# The model-based test (tests/model) with its long profile: many more examples and longer ones;
# prints how many examples and steps it explored. SOAK_EXAMPLES / SOAK_STEPS override the profile.
soak: venv
	@ORDERFLOW_MODEL_PROFILE=soak $(if $(SOAK_EXAMPLES),ORDERFLOW_MODEL_EXAMPLES=$(SOAK_EXAMPLES)) \
	  $(if $(SOAK_STEPS),ORDERFLOW_MODEL_STEPS=$(SOAK_STEPS)) \
	  PYTHONPATH=plugins:. $(PY) -m pytest -q -s --timeout=0 tests/model $(PYTEST_ARGS)

# ruff, then mypy (strict, configured in pyproject.toml [tool.mypy]; tests/test_typecheck.py runs the same in CI)
lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

bench: venv
	@PYTHONPATH=plugins:. $(PY) -m bench $(BENCH_ARGS)

clean-state:
	@PYTHONPATH=plugins:. $(PY) -m tools.pg stop || true
	rm -rf .state
