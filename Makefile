# Two commands do all the set-up (README.md): `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The first Python 3.11 or 3.12 on PATH (pyproject.toml: requires-python >=3.11,<3.13).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' \
	2>/dev/null && { command -v $$p; break; }; done)

.PHONY: help run test install install-test lint migrate seed clean

help:
	@echo "make run    install into .venv, migrate, seed the demo, start web + worker + beat + clusters"
	@echo "make test   install test tools, start what the tests need, run ruff, migrations check, pytest"

$(PY):
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.11 or 3.12 is needed (e.g. sudo apt-get install python3.11 python3.11-venv)"; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed-run

# The development defaults (README: Two commands); never overwrites a .env that is there.
.env:
	cp .env.development .env

install: $(VENV)/.installed-run .env
install-test: $(VENV)/.installed-test

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: install
	@bash scripts/run.sh

test: install-test
	@bash scripts/test.sh

lint: install-test
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
