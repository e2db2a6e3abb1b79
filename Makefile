# h2push — the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test upstream bench fuzz load lint layers typecheck check peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

## demo: serve the bundled demo site over HTTP/2 with push and early hints
demo: $(STAMP)
	$(BIN)/h2push demo

## peers: install the Debian programs the end-to-end tests talk to (root only)
peers:
	@missing=""; \
	{ command -v nghttp && command -v h2load; } >/dev/null || missing="$$missing nghttp2-client"; \
	PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null || missing="$$missing nginx-light"; \
	command -v h2o >/dev/null || missing="$$missing h2o"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	PATH="$$PATH:/usr/sbin" command -v apache2 >/dev/null || missing="$$missing apache2"; \
	PATH="$$PATH:/usr/sbin" command -v nghttpx >/dev/null || missing="$$missing nghttp2-proxy"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing:$$missing"; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "not root: tests needing$$missing will be skipped (install them with apt-get)"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

## layers: the import contracts of pyproject.toml [tool.importlinter] (core, adapters, tools)
layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

## test: lint, type-check and run the whole suite against the real peers
test: $(STAMP) peers lint layers typecheck
	$(BIN)/python -m pytest

## upstream: the old extensions' own test suites against h2push.compat (they are on GitHub only)
UPSTREAM ?= .upstream
upstream: $(STAMP)
	@mkdir -p $(UPSTREAM)
	@test -d $(UPSTREAM)/flask-firehose || git clone -q --branch v0.2.3 https://github.com/shreyanshk/flask-firehose $(UPSTREAM)/flask-firehose
	@test -d $(UPSTREAM)/flask-http2-push || git clone -q https://github.com/jdaroesti/flask-http2-push $(UPSTREAM)/flask-http2-push
	H2PUSH_UPSTREAM_SUITES=$(UPSTREAM) $(BIN)/python -m pytest -m upstream tests/test_compat_upstream.py

## bench: page-load, overhead, end-to-end and API-push benchmarks; writes docs/performance/
bench: $(STAMP) peers
	$(BIN)/h2push bench page --runs 5 --out docs/performance --waterfall docs/performance
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/server.py
	$(BIN)/python benchmarks/digest.py
	$(BIN)/h2push bench api --repeat 5

## fuzz: every Hypothesis fuzz target at 10,000 examples, with the figures printed
fuzz: $(STAMP)
	$(BIN)/python benchmarks/fuzz.py

## load: h2load -n 50000 -c 50 -m 10 against `h2push serve` (2 workers), RSS before and after
load: $(STAMP) peers
	$(BIN)/python benchmarks/load.py

clean:
	rm -rf $(VENV) .upstream .pytest_cache .mypy_cache .ruff_cache .hypothesis dist build
