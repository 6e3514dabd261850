# The two commands a new machine needs (see README.md):
#   make demo   install everything into .venv and run `switchboard demo`
#   make test   install everything (Python packages, system tools, services) and run the whole test suite
# Variables: PYTHON (interpreter used to create .venv), DEMO_ARGS, PYTEST_ARGS.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test

$(BIN)/python:
	scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)"

# Stamps: reinstall only when pyproject.toml changes (the project itself is installed editable).
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/switchboard demo $(DEMO_ARGS)

test: $(VENV)/.installed-test
	scripts/test-setup.sh
	@# pytest exit code 5 means "no tests collected": a failure, never a pass.
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing" >&2; fi; \
	  exit $$rc
	$(BIN)/ruff check .
