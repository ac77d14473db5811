# The two entry points of the README. Everything else: `.venv/bin/starchat --help`.
.PHONY: chat test setup setup-dev lint typecheck pytest vscode

QUESTION ?= Write a Python function that checks whether a number is prime

chat: setup
	.venv/bin/starchat chat "$(QUESTION)"

test: setup-dev lint typecheck pytest vscode

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh --dev

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

pytest:
	.venv/bin/python -m pytest -q --durations=15

vscode:
	bash clients/vscode/scripts/test.sh
