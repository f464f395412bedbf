# The two commands: `make run` (the system) and `make test` (the tests). Both build .venv themselves:
# `make run` from the runtime set (requirements.txt), `make test`/`make check` from the runtime set plus
# the test and development tools (requirements-dev.txt). A change to either file re-installs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed
PIP_INSTALL = $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test check lint format venv venv-dev clean bench

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Setting up $(VENV) from requirements.txt (first run only)..."
	@$(PIP_INSTALL) --upgrade pip 2> >(grep -v 'is ignored' >&2)
	@$(PIP_INSTALL) -r requirements.txt 2> >(grep -v 'is ignored' >&2)
	@touch $(STAMP)

$(DEV_STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Setting up $(VENV) from requirements-dev.txt (first run only)..."
	@$(PIP_INSTALL) --upgrade pip 2> >(grep -v 'is ignored' >&2)
	@$(PIP_INSTALL) -r requirements-dev.txt 2> >(grep -v 'is ignored' >&2)
	@touch $(DEV_STAMP) $(STAMP)

venv: $(STAMP)

venv-dev: $(DEV_STAMP)

## run: migrate, make sure a staff user exists, start the web server and paper trading on the simulated market
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py rundesk

## test: the whole suite (PostgreSQL/Redis/Celery tests run when DATABASE_URL/REDIS_URL are set)
test: $(DEV_STAMP)
	@bash scripts/test

## lint: ruff, then the import contracts of pyproject.toml ([tool.importlinter])
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test

clean:
	rm -rf $(VENV) var/*.sqlite3*
