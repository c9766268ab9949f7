# Local SAM runs without Docker (podman stand-in); included by the Makefile.
# Owned by the container/SAM work (issue 3). See docs/local.md.
# On a machine where a real Docker engine answers `docker info`, the same targets use it and
# the real public.ecr.aws/lambda/python:3.13; otherwise Debian's podman serves the Docker API
# on unix:///tmp/lamina-podman.sock and a stand-in base image is built from Debian packages,
# named localhost/lamina/lambda-python-standin:3.13 (never AWS's name): `sam build` builds
# the images on it (infra/local/sam-build.sh) and `sam local` runs the zip functions on it
# (local-api below).
# --skip-pull-image: local runs use the images `sam build` made (and, for the zip function,
# the runtime image already on the engine) instead of asking a registry for newer ones.

LOCAL_ENGINE := infra/local/engine.sh
WHEELS := build/wheels/requirements.txt
# The API Gateway event of `make local-invoke` (SAM-generated samples: tests/events/).
EVENT ?= tests/events/local_embed_http_api.json

.PHONY: wheels local-engine local-base-image local-build local-invoke local-api

$(WHEELS): pyproject.toml infra/local/wheels.py functions/requirements.lock \
		functions/requirements-sql.lock $(INSTALLED)
	$(BIN)/python -m infra.local.wheels --venv $(VENV) --out $(dir $@)

wheels: $(WHEELS)  ## download the images' runtime wheels (CPython 3.13 manylinux) to build/wheels

local-engine:  ## container engine: Docker if it answers, else podman (apt, containers.conf, service)
	$(LOCAL_ENGINE) setup

local-base-image: local-engine $(SAM) | $(INSTALLED)  ## podman: build the stand-in localhost/lamina/lambda-python-standin:3.13
	infra/local/base-image.sh $(VENV) $(SAM_VENV)

# The embedding image (functions/Dockerfile, target `embed`) bakes both embedding models,
# $(MODEL)'s int8 variant and $(E5)'s q4; the classify and image images their own; the ONNX
# image (target `generic`) $(SPAM)'s and $(LISTINGS)'s (the SQL model listing-ranker).
local-build: $(WHEELS) $(MODEL) $(E5) $(MODELS) local-base-image  ## wheels + engine + base image + sam build (-> .aws-sam/)
	LAMINA_VENV=$(VENV) $(LOCAL_ENGINE) run infra/local/sam-build.sh $(SAM)

local-invoke: local-build  ## sam local invoke EmbedFunction with an API Gateway event (EVENT=...)
	$(LOCAL_ENGINE) run $(SAM) local invoke EmbedFunction --event $(EVENT) --skip-pull-image

# `--warm-containers EAGER` starts a container for every function of the template, the zip
# BatchSubmitFunction included, which SAM CLI would run on
# public.ecr.aws/lambda/python:3.13-x86_64: with podman, `--invoke-image
# <ZipFunction>=<stand-in>` for each zip function (infra.local.standin_template).
local-api: local-build  ## sam local start-api on http://$(HOST):$(PORT) (PORT=... to change)
	standin=; if [ "$$($(LOCAL_ENGINE) detect)" = podman ]; then \
		standin="$$($(BIN)/python -m infra.local.standin_template invoke-images)" || exit 1; fi; \
	$(LOCAL_ENGINE) run $(SAM) local start-api --host $(HOST) --port $(PORT) \
		--warm-containers EAGER --skip-pull-image $$standin
