# dondoc: the two commands of the README (`make demo`, `make test`) and the rest.
# Everything installs what it needs: uv into .tools/, the Python packages from uv.lock,
# and the local stack (Kafka jars, PostgreSQL, Prometheus) when first used.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
PYTEST_ARGS ?=
# Kustomize renders the Kubernetes overlays in the tests: built once from its Go module at
# this version (the machine's Go toolchain, the Go module proxy, the Go checksum database).
KUSTOMIZE_VERSION := v5.8.1
KUSTOMIZE := $(TOOLS)/kustomize-$(KUSTOMIZE_VERSION)/kustomize
export DONDOC_KUSTOMIZE := $(abspath $(KUSTOMIZE))
# Files `make generate` writes; CI fails when one of them is stale.
GENERATED := requirements.lock.txt docs deploy k8s docker-compose.yml .env.example

.PHONY: help install c-toolchain tools demo test test-unit test-integration generate check-generated lock clean down \
	bench bench-backbone bench-commands

help:
	@echo "make demo      the main job on the embedded defaults (Ctrl-C stops it)"
	@echo "make test      every test, with a real Kafka and PostgreSQL started by the run"
	@echo "make test-unit the quick loop: unit tests only"
	@echo "make generate  regenerate every generated file"
	@echo "make bench     every benchmark (each brings up its own Kafka and PostgreSQL)"
	@echo "make bench-commands  commands/s and end-to-end latency (docs/PERFORMANCE.md)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml \
		libs/kafkabatch/src/dondoc_kafkabatch/_batches.c
	@$(MAKE) --no-print-directory c-toolchain
	$(UV) sync --frozen --all-packages
	@touch $@

# libs/kafkabatch is a C extension (docs/adr/0014): a C compiler and Python's headers, from
# Debian's packages when missing and this is root on Debian, else a clear error.
c-toolchain:
	@if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing gcc (Debian) for libs/kafkabatch"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc libc6-dev; \
	  else echo "make: libs/kafkabatch needs a C compiler: apt-get install gcc" >&2; exit 1; fi; \
	fi
	@if ! $(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then \
	  pkg=python$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing $$pkg (Debian) for libs/kafkabatch"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$pkg; \
	  else echo "make: libs/kafkabatch needs Python's headers: apt-get install $$pkg" >&2; exit 1; fi; \
	fi

install: .venv/.synced

$(KUSTOMIZE):
	GOBIN=$(abspath $(dir $@)) GOFLAGS=-modcacherw go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

tools: $(KUSTOMIZE)

# DEMO_ARGS=--fresh starts from a clean slate; --no-wait ends after printing.
DEMO_ARGS ?=

demo: install
	$(UV) run --frozen --no-sync dondoc demo $(DEMO_ARGS)

down: install
	$(UV) run --frozen --no-sync dondoc dev down

test: install tools check-generated
	@rc=0; DONDOC_REQUIRE_INTEGRATION=1 $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected, which is a failure" >&2; fi; \
	exit $$rc

test-unit: install tools
	$(UV) run --frozen --no-sync pytest -m unit $(PYTEST_ARGS)

test-integration: install
	DONDOC_REQUIRE_INTEGRATION=1 $(UV) run --frozen --no-sync pytest -m "integration or e2e" $(PYTEST_ARGS)

# Benchmarks measure, they never fail on a figure; see docs/PERFORMANCE.md.
BENCH_ARGS ?=

bench: bench-backbone bench-commands bench-analytics

bench-backbone: install
	$(UV) run --frozen --no-sync python -m bench.backbone $(BENCH_ARGS)

# Commands per second through the HTTP API and their end-to-end latency; it brings up the
# local stack's Kafka and PostgreSQL (ports from DONDOC_*_PORT), e.g.
# BENCH_ARGS="--seconds 30 --rate 20 --rate 100 --json out.json".
bench-commands: install
	$(UV) run --frozen --no-sync python bench/commands.py $(BENCH_ARGS)

# Directives registered in batches (POST /directives/batch) at several sizes, the downstream's
# catch-up and a steady batched rate, beside the raw rate, e.g.
# BENCH_ARGS="--sizes 1,10,50,200 --seconds 10 --steady 100x10 --steady 200x50 --json out.json".
bench-batch-commands: install
	$(UV) run --frozen --no-sync python bench/batch_commands.py $(BENCH_ARGS)

lock: $(UV)
	$(UV) lock

generate: install
	$(UV) export --frozen --all-packages --no-emit-workspace --no-dev --format requirements-txt \
		--output-file requirements.lock.txt >/dev/null
	$(UV) run --frozen --no-sync python -m dondoc.generate

# CI fails when a generated file is stale: regenerate, then ask git whether anything moved.
check-generated: generate
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
			git status --short -- $(GENERATED); \
			echo "generated files are stale: run 'make generate' and commit the result" >&2; \
			exit 1; \
		fi; \
	fi

clean:
	rm -rf .venv $(TOOLS) .dondoc .pytest_cache

.PHONY: bench-analytics
# Analytics at national scale (≈ 5.3 million events): rebuild vs COPY, query latency,
# audit verify. Starts a private stack unless DONDOC_BENCH_KAFKA_BOOTSTRAP and
# DONDOC_BENCH_DATABASE_URL name one. Results also in bench/results/analytics.json.
bench-analytics: install
	mkdir -p bench/results
	$(UV) run --frozen --no-sync python bench/analytics.py --out bench/results/analytics.json $(BENCH_ARGS)
