# Creative Genome. `make demo` runs the main job; `make test` runs lint and the suite.
# Both do the whole set-up first (scripts/setup.sh is idempotent).

VENV ?= .venv
BIN := $(VENV)/bin
GENOME := $(BIN)/genome
PYTEST_ARGS ?=
# Three workers on two cores: the suite waits on servers, agents, pg_cron and a browser
# as much as it computes (measured on this 2-core machine: 826 s with two, 664 s with
# three and the slow files first).
# Each test file runs whole in one worker (module fixtures start once). PYTEST_WORKERS=0 runs
# it in one process.
PYTEST_WORKERS ?= 3

.PHONY: setup db migrate schema lint test test-lower-bounds demo bench clean-db

setup:
	@bash scripts/setup.sh

db: setup
	@$(GENOME) db up >/dev/null
	@$(GENOME) db status

migrate: db
	@$(GENOME) migrate

lint: setup
	$(BIN)/ruff check agents sim bench tests scripts
	$(BIN)/ruff format --check agents sim bench tests scripts
	$(BIN)/sqlfluff lint db --nocolor

# The lower-bound virtualenv is built in the background while the suite runs (pip mostly
# waits on the package registry; building it first added minutes to CI), then its tests run.
test: setup lint
	@$(GENOME) db up >/dev/null
	@$(MAKE) --no-print-directory $(LOWER_VENV)/.lower-installed >$(LOWER_VENV).log 2>&1 & \
	lower=$$!; \
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); suite=$$?; \
	if ! wait $$lower; then cat $(LOWER_VENV).log; echo "building $(LOWER_VENV) failed"; exit 1; fi; \
	[ $$suite -eq 0 ] || exit $$suite
	@$(MAKE) --no-print-directory test-lower-bounds

# The declared lower bounds, tested: a second virtualenv with every runtime dependency at its
# `>=` bound in pyproject.toml (scripts/lower_bounds.py derives the pins; transitive ones
# are left to pip), the project installed without dependencies, and the tests of the code
# that calls those libraries (vendor SDKs, httpx, pydantic, psycopg, pillow, storage). Built
# once and rebuilt only when pyproject.toml changes, like .venv.
LOWER_VENV ?= .venv-lower
LOWER_TESTS ?= tests/test_provider_calls.py tests/test_providers_check.py \
	tests/test_providers_live.py tests/test_providers_factory.py tests/test_pipeline_png.py \
	tests/test_storage_s3.py
PYTHON ?= python3

$(LOWER_VENV)/.lower-installed: pyproject.toml scripts/lower_bounds.py
	rm -rf $(LOWER_VENV)
	$(PYTHON) -m venv $(LOWER_VENV)
	$(BIN)/python scripts/lower_bounds.py pytest pytest-xdist pytest-postgresql respx setuptools moto boto3 \
		> $(LOWER_VENV)/requirements.txt
	$(LOWER_VENV)/bin/pip install -q --prefer-binary -r $(LOWER_VENV)/requirements.txt
	$(LOWER_VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

test-lower-bounds: setup $(LOWER_VENV)/.lower-installed
	@$(GENOME) db up >/dev/null
	$(LOWER_VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile -p no:warnings $(LOWER_TESTS)

demo: setup
	@$(GENOME) db up >/dev/null
	$(GENOME) demo --fresh $(DEMO_ARGS)

bench: setup
	@$(GENOME) db up >/dev/null
	$(BIN)/python -m bench $(BENCH_ARGS)

clean-db:
	@$(GENOME) db destroy

# db/schema.sql: the whole schema a fresh `genome migrate` builds (tests/test_schema_snapshot.py).
schema: db
	@$(GENOME) schema dump > db/schema.sql.tmp && mv db/schema.sql.tmp db/schema.sql
	@echo "db/schema.sql regenerated"
