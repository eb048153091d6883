# The two commands a fresh machine needs: `make demo` and `make test`.
# Both create the virtual environment and install casebus into it first.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The test broker: its own state folder and ports, so tests never touch the demo's data.
# Two checkouts on one machine give one of them other ports:
#   make test TEST_KAFKA_PORT=49092 TEST_KAFKA_CONTROLLER_PORT=49093
TEST_KAFKA_PORT ?= 39092
TEST_KAFKA_CONTROLLER_PORT ?= 39093
TEST_ENV := CASEBUS_VAR_DIR=var/test CASEBUS_KAFKA__LOCAL__PORT=$(TEST_KAFKA_PORT) \
            CASEBUS_KAFKA__LOCAL__CONTROLLER_PORT=$(TEST_KAFKA_CONTROLLER_PORT)
TEST_PORTS := CASEBUS_TEST_KAFKA_PORT=$(TEST_KAFKA_PORT) \
              CASEBUS_TEST_KAFKA_CONTROLLER_PORT=$(TEST_KAFKA_CONTROLLER_PORT)

.PHONY: demo test lint unit soak install stop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/casebus demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) lint
	@if [ -z "$$CASEBUS_KAFKA_BOOTSTRAP$$CASEBUS_TEST_KAFKA_BOOTSTRAP" ]; then \
	  $(TEST_ENV) $(BIN)/casebus kafka start --no-topics; fi
	scripts/browser-up.sh
	scripts/prometheus-up.sh
	pg_url=$$(scripts/postgres-up.sh) && \
	  CASEBUS_TEST_PG_URL=$$pg_url $(TEST_PORTS) $(BIN)/pytest -p no:cacheprovider --durations=30 \
	  $(PYTEST_ARGS)

# Tests that need neither Kafka nor PostgreSQL (pure functions, SQLite in memory).
unit: $(STAMP)
	$(BIN)/pytest -m offline $(PYTEST_ARGS) tests

# The node-kill test at soak length: `make test` runs it with 25,000 events and 3 kills;
# SOAK_EVENTS and SOAK_KILLS set how many here.
SOAK_EVENTS ?= 200000
SOAK_KILLS  ?= 20
soak: $(STAMP)
	pg_url=$$(scripts/postgres-up.sh) && CASEBUS_TEST_PG_URL=$$pg_url \
	  CASEBUS_SOAK_EVENTS=$(SOAK_EVENTS) CASEBUS_SOAK_KILLS=$(SOAK_KILLS) \
	  $(BIN)/pytest -p no:cacheprovider -m '' \
	  tests/kafka/test_replicated.py::test_node_kills_under_load_lose_and_double_nothing \
	  $(PYTEST_ARGS)

stop:
	-$(BIN)/casebus kafka stop
	-$(TEST_ENV) $(BIN)/casebus kafka stop

clean: stop
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
