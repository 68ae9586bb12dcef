# Two commands do all the set-up (see README.md):
#   make run    install into .venv and serve the sample rulesets on embedded defaults
#   make test   install what the tests need (incl. redis-server) and run lint + tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup test-deps lint

$(BIN)/frontdesk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/frontdesk

run: setup
	$(BIN)/frontdesk serve

test-deps:
	@command -v redis-server >/dev/null || ops/ci/install-redis.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup test-deps lint
	$(BIN)/pytest -q
