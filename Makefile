.PHONY: install test lint docs dev bench lock

VENV ?= .venv

install:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev]'

test: install
	$(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check bridge tests scripts
	$(VENV)/bin/mypy bridge tests scripts
	$(VENV)/bin/hadolint Dockerfile

docs: install  # README provider tables, chart kind enum and description, example instances: from the registry
	$(VENV)/bin/python -m scripts.docs

dev: install
	$(VENV)/bin/sms-bridge dev

lock:  # regenerate requirements*.lock from pyproject.toml (hashes; see scripts/lock)
	$(VENV)/bin/pip install -q pip-tools && scripts/lock

bench: install  # the performance benchmark (~5 min; see README "Performance")
	$(VENV)/bin/pip install -q -e '.[bench]' && $(VENV)/bin/python -m tests.bench.run
