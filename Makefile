# ghsumm: `make run` and `make test` create what they need (two pinned virtual environments under .venv/),
# then run. A second call reuses the environments; a change of pins (requirements/*.txt) rebuilds the one
# whose pins changed.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
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
# pip on this kind of machine warns once per package about local index folders it cannot use; hide only that.
PIP_FLAGS := --no-warn-script-location
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help envs run stop compile test bench adapt adapt-unseen quality load_test soak clean-envs
envs: $(APP_READY) $(T2T_READY) ## create the two pinned environments (.venv/app, .venv/t2t), or rebuild one whose pins changed

# `make help`: every target of this file with its `## ` description (a target without one is listed bare).
help: ## list the targets, one line each
	@awk '/^[a-z][a-zA-Z_-]*:/ { name = substr($$0, 1, index($$0, ":") - 1); i = index($$0, "## "); \
	     printf "  make %-11s %s\n", name, (i ? substr($$0, i + 3) : "") }' $(firstword $(MAKEFILE_LIST))

# $(call make_env,VENV_DIR,PINS_NAME): a fresh venv with requirements/PINS_NAME.txt, then the packages installed
# without their declared dependencies (requirements/PINS_NAME-nodeps.txt), then this project (editable; its build
# backend's advice about editable installs, 10 lines of asterisks, is silenced with PYTHONWARNINGS).
define make_env
	@rm -rf $(1) && $(PYTHON) -m venv $(1)
	@echo "   pip, then the pins of requirements/$(2).txt (minutes the first time; pip's cache after)"
	@$(1)/bin/pip install -q $(PIP_FLAGS) --upgrade pip $(QUIET_PIP)
	@$(1)/bin/pip install -q $(PIP_FLAGS) -r requirements/$(2).txt $(QUIET_PIP)
	@echo "   requirements/$(2)-nodeps.txt without their declared dependencies, then ghsumm itself (editable)"
	@$(1)/bin/pip install -q $(PIP_FLAGS) --no-deps -r requirements/$(2)-nodeps.txt $(QUIET_PIP)
	@PYTHONWARNINGS=ignore $(1)/bin/pip install -q $(PIP_FLAGS) --no-deps -e . $(QUIET_PIP)
	@touch $@
	@echo "   ready: $(1)"
endef

$(APP_READY):
	@echo "== creating the app environment in $(APP) (TF 2.21, kfp, Beam, Flask)"
	$(call make_env,$(APP),app)

$(T2T_READY):
	@echo "== creating the t2t environment in $(T2T) (TF 2.15.1 + tensor2tensor)"
	$(call make_env,$(T2T),t2t)

# `make run` is the whole gh_summ pipeline on this machine (kfp.local): preprocess the bundled sample, warm-start
# from the shipped model (data/warm_start/), train 200 more steps, export, evaluate, serve, web app.
# The model server and the web app keep running: `make stop` stops them. TRAIN_STEPS (a TOTAL, as in T2T)
# overrides the pipeline's default; RUN_ARGS passes more pipeline flags (--verbose: kfp.local's whole output, which
# otherwise goes to work/<run id>/logs/pipeline.log; the screen shows each step's start, progress and end).
TRAIN_STEPS ?=
RUN_ARGS ?=
run: envs ## the whole pipeline on this machine: bundled sample, 200 steps, serve, web app (TRAIN_STEPS, RUN_ARGS)
	$(APP)/bin/python -m pipeline run --local --working_dir $(WORK) $(if $(TRAIN_STEPS),--train_steps $(TRAIN_STEPS)) $(RUN_ARGS)

stop: envs ## stop the model server and web app that make run left running
	$(APP)/bin/python -m pipeline stop --working_dir $(WORK)

# gh_summ.yaml (KFP v2 IR) for Kubeflow Pipelines / Vertex AI
compile: envs ## gh_summ.yaml (KFP v2) for Kubeflow Pipelines / Vertex AI (GHSUMM_APP_IMAGE, GHSUMM_T2T_IMAGE)
	$(APP)/bin/python -m pipeline compile --output gh_summ.yaml

# After `make run`: Locust against a model server started on the exported model; HTML report in work/load/.
load_test: envs ## after make run: Locust against a model server on the last export (report in work/load)
	$(APP)/bin/python -m serving.load_test --model_base_path $(WORK)/serving/ghsumm --out $(WORK)/load

# After `make run`: 5 minutes of Locust against the web app while its model server is hot-swapped, killed and
# restarted (loopback; the served model is copied, never changed). Report: work/soak/report.json and report.txt.
# `make test` runs a 40 s version on the tiny test model (tests/test_soak.py).
SOAK_SECONDS ?= 300
soak: envs ## after make run: 5 min of load through a model swap, kill and restart (report in work/soak; SOAK_SECONDS)
	$(APP)/bin/python -m serving.soak --model_base_path $(WORK)/serving/ghsumm --out $(WORK)/soak --duration $(SOAK_SECONDS)

# The web app's end-to-end test drives Debian's chromium: tests/setup_browser.sh installs it when missing.
# Two pytest workers (pytest-xdist): most of a test's time is one busy core (Beam's DirectRunner, process
# start-ups, servers answering), so two at once use both cores. Tests that share one pipeline run are kept on one
# worker (xdist_group, --dist loadgroup). TEST_WORKERS=0 runs them in this process, one after another; the
# slowest are listed at the end.
TEST_WORKERS ?= 2
test: envs ## every test, two at once (TEST_WORKERS=0: one after another); installs chromium when missing
	bash tests/setup_browser.sh
	$(APP)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations 15 tests

# The shipped warm-start model's ROUGE against the lead baselines: bundled eval split and nlbse24 (work/quality/).
quality: envs ## the shipped model's ROUGE against the lead baselines: bundled sample and nlbse24
	$(APP)/bin/python -m trainer.quality --out $(WORK)/quality

bench: envs ## speed and memory, each as a ratio against a reference run (python -m benchmarks)
	$(APP)/bin/python -m benchmarks

# Does retraining pay (issue 32)? A pipeline run serves the model, then `pipeline retrain` on earlier issues of
# ../shared/data's dated sources must lift the later ones and be promoted within 15 min, and one on junk must be
# refused (benchmarks/adaptation.py; figures in $(WORK)/adaptation/adaptation.json). ADAPT_ARGS: its flags, e.g.
# ADAPT_ARGS="--max_new 40 --max_later 40 --more_steps 5" for a quick run (python -m benchmarks adaptation --help).
ADAPT_ARGS ?=
adapt: envs ## does retraining on new issues lift later ones, and is junk refused? (~45 min; ADAPT_ARGS)
	$(APP)/bin/python -m benchmarks adaptation --work $(WORK)/adaptation $(ADAPT_ARGS)

adapt-unseen: envs ## the same for projects the model never saw: trains a base without them first (~1.5 h)
	$(APP)/bin/python -m benchmarks adaptation --unseen --work $(WORK)/adaptation-unseen $(ADAPT_ARGS)

clean-envs: ## remove both environments
	rm -rf $(VENV)
