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

.PHONY: envs run test bench load_test clean-envs
envs: $(APP_READY) $(T2T_READY)

# $(call make_env,VENV_DIR,PINS_NAME): a fresh venv with requirements/PINS_NAME.txt, then the packages installed
# without their declared dependencies (requirements/PINS_NAME-nodeps.txt), then this project (editable).
define make_env
	rm -rf $(1) && $(PYTHON) -m venv $(1)
	$(1)/bin/pip install -q $(PIP_FLAGS) --upgrade pip $(QUIET_PIP)
	$(1)/bin/pip install -q $(PIP_FLAGS) -r requirements/$(2).txt $(QUIET_PIP)
	$(1)/bin/pip install -q $(PIP_FLAGS) --no-deps -r requirements/$(2)-nodeps.txt $(QUIET_PIP)
	$(1)/bin/pip install -q $(PIP_FLAGS) --no-deps -e . $(QUIET_PIP)
	touch $@
endef

$(APP_READY):
	@echo "== creating the app environment in $(APP) (TF 2.21, kfp, Beam, Flask)"
	$(call make_env,$(APP),app)

$(T2T_READY):
	@echo "== creating the t2t environment in $(T2T) (TF 2.15.1 + tensor2tensor)"
	$(call make_env,$(T2T),t2t)

# Until the pipeline exists, `make run` runs what exists end to end on the bundled sample: preprocess, train a
# few steps (from scratch until a warm-start checkpoint ships), export, evaluate. TRAIN_STEPS=N to change.
TRAIN_STEPS ?= 200
run: envs
	$(APP)/bin/python -m data.preprocess --input data/sample/github_issues.csv --output_dir $(WORK)/data
	$(T2T)/bin/python -m trainer train --data_dir $(WORK)/data --model_dir $(WORK)/model --train_steps $(TRAIN_STEPS)
	$(T2T)/bin/python -m trainer export --model_dir $(WORK)/model --model_base_path $(WORK)/serving/ghsumm
	$(APP)/bin/python -m trainer.evaluate --saved_model $(WORK)/serving/ghsumm --data_dir $(WORK)/data --out $(WORK)/eval
	@echo "== produced, under $(WORK)/:"
	@echo "   data/     T2T vocabulary + TFRecord shards, eval_issues.jsonl, dead_letter.jsonl, stats.txt (report above)"
	@echo "   model/    checkpoints, TensorBoard summaries, loss_curve.png"
	@echo "   serving/ghsumm/<step>/  the SavedModel tensorflow/serving loads"
	@echo "   eval/     metrics.json, report.html (model vs lead baselines, samples), gate.txt"

# After `make run`: Locust against a model server started on the exported model; HTML report in work/load/.
load_test: envs
	$(APP)/bin/python -m serving.load_test --model_base_path $(WORK)/serving/ghsumm --out $(WORK)/load

test: envs
	$(APP)/bin/python -m pytest -q tests

bench: envs
	$(APP)/bin/python -m benchmarks

clean-envs:
	rm -rf $(VENV)
