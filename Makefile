.PHONY: install test lint dev bench lock

VENV ?= .venv

install:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev]'

test: install
	$(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check bridge
	$(VENV)/bin/mypy bridge

dev: install
	$(VENV)/bin/bridge dev
