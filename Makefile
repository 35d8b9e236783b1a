# Colleague.skill. On a fresh machine: `make demo`, or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test lint typecheck check-deploy worker clean-demo

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## The demo company on the embedded default (SQLite, no broker, offline), served on :8000.
demo: $(INSTALLED)
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py load_demo
	@echo "Serving the intranet at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## The test suite. Service tests run when their variables are set (README, "Tests").
test: $(INSTALLED)
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

## Production settings must pass Django's deployment checklist.
check-deploy: $(INSTALLED)
	SECRET_KEY=check-deploy-$$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n') \
	ALLOWED_HOSTS=colleague.example.com \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

## A Celery worker against CELERY_BROKER_URL.
worker: $(INSTALLED)
	$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2
