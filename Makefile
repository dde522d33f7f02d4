# The two commands that matter: `make demo` and `make test`. Each installs what it needs first.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
PORT   ?= 8000

.PHONY: install demo test lint format migrate worker dev bench ext-test ext-deps contract-deps fuzz screenshot-pos

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: migrate, import the Online Retail demo shop, train, serve on http://127.0.0.1:$(PORT)
demo: install
	PORT=$(PORT) $(BIN)/posai demo

# Shopify's published schemas, webhook payloads and Node library: the contract tests' oracle
# (tests/shopify_contract/README.md). Pinned by its lock file; re-installed when that changes.
# Without npm the contract tests skip and say so (CI sets POSAI_REQUIRE_CONTRACT=1: they fail).
CONTRACT       = tests/shopify_contract
CONTRACT_STAMP = $(CONTRACT)/node_modules/.installed-stamp

$(CONTRACT_STAMP): $(CONTRACT)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(CONTRACT) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch node_modules/.installed-stamp; \
	else echo "npm not found: Shopify contract tests will be skipped"; fi

contract-deps: $(CONTRACT_STAMP)

# The POS extension's packages, for the end-to-end test that runs its code against the server
# (tests/impact/test_pos_end_to_end.py; skips without npm, fails with POSAI_REQUIRE_CONTRACT=1).
EXT       = extensions/pos-upsell
EXT_STAMP = $(EXT)/node_modules/.installed-stamp

$(EXT_STAMP): $(EXT)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(EXT) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed-stamp; \
	else echo "npm not found: the POS extension end-to-end test will be skipped"; fi

ext-deps: $(EXT_STAMP)

## make test: the whole test suite (PostgreSQL/Redis when reachable, else SQLite + inline jobs)
test: install contract-deps ext-deps
	$(BIN)/pytest

## make fuzz: a long fuzzing run of the JSON API against docs/openapi.yaml (make test runs a short one)
fuzz: install
	POSAI_FUZZ_EXAMPLES=$${POSAI_FUZZ_EXAMPLES:-5000} $(BIN)/pytest tests/api/test_fuzz.py tests/foundation/test_fuzz_inputs.py tests/webhooks/test_convergence.py -q

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
	cd $(EXT) && npm ci --no-audit --no-fund && touch node_modules/.installed-stamp && npm run ci

# docs/screenshots/pos-modal.png: the POS modal rendered in its test harness, photographed by Chromium.
screenshot-pos: install ext-deps
	$(BIN)/python extensions/pos-upsell/scripts/screenshot_modal.py
