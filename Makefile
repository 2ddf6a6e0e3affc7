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
# Without Redis the live push lives in the web process: the task cluster hands it its events here.
run: export LIVE_RELAY_URL ?= http://$(HOST):$(PORT)/live/relay

.PHONY: run test bench bench-pages bench-nodes bench-outbound bench-reports bench-push bench-campaigns lint format clean test-deps

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

# The browser tests drive Debian's chromium (Playwright never downloads a browser here); the
# PgBouncer test runs Debian's pgbouncer. Tests that miss either are skipped, saying so.
CHROMIUM := /usr/bin/chromium
PGBOUNCER := /usr/sbin/pgbouncer
test-deps:
	@test -x $(CHROMIUM) -a -x $(PGBOUNCER) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium pgbouncer >/dev/null; } || \
		echo "chromium or pgbouncer could not be installed: their tests will be skipped"

test: $(VENV)/.installed-dev test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# Not part of `make test`: needs PostgreSQL and Redis on 127.0.0.1 (see tests/bench/run.py).
# P4, the pages at 100k and 1M messages, runs after the webhook figures (about ten minutes).
bench: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/run.py
	$(BIN)/python tests/bench/outbound.py
	$(BIN)/python tests/bench/nodes.py
	$(BIN)/python tests/bench/pages.py
	$(MAKE) bench-campaigns

# P5 alone: one channel's outbound rate, busiest second and latency against a local Graph mock.
bench-outbound: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/outbound.py

# Two nodes (web server + task cluster each) on one PostgreSQL and Redis; one is killed mid-run.
bench-nodes: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/nodes.py

# P4 alone: every list and detail page for a manager and a rep (tests/bench/pages.py).
bench-pages: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/pages.py

# The managers' reports over a year at 100k and 1M messages (tests/bench/reports.py).
bench-reports: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/reports.py

# Live push: a status webhook to the tick in connected browsers (median, p95) and the queries 50
# idle connected agents cost (tests/bench/push.py). Uses DATABASE_URL and REDIS_URL when set.
bench-push: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/push.py

# A campaign's send rate against the sandbox at the per-number rate (80/s), and the time to
# build a 100k-contact audience (tests/bench/campaigns.py).
bench-campaigns: $(VENV)/.installed-dev
	$(BIN)/python tests/bench/campaigns.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
