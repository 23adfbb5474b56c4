"""`python -m pipeline compile`: the YAML parses into the KFP pipeline spec proto, loads back with kfp and
recompiles to the same spec, and carries what a cluster needs (GPU + CPU/memory for train, its retry policy, the
gate and deploy_webapp conditions, the exit handler, the typed artifacts)."""
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from tests.conftest import REPO


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("compile") / "gh_summ.yaml"
    proc = subprocess.run([sys.executable, "-m", "pipeline", "compile", "--output", str(out)], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    docs = list(yaml.safe_load_all(out.read_text()))
    spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())
    return out, spec


def _dag(spec, component):
    return spec.components[component].dag


def _find_task(spec, name):
    """(task spec, the component whose dag holds it) for the task named name, anywhere in the nested dags."""
    dags = [("root", spec.root.dag)] + [(k, c.dag) for k, c in spec.components.items() if c.HasField("dag")]
    for owner, dag in dags:
        if name in dag.tasks:
            return dag.tasks[name], owner
    raise AssertionError("no task %s in the compiled pipeline" % name)


def test_parses_into_the_pipeline_spec(compiled):
    _, spec = compiled
    assert spec.pipeline_info.name == "gh-summ"
    params = spec.root.input_definitions.parameters
    for name in ("working_dir", "data", "new_data", "new_weight", "new_eval_percent", "checkpoint_dir", "train_steps",
                 "hparams_set", "hparams", "deploy_webapp", "model_name", "start_step", "run_id"):
        assert name in params, name
    assert "github_token" not in params  # a secret: from the environment, never a parameter
    executors = spec.deployment_spec["executors"]
    for step in ("init-run", "preprocess", "copy-checkpoint", "train", "export", "evaluate", "serve", "webapp",
                 "load-test", "finalize"):
        assert "exec-" + step in executors, step


def test_train_asks_for_a_gpu_cpu_memory_and_retries(compiled):
    _, spec = compiled
    resources = spec.deployment_spec["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceCount"] == "1"
    assert resources["accelerator"]["resourceType"]
    assert resources["resourceCpuRequest"] == "4" and resources["resourceMemoryRequest"] == "16G"
    task, _ = _find_task(spec, "train")
    assert task.retry_policy.max_retry_count == 3
    assert task.retry_policy.backoff_duration.seconds == 60 and task.retry_policy.backoff_factor == 2.0
    # the t2t steps run in the t2t image, the others in the app image
    images = {k: v["container"]["image"] for k, v in spec.deployment_spec["executors"].items() if "container" in v}
    assert "t2t" in images["exec-train"] and "t2t" in images["exec-export"] and "app" in images["exec-serve"]


def test_gate_and_webapp_conditions(compiled):
    _, spec = compiled
    conditions = {}
    dags = [spec.root.dag] + [c.dag for c in spec.components.values() if c.HasField("dag")]
    for dag in dags:
        for name, task in dag.tasks.items():
            if task.trigger_policy.condition:
                conditions[task.component_ref.name] = task.trigger_policy.condition
    gate = [c for c in conditions.values() if "evaluate-Output" in c]
    assert gate and "== 'true'" in gate[0]
    webapp = [k for k, c in conditions.items() if "deploy_webapp" in c]
    assert webapp and "webapp" in spec.components[webapp[0]].dag.tasks
    # serve sits under the gate; webapp under deploy_webapp, inside the gate, after serve
    serve_task, serve_owner = _find_task(spec, "serve")
    assert "evaluate-Output" in conditions[serve_owner]
    webapp_task, webapp_owner = _find_task(spec, "webapp")
    assert webapp_owner == webapp[0]
    assert webapp_task.inputs.parameters["server_url"].component_input_parameter == "pipelinechannel--serve-Output"


def test_exit_handler_always_records_the_status(compiled):
    _, spec = compiled
    final = spec.root.dag.tasks["finalize"]
    policy = pipeline_spec_pb2.PipelineTaskSpec.TriggerPolicy
    assert final.trigger_policy.strategy == policy.ALL_UPSTREAM_TASKS_COMPLETED
    handler = final.dependent_tasks[0]
    assert handler.startswith("exit-handler")
    assert final.inputs.parameters["status"].task_final_status.producer_task == handler
    for step in ("init-run", "preprocess", "train", "evaluate"):
        assert step in spec.components["comp-" + handler].dag.tasks, step


def test_loads_back_and_recompiles_to_the_same_spec(compiled, tmp_path):
    from kfp import compiler, components
    path, spec = compiled
    loaded = components.load_component_from_file(str(path))
    again = tmp_path / "again.yaml"
    compiler.Compiler().compile(loaded, str(again))
    spec2 = json_format.ParseDict(list(yaml.safe_load_all(again.read_text()))[0], pipeline_spec_pb2.PipelineSpec())
    spec.ClearField("sdk_version")
    spec2.ClearField("sdk_version")
    assert json_format.MessageToDict(spec2) == json_format.MessageToDict(spec)


def test_the_data_and_the_warm_start_checkpoint_enter_through_importers(compiled):
    _, spec = compiled
    executors = spec.deployment_spec["executors"]
    importers = {k: v["importer"] for k, v in executors.items() if "importer" in v}
    kinds = {imp["typeSchema"]["schemaTitle"]: imp for imp in importers.values()}
    assert set(kinds) == {"system.Dataset", "system.Model"}, importers
    # each importer's URI is a pipeline parameter, so a run chooses what it imports
    for task_name, param in (("importer", "data"), ("importer-2", "checkpoint_dir")):
        task, _ = _find_task(spec, task_name)
        uri = task.inputs.parameters["uri"]
        assert uri.component_input_parameter.endswith(param), (task_name, uri)
    # preprocess and copy_checkpoint consume the imported artifacts
    prep, _ = _find_task(spec, "preprocess")
    assert prep.inputs.artifacts["data"].task_output_artifact.producer_task == "importer"
    warm, _ = _find_task(spec, "copy-checkpoint")
    assert warm.inputs.artifacts["checkpoint"].task_output_artifact.producer_task == "importer-2"


def test_steps_output_kfp_artifact_types(compiled):
    """The run page's artifacts (components/artifacts.py): each step declares its typed outputs beside the run-dir
    path it returns as Output, and the next steps take them, so a cluster draws the lineage from the served model
    back to the data."""
    _, spec = compiled

    def artifact_outputs(component):
        return {name: a.artifact_type.schema_title
                for name, a in spec.components["comp-" + component].output_definitions.artifacts.items()}

    assert artifact_outputs("preprocess") == {"dataset": "system.Dataset"}
    assert artifact_outputs("train") == {"checkpoint": "system.Model"}
    assert artifact_outputs("export") == {"saved_model": "system.Model"}
    assert artifact_outputs("evaluate") == {"eval_metrics": "system.Metrics", "report": "system.HTML",
                                            "summary": "system.Markdown"}
    assert artifact_outputs("serve") == {"served_model": "system.Model"}
    assert artifact_outputs("load-test") == {"report": "system.HTML"}
    for component in ("preprocess", "train", "export", "evaluate", "serve", "load-test"):
        assert list(spec.components["comp-" + component].output_definitions.parameters) == ["Output"], component

    def takes(task_name, name):
        task, _ = _find_task(spec, task_name)
        source = task.inputs.artifacts[name]
        if source.HasField("task_output_artifact"):
            return source.task_output_artifact.producer_task, source.task_output_artifact.output_artifact_key
        return source.component_input_artifact  # inside a condition: the enclosing dag's input channel

    assert takes("train", "dataset") == ("preprocess", "dataset")
    assert takes("export", "checkpoint") == ("train", "checkpoint")
    assert takes("export", "dataset") == ("preprocess", "dataset")
    assert takes("evaluate", "saved_model") == ("export", "saved_model")
    assert takes("serve", "saved_model") == "pipelinechannel--export-saved_model"


def test_train_is_scheduled_on_a_spot_node_pool(compiled):
    """kfp-kubernetes puts the node selector and the toleration (pipeline parameters, GKE Spot by default) on
    train's pod; no other step carries them."""
    out, spec = compiled
    text = out.read_text()
    platform = list(yaml.safe_load_all(text))[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert list(platform) == ["exec-train"]
    assert platform["exec-train"]["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"].endswith(
        "train_node_selector")
    assert platform["exec-train"]["tolerations"][0]["tolerationJson"]["componentInputParameter"].endswith(
        "train_tolerations")
    params = spec.root.input_definitions.parameters
    assert json_format.MessageToDict(params["train_node_selector"].default_value) == {
        "cloud.google.com/gke-spot": "true"}
    assert json_format.MessageToDict(params["train_tolerations"].default_value) == [
        {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    for line in ("nodeSelectorJson:", "tolerationJson:", "cloud.google.com/gke-spot: 'true'",
                 "key: cloud.google.com/gke-spot", "effect: NoSchedule"):
        assert line in text, line
