# Creative Genome. `make demo` runs the main job; `make test` runs lint and the suite.
# Both do the whole set-up first (scripts/setup.sh is idempotent).

VENV ?= .venv
BIN := $(VENV)/bin
GENOME := $(BIN)/genome
PYTEST_ARGS ?=
# Two workers: the suite waits on servers, agents and a browser as much as it computes.
# Each test file runs whole in one worker (module fixtures start once). PYTEST_WORKERS=0 runs
# it in one process.
PYTEST_WORKERS ?= 2

.PHONY: setup db migrate schema lint test demo bench clean-db

setup:
	@bash scripts/setup.sh

db: setup
	@$(GENOME) db up >/dev/null
	@$(GENOME) db status

migrate: db
	@$(GENOME) migrate

lint: setup
	$(BIN)/ruff check agents sim bench tests
	$(BIN)/ruff format --check agents sim bench tests
	$(BIN)/sqlfluff lint db --nocolor

test: setup lint
	@$(GENOME) db up >/dev/null
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

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
