# agentlab: `make dev` runs the platform locally, `make test` runs every test suite. Both set themselves up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: dev test test-unit test-integration test-e2e system-deps lint format synth bench clean frontend browser-deps test-frontend layer deploy

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# bubblewrap isolates the local sandbox; installed when we are root and it is missing.
system-deps:
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else echo "bubblewrap is missing: the local sandbox falls back to weaker isolation (install 'bubblewrap')"; fi; \
	fi

# The dashboard: `npm ci` only when the lock file changed (a stamp), a build only when a source changed.
FRONTEND_STAMP := frontend/node_modules/.installed
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts \
	frontend/tsconfig.json frontend/package.json

$(FRONTEND_STAMP): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $(FRONTEND_STAMP)

frontend/dist/index.html: $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	cd frontend && npm run build

frontend: frontend/dist/index.html

test-frontend: $(FRONTEND_STAMP)
	cd frontend && npm test

# Debian's chromium drives the dashboard's browser tests; installed when we are root and it is missing.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "chromium is missing: the dashboard's browser tests will be skipped (install 'chromium')"; fi; \
	fi

dev: $(STAMP) system-deps frontend
	$(VENV)/bin/agentlab dev

test: $(STAMP) system-deps browser-deps frontend
	$(PY) -m pytest tests/unit tests/integration tests/infrastructure tests/e2e -q -p no:cacheprovider
	cd frontend && npm test

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

test-integration: $(STAMP) system-deps
	$(PY) -m pytest tests/integration -q

test-e2e: $(STAMP) system-deps browser-deps frontend
	$(PY) -m pytest tests/e2e -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP) system-deps browser-deps frontend
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The Lambda layer: agentlab and its pinned dependencies as python3.13 arm64 wheels (no Docker), rebuilt when a
# source changed.
LAYER_DIR := build/layer
LAYER_STAMP := build/.layer-built
LAYER_SOURCES := $(shell find layers/core/agentlab -name '*.py' 2>/dev/null) pyproject.toml cdk/build_layer.py

$(LAYER_STAMP): $(STAMP) $(LAYER_SOURCES)
	$(PY) cdk/build_layer.py $(LAYER_DIR)
	touch $(LAYER_STAMP)

layer: $(LAYER_STAMP)

# cdk.out/ from the CDK app without the CDK CLI (offline once the layer and the dashboard are built); cdk-nag runs
# during synth and fails it on any unacknowledged finding.
synth: $(STAMP) layer frontend
	CDK_OUTDIR=cdk.out $(PY) cdk/app.py
	@echo "synthesized into cdk.out/"

# Builds the layer and the dashboard, then lets the CDK CLI synthesize the app (cdk.json) for the account and region of
# the credentials, so region-dependent checks apply, and deploy it. Needs AWS credentials and a bootstrapped account;
# no Docker: the sandbox image is built by CodeBuild in the account during the deploy.
CDK_CLI := npx --yes aws-cdk@2.1148.1
deploy: $(STAMP) layer frontend
	$(CDK_CLI) deploy --require-approval broadening

clean:
	rm -rf $(VENV) .agentlab cdk.out build frontend/dist frontend/node_modules
