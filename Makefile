# The two commands that matter: `make demo` and `make test`. Each installs what it needs first.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
PORT   ?= 8000

.PHONY: install demo test lint format migrate worker dev bench ext-test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: migrate, import the Online Retail demo shop, train, serve on http://127.0.0.1:$(PORT)
demo: install
	PORT=$(PORT) $(BIN)/posai demo

## make test: the whole test suite (PostgreSQL/Redis when reachable, else SQLite + inline jobs)
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/posai db upgrade

worker: install
	$(BIN)/python worker.py

dev: install
	POSAI_DEMO=1 $(BIN)/flask --app posai_app run --debug --port $(PORT)

ext-test:
	cd extensions/pos-upsell && npm ci --no-audit --no-fund && npm run ci
