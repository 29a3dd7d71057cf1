# Two commands on a fresh machine: `make run` (the portal on SQLite with demo data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '.[test]'
	touch $(STAMP)

run: $(STAMP)
	@PORTAL_ENV=development $(BIN)/flask init-db
	@PORTAL_ENV=development $(BIN)/flask seed-demo
	@echo "Open http://$(HOST):$(PORT)/ and log in with one of the users above (Ctrl-C stops)."
	@echo "Every email the demo sends is kept at http://$(HOST):$(PORT)/dev/mailbox/ (no mail server needed)."
	@PORTAL_ENV=development PORTAL_URL=http://$(HOST):$(PORT) $(BIN)/flask run --host $(HOST) --port $(PORT)

# The suite runs in parallel, one pytest-xdist worker per CPU, each on its own database;
# `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Every page state the accessibility scans visit, at 1280x800 and 390x844, as PNG files in screenshots/.
SCREENSHOTS_DIR ?= screenshots
screenshots: $(STAMP)
	SCREENSHOTS_DIR=$(abspath $(SCREENSHOTS_DIR)) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q tests/browser/test_screenshots.py
	@echo "Screenshots are in $(SCREENSHOTS_DIR)/"

clean:
	rm -rf $(VENV) instance .pytest_cache
