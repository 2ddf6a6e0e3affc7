# Switchboard: `make run` starts it, `make test` runs every test. Both set themselves up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export PORT HOST

# `make run` talks to the sandbox (an emulated Graph API) unless told otherwise.
run: export SANDBOX_ENABLED ?= True
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: export GRAPH_API_BASE_URL ?= http://$(HOST):$(PORT)/sandbox/graph
run: export TWILIO_API_BASE_URL ?= http://$(HOST):$(PORT)/sandbox/twilio/api
run: export TWILIO_CONTENT_API_BASE_URL ?= http://$(HOST):$(PORT)/sandbox/twilio/content
run: export TELEGRAM_API_BASE_URL ?= http://$(HOST):$(PORT)/sandbox/telegram
run: export WAZZUP_API_BASE_URL ?= http://$(HOST):$(PORT)/sandbox/wazzup

.PHONY: run test bench bench-pages bench-campaigns lint format clean browser-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_data
	$(BIN)/python manage.py setup_schedules
	@echo "Sandbox customer page: http://$(HOST):$(PORT)/sandbox/"
	@echo "Sandbox Twilio line: http://$(HOST):$(PORT)/sandbox/twilio/"
	@echo "Sandbox Telegram bot: http://$(HOST):$(PORT)/sandbox/telegram/"
	@echo "Sandbox Wazzup: http://$(HOST):$(PORT)/sandbox/wazzup/"
	@echo "Website widget demo page: http://$(HOST):$(PORT)/widget/demo/"
	$(BIN)/honcho --procfile Procfile start

# The browser tests drive Debian's chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
browser-deps:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium could not be installed: the browser tests will be skipped"

test: $(VENV)/.installed-dev browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# Not part of `make test`: needs PostgreSQL and Redis on 127.0.0.1 (see tests/bench/run.py).
# P4, the pages at 100k and 1M messages, runs after the webhook figures (about ten minutes).
bench: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/run.py
	$(BIN)/python tests/bench/pages.py
	$(MAKE) bench-campaigns

# P4 alone: every list and detail page for a manager and a rep (tests/bench/pages.py).
bench-pages: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/pages.py

# A campaign's send rate against the sandbox at the per-number rate (80/s), and the time to
# build a 100k-contact audience (tests/bench/campaigns.py).
bench-campaigns: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/campaigns.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
