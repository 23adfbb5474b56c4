# ghsumm: `make run` and `make test` create what they need (two pinned virtual environments under .venv/),
# then run. A second call reuses the environments; a change of pins (requirements/*.txt) rebuilds the one
# whose pins changed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
APP := $(VENV)/app
T2T := $(VENV)/t2t
# Each environment's stamp file is named by a hash of its pin files, so changed pins mean a new stamp name.
APP_HASH := $(shell cat requirements/app.txt requirements/app-nodeps.txt setup.py | sha1sum | cut -c1-12)
T2T_HASH := $(shell cat requirements/t2t.txt requirements/t2t-nodeps.txt setup.py | sha1sum | cut -c1-12)
APP_READY := $(APP)/.ready-$(APP_HASH)
T2T_READY := $(T2T)/.ready-$(T2T_HASH)
WORK ?= work

.PHONY: envs run test bench clean-envs
envs: $(APP_READY) $(T2T_READY)

$(APP_READY):
	@echo "== creating the app environment in $(APP) (TF 2.21, kfp, Beam, Flask)"
	rm -rf $(APP) && $(PYTHON) -m venv $(APP)
	$(APP)/bin/pip install -q --upgrade pip
	$(APP)/bin/pip install -q -r requirements/app.txt
	$(APP)/bin/pip install -q --no-deps -r requirements/app-nodeps.txt
	$(APP)/bin/pip install -q --no-deps -e .
	touch $@

$(T2T_READY):
	@echo "== creating the t2t environment in $(T2T) (TF 2.15.1 + tensor2tensor)"
	rm -rf $(T2T) && $(PYTHON) -m venv $(T2T)
	$(T2T)/bin/pip install -q --upgrade pip
	$(T2T)/bin/pip install -q -r requirements/t2t.txt
	$(T2T)/bin/pip install -q --no-deps -r requirements/t2t-nodeps.txt
	$(T2T)/bin/pip install -q --no-deps -e .
	touch $@

run: envs
	$(APP)/bin/python -m data.preprocess --input data/sample/github_issues_sample.csv --output_dir $(WORK)/data

test: envs
	$(APP)/bin/python -m pytest -q tests

bench: envs
	$(APP)/bin/python -m benchmarks

clean-envs:
	rm -rf $(VENV)
