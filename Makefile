# orderflow: the two commands (README) and a few helpers.
#   make run    Airflow + the pages + PostgreSQL + the sandbox APIs, on this machine
#   make test   the whole test suite against a real PostgreSQL and headless Chromium
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv lint bench clean-state

venv: $(STAMP)

$(STAMP): requirements.txt tools/bootstrap.sh
	@bash tools/bootstrap.sh
	@touch $(STAMP)

run: venv
	@PYTHONPATH=plugins:. $(PY) -m tools.run

test: venv
	@bash tools/ensure-system-deps.sh
	@PYTHONPATH=plugins:. $(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	@$(VENV)/bin/ruff check .

bench: venv
	@PYTHONPATH=plugins:. $(PY) -m bench $(BENCH_ARGS)

clean-state:
	@PYTHONPATH=plugins:. $(PY) -m tools.pg stop || true
	rm -rf .state
