# Kairos: `make dev` runs the whole stack, `make test` runs every test tier.
# Nothing needs installing by hand: the .venv target builds the virtualenv with plain pip.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kairos-installed

# Every service with code is installed; a service gets its src/ when its first module lands.
SERVICES := $(patsubst %/src,%,$(wildcard services/*/src))
PYPROJECTS := $(wildcard pyproject.toml shared/pyproject.toml devtools/pyproject.toml services/*/pyproject.toml)
# mypy stops at a src/ without modules, so only those with code are passed.
MYPY_PATHS := shared/src devtools/src $(sort $(foreach f,$(wildcard services/*/src/*/*.py),$(firstword $(subst /src/, ,$(f)))/src))

# The web app (web/): npm ci when its lock file is newer than node_modules, a vite build
# when its sources are newer than web/dist.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_BUILD := web/dist/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json

.DEFAULT_GOAL := help
.PHONY: help .venv dev test lint bench schemas web web-api web-lint web-test

help:
	@echo "make dev    run PostgreSQL, Redis, Kafka and the services in the foreground"
	@echo "make test   run all test tiers (tests start the infrastructure they need)"
	@echo "make lint   ruff format --check, ruff check, mypy"
	@echo "make bench  run the benchmarks (results in bench/results/); BENCH=\"video calendar\" picks some"
	@echo "make .venv  create or update the virtualenv"
	@echo "make schemas  regenerate the committed JSON Schemas of the event contract"
	@echo "make web    build the web app (web/dist), served at / by make dev"
	@echo "make web-api  regenerate the web app's API client types from the services' OpenAPI"

.venv: $(STAMP)

$(STAMP): $(PYPROJECTS) requirements-dev.txt $(addsuffix /src,$(SERVICES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# caldav needs niquests, which needs urllib3-future; its wheel writes over urllib3's files
	# (and puts them back at every start), breaking requests (Google's client, twilio,
	# schemathesis). Built from source with URLLIB3_NO_OVERRIDE it keeps to urllib3_future.
	URLLIB3_NO_OVERRIDE=1 $(BIN)/python -m pip install --no-binary urllib3-future \
		-e shared -e devtools $(addprefix -e ,$(SERVICES)) -r requirements-dev.txt
	touch $@

dev: $(STAMP) $(WEB_BUILD)
	$(BIN)/kairos dev

# Vitest first (seconds), then every pytest tier, the browser tests (tests/web) included.
test: $(STAMP) $(WEB_BUILD) web-test
	$(BIN)/pytest

lint: $(STAMP) web-lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy $(MYPY_PATHS)

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npx vite build

web: $(WEB_BUILD)

web-api: $(STAMP) $(WEB_DEPS)
	$(BIN)/python -m kairos_dev.api_reference | node web/scripts/api.mjs

# Type check, ESLint, and the generated API client still matches the services' OpenAPI.
web-lint: $(STAMP) $(WEB_DEPS)
	cd web && npx tsc --noEmit -p . && npx eslint .
	$(BIN)/python -m kairos_dev.api_reference | node web/scripts/api.mjs --check

web-test: $(WEB_DEPS)
	cd web && npx vitest run

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

schemas: $(STAMP)
	$(BIN)/python -c "from kairos.events import REGISTRIES, write_schemas; write_schemas(*REGISTRIES.values())"
