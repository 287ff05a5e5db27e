# civiclake — two commands do all the set-up on a fresh machine:
#   make demo   builds the demo council project and runs everything
#   make test   runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-council

.PHONY: help env demo test lint typecheck bench docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

env: $(BIN)/civiclake  ## create .venv and install civiclake with its dev extras

$(BIN)/civiclake: pyproject.toml
	scripts/bootstrap.sh $(VENV)
	@touch $@

demo: env  ## create the demo council project in ./demo-council and run all its sources and jobs
	$(BIN)/civiclake demo $(DEMO_DIR)

test: env  ## lint, type-check and run the whole test suite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	scripts/services/with-services.sh $(BIN)/pytest

lint: env  ## ruff lint and format
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: env  ## mypy on the package
	$(BIN)/mypy

bench: env  ## run the benchmarks (results go to bench/RESULTS.md by hand)
	$(BIN)/python bench/load_csv.py
	$(BIN)/python bench/snapshot.py
	$(BIN)/python bench/dbsync.py
	$(BIN)/python bench/streams.py
	$(BIN)/python bench/publish.py
	$(BIN)/python bench/serve_load.py
	$(BIN)/python bench/masking.py
	$(BIN)/python bench/cli_help.py

docs: env  ## regenerate docs/cli.md from the commands
	$(BIN)/python -m typer civiclake.cli.app utils docs --name civiclake --output docs/cli.md

clean:  ## remove the environment and the demo project
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
