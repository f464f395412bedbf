# The two commands: `make run` (the system) and `make test` (the tests). Both build .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test check lint format venv clean bench

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Setting up $(VENV) from requirements.txt (first run only)..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip 2> >(grep -v 'is ignored' >&2)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v 'is ignored' >&2)
	@touch $(STAMP)

venv: $(STAMP)

## run: migrate, make sure a staff user exists, start the web server and paper trading on the simulated market
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py rundesk

## test: the whole suite (PostgreSQL/Redis/Celery tests run when DATABASE_URL/REDIS_URL are set)
test: $(STAMP)
	@bash scripts/test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test

clean:
	rm -rf $(VENV) var/*.sqlite3*
