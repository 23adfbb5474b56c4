"""The gh_summ pipeline (KFP v2), read top to bottom like the flow:

    [exit handler: finalize]
        init_run -> preprocess -> copy_checkpoint -> train -> export -> evaluate
            if gate == 'true':  serve -> (if deploy_webapp == 'true') webapp
                                      -> (if run_load_test == 'true') load_test

Every output goes under working_dir/<run id>/ (run id: run_id, else the KFP job name); the model versions go
under one model base path, working_dir/serving/<model_name>/, which the server hot-loads. train asks for one GPU,
CPU and memory, and retries with backoff (preemptible nodes); it resumes from its newest checkpoint, so a retry
continues where the last attempt stopped. On a cluster train is also scheduled on a Spot (preemptible) node pool:
train_node_selector (node labels) and train_tolerations (the pool's taints) go into its pod with kfp-kubernetes;
their defaults match GKE's Spot pools, {} and [] schedule it anywhere; kfp.local ignores them
(docs/pipeline.md, "Train on Spot nodes"). finalize always runs and writes working_dir/<run id>/status.json.
start_step (with run_id of an earlier run) reuses that run's outputs for the steps before it.
When a version is already served, evaluate also scores it on the same eval issues and promote_rule
(at_least_as_good, always, never, min_improvement:X, better_on_new[:K]) decides from paired comparisons whether the
new model is served (trainer/promotion.py); it also compares the model with the checkpoint the run started from.

The steps hand each other run-dir paths (each step's output named Output) and also output KFP's own types, for a
cluster's run page: preprocess a Dataset (the data dir, its counts), train a Model (the checkpoint, its step),
export a Model (the SavedModel version) that evaluate and serve take, evaluate Metrics (ROUGE of the model and the
baselines, distinct titles, the gate), its HTML report and a Markdown summary, serve a Model (the served version),
load_test its HTML report. Each Dataset and Model names its run-dir path and the upstream artifacts' URIs in its
metadata, so lineage runs from the served model back to its export, checkpoint and data (components/artifacts.py).

The existing artifacts enter through dsl.importer nodes, as in the seeds: `data` (input files, comma-separated,
or a preprocessed data dir) as a Dataset and `checkpoint_dir` (the warm start) as a Model. A retrain's new issues
come as `new_data` (files, comma-separated; "" none): preprocess writes their train examples new_weight times and
holds new_eval_percent of them out as a second eval set (data/preprocess.py --new_input). The default
checkpoint_dir is the shipped warm-start model, data/warm_start/ (a slim checkpoint, its vocabulary and
hyper-parameter set), and the default train_steps is its step + 200, like the codelab's short continued
training. checkpoint_dir "" or "none" trains from scratch. On a cluster both must be URIs the cluster reads
(gs://...): upload data/warm_start (`gsutil -m cp -r data/warm_start gs://BUCKET/`) and pass its URI.

The GitHub token is never a parameter: the web app reads GITHUB_TOKEN from its environment (a Secret on a
cluster).
"""
import inspect
import os

from kfp import dsl, kubernetes

from data import contract

from components.copy_checkpoint import copy_checkpoint
from components.evaluate import evaluate
from components.export import export
from components.finalize import finalize
from components.init_run import init_run
from components.load_test import load_test
from components.preprocess import preprocess
from components.serve import serve
from components.train import train
from components.webapp import webapp
from data.project import REPO
from trainer import continuation

WARM_START = "data/warm_start"  # relative to the repository (and to the images' working directory)
MORE_STEPS = continuation.PIPELINE_MORE_STEPS


def warm_start() -> tuple[int, str]:
    """The shipped warm start's step and hyper-parameter set; (0, the tiny set) when none ships."""
    import json
    path = os.path.join(REPO, WARM_START)
    try:
        with open(os.path.join(path, "checkpoint")) as f:
            step = contract.checkpoint_step(f.read())
        if step is None:
            raise ValueError("no checkpoint")
        with open(os.path.join(path, contract.MODEL_CARD_FILE)) as f:
            return step, json.load(f)["hparams_set"]
    except (OSError, AttributeError, KeyError, ValueError):
        return 0, "transformer_ghsumm_tiny"


def __getattr__(name: str):
    """WARM_STEP, WARM_HPARAMS_SET and gh_summ are computed when asked for, not when this module is imported
    (they read the shipped warm start's files)."""
    if name in ("WARM_STEP", "WARM_HPARAMS_SET"):
        return warm_start()[name == "WARM_HPARAMS_SET"]
    if name == "gh_summ":
        return make_pipeline()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

# What train asks a cluster for (KFP open source: an extended resource name; Vertex AI: e.g. NVIDIA_TESLA_T4).
ACCELERATOR = os.environ.get("GHSUMM_ACCELERATOR", "nvidia.com/gpu")
TRAIN_CPU, TRAIN_MEMORY = "4", "16G"
TRAIN_RETRIES, TRAIN_BACKOFF = 3, "60s"
# Where train runs on a cluster: GKE labels Spot nodes cloud.google.com/gke-spot=true (preemptible ones
# cloud.google.com/gke-preemptible=true) and a Spot pool is tainted with the same key to keep other pods off it.
SPOT_LABEL = "cloud.google.com/gke-spot"
TRAIN_NODE_SELECTOR = {SPOT_LABEL: "true"}
TRAIN_TOLERATIONS = [{"key": SPOT_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}]


def make_pipeline(train_retries: int = TRAIN_RETRIES, train_backoff: str = TRAIN_BACKOFF):
    """The pipeline with train's retry policy set (a cluster: 3 retries from 60 s, doubling, for preemptible
    nodes; the local run uses none by default: a failure there is not a lost node and would repeat). Its
    defaults continue the shipped warm start, read now."""
    warm_step, warm_hparams_set = warm_start()

    @dsl.pipeline(name="gh-summ", description="GitHub issue summarization: preprocess, warm-start, train, export, "
                                              "evaluate, serve and (optionally) the web app")
    def gh_summ(
        working_dir: str = "work",
        data: str = "data/sample/github_issues.csv,data/sample/github_issues_dev.csv",
        new_data: str = "",
        new_weight: int = 2,
        new_eval_percent: float = 20.0,
        checkpoint_dir: str = WARM_START if warm_step else "",
        train_steps: int = warm_step + MORE_STEPS,
        hparams_set: str = warm_hparams_set,
        hparams: str = "",
        gpus: int = 1,
        deploy_webapp: str = "true",
        model_name: str = "ghsumm",
        eval_max_issues: int = 0,
        min_rouge_l: float = 0.0,
        baseline_metrics: str = "",
        promote_rule: str = "at_least_as_good",
        run_load_test: str = "false",
        load_test_users: int = 4,
        load_test_time: str = "20s",
        beam_args: str = "",
        deploy_target: str = "auto",
        run_id: str = "",
        start_step: str = "preprocess",
        train_node_selector: dict = TRAIN_NODE_SELECTOR,
        train_tolerations: list = TRAIN_TOLERATIONS,
    ):
        # The exit handler may depend on no task: it finds the run dir from the same parameters as init_run.
        final = finalize(working_dir=working_dir, run_id=run_id, job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER)
        final.set_display_name("record status").set_caching_options(False)

        with dsl.ExitHandler(final, name="gh-summ-run"):
            run = init_run(working_dir=working_dir, run_id=run_id, job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                           start_step=start_step, data=data, new_data=new_data, new_weight=new_weight,
                           new_eval_percent=new_eval_percent, checkpoint_dir=checkpoint_dir, train_steps=train_steps,
                           hparams_set=hparams_set, hparams=hparams, model_name=model_name,
                           deploy_webapp=deploy_webapp, promote_rule=promote_rule)
            run.set_display_name("init run").set_caching_options(False)
            run_dir = run.output

            # The existing artifacts enter through importers, as in the seeds: the input data (files, or a
            # preprocessed data dir) and the warm-start checkpoint.
            data_in = dsl.importer(artifact_uri=data, artifact_class=dsl.Dataset, reimport=False,
                                   metadata={"role": "issue data (files or a preprocessed data dir)"})
            data_in.set_display_name("import data")
            warm_in = dsl.importer(artifact_uri=checkpoint_dir, artifact_class=dsl.Model, reimport=False,
                                   metadata={"role": "warm-start checkpoint"})
            warm_in.set_display_name("import checkpoint")

            # A step with artifacts returns its run-dir path as the output named Output (what the next steps read)
            # and its typed artifacts (Dataset, Model, Metrics, HTML, Markdown) under their own names.
            prep = preprocess(run_dir=run_dir, data=data_in.output, checkpoint=warm_in.output, new_data=new_data,
                              new_weight=new_weight, new_eval_percent=new_eval_percent, beam_args=beam_args,
                              start_step=start_step)
            prep.set_display_name("preprocess")
            data_dir, dataset = prep.outputs["Output"], prep.outputs["dataset"]

            warm = copy_checkpoint(run_dir=run_dir, data_dir=data_dir, checkpoint=warm_in.output,
                                   hparams_set=hparams_set, hparams=hparams, start_step=start_step)
            warm.set_display_name("copy checkpoint")

            trained = train(run_dir=run_dir, data_dir=data_dir, model_dir=warm.output, train_steps=train_steps,
                            hparams_set=hparams_set, hparams=hparams, gpus=gpus, start_step=start_step,
                            dataset=dataset)
            (trained.set_display_name("train")
             .set_accelerator_type(ACCELERATOR).set_accelerator_limit(1)
             .set_cpu_request(TRAIN_CPU).set_memory_request(TRAIN_MEMORY)
             .set_retry(num_retries=train_retries, backoff_duration=train_backoff, backoff_factor=2.0))
            kubernetes.add_node_selector_json(trained, train_node_selector)
            kubernetes.add_toleration_json(trained, train_tolerations)

            exported = export(run_dir=run_dir, model_dir=trained.outputs["Output"], start_step=start_step,
                              checkpoint=trained.outputs["checkpoint"], dataset=dataset)
            exported.set_display_name("export")
            export_dir, saved_model = exported.outputs["Output"], exported.outputs["saved_model"]

            scored = evaluate(run_dir=run_dir, export_dir=export_dir, data_dir=data_dir,
                              max_issues=eval_max_issues, min_rouge_l=min_rouge_l, baseline_metrics=baseline_metrics,
                              start_step=start_step, working_dir=working_dir, model_name=model_name,
                              promote_rule=promote_rule, saved_model=saved_model)
            scored.set_display_name("evaluate")

            # The gate: evaluate's output named Output (kfp.local skips a dsl.If on any other named output).
            with dsl.If(scored.outputs["Output"] == "true", name="gate-passed"):
                served = serve(run_dir=run_dir, working_dir=working_dir, export_dir=export_dir,
                               data_dir=data_dir, model_name=model_name, deploy_target=deploy_target,
                               saved_model=saved_model)
                served.set_display_name("serve").set_caching_options(False)
                server_url = served.outputs["Output"]

                with dsl.If(deploy_webapp == "true", name="deploy-webapp"):
                    page = webapp(run_dir=run_dir, working_dir=working_dir, server_url=server_url,
                                  data_dir=data_dir, model_name=model_name, deploy_target=deploy_target)
                    page.set_display_name("webapp").set_caching_options(False)

                with dsl.If(run_load_test == "true", name="load-test"):
                    load = load_test(run_dir=run_dir, server_url=server_url, model_name=model_name,
                                     users=load_test_users, run_time=load_test_time)
                    load.set_display_name("load test").set_caching_options(False)

    return gh_summ


def parameters() -> dict:
    """The pipeline's parameters with their defaults."""
    return {name: p.default for name, p in inspect.signature(make_pipeline().pipeline_func).parameters.items()}


def compile_pipeline(output: str) -> str:
    """Writes the pipeline's KFP v2 YAML (what `python -m pipeline compile` does); returns its path."""
    from kfp import compiler
    compiler.Compiler().compile(make_pipeline(), output)
    return output
