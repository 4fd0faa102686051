# Two commands matter: `make demo` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV := set -a && . .local/env && set +a &&

.PHONY: help venv services migrate demo test lint typecheck imports lock clean openapi bench bench-outbox bench-mpi bench-mpi-online

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/lock.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -r requirements/lock.txt
	touch $@

venv: $(VENV)/.installed  ## Create .venv with the locked dependencies

services: venv  ## Make sure PostgreSQL and Redis answer; create roles and database
	bash scripts/services.sh

migrate: services  ## Apply migrations as the owner role
	$(ENV) DATABASE_URL="$$DATABASE_OWNER_URL" $(PY) manage.py migrate --no-input

demo: migrate  ## Set up, seed a demo tenant, start web + worker + beat (Ctrl-C stops them)
	bash scripts/demo.sh

test: services  ## Every quality gate and the whole test suite
	bash scripts/check.sh

lint: venv  ## ruff (lint + format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: services  ## mypy strict
	$(ENV) $(VENV)/bin/mypy .

imports: venv  ## import-linter layer contracts
	$(VENV)/bin/lint-imports

lock: venv  ## Re-resolve requirements/*.in into requirements/lock.txt
	bash scripts/lock.sh

clean:  ## Stop private services and remove .local (keeps .venv)
	-test -f .local/redis/redis.pid && kill "$$(cat .local/redis/redis.pid)"
	-test -f .local/pg/postmaster.pid && runuser -u postgres -- pg_ctl -D .local/pg stop 2>/dev/null || true
	rm -rf .local

openapi: services  ## Regenerate the committed OpenAPI schema (openapi.yaml)
	$(ENV) $(PY) manage.py spectacular --file openapi.yaml --validate --fail-on-warn

bench-outbox: services  ## Outbox relay throughput and lag vs the raw SKIP LOCKED ceiling (not in make test)
	$(ENV) $(PY) benchmarks/outbox/bench.py

bench-mpi-online: services  ## Online matching p50/p95 and recall vs the raw trigram ceiling (not in make test; N=100000)
	$(ENV) $(PY) benchmarks/mpi/online.py --patients $(or $(N),100000) $(BENCH_ARGS)

bench: services  ## Service req/s and p50/p95/p99 vs same-run ceilings (not in make test; BENCH_SIZE=100000|1000000)
	$(ENV) $(PY) benchmarks/service/bench.py

bench-mpi: services  ## Batch + online matching quality/speed vs Splink, one run (not in make test; BENCH_MPI_SIZES=10000,100000[,1000000])
	$(ENV) $(PY) benchmarks/mpi/quality.py $(BENCH_ARGS)
