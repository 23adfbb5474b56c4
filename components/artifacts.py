"""The pipeline's outputs as KFP's own artifact types, so a cluster's run page shows them (and kfp.local records
them in pipeline_root/<run>/<task>/executor_output.json):

  preprocess  Dataset   the data dir; its counts from stats.json (read_rows ... train, eval), the vocabulary size
  train       Model     the checkpoint dir; its newest step; the Dataset it trained on
  export      Model     the SavedModel version; the checkpoint Model and the Dataset it came from
  evaluate    Metrics   ROUGE-1/2/L of the model and of each baseline, distinct titles, the gate (1 passed, 0 not)
              HTML      report.html;  Markdown  a summary (the ROUGE table, the gate and why)
  serve       Model     the served version; the exported Model it was published from
  load_test   HTML      Locust's report

The run directory (components/rundir.py) stays where the steps hand their outputs to each other. A Dataset or Model
artifact stays at the URI KFP gives it (under the pipeline root: a KFP launcher uploads only what lies there) and
holds a small JSON file naming the run-dir location; its metadata carries the same "path", the figures, and the
URIs of the upstream artifacts ("data", "checkpoint", "export"), so lineage is followed from the served model back
to its data. HTML and Markdown artifacts hold the page itself (the UI shows the file at the URI).

Each function takes the component's artifact objects (anything with .metadata, .path and .uri) and plain values,
sets the metadata and writes the file; it returns the metadata."""
from __future__ import annotations

import json
import os

from data import contract, files
from trainer.evaluate import ROUGE_TYPES

GATE_METRIC = "gate_passed"


def _write(artifact, text: str) -> None:
    os.makedirs(os.path.dirname(artifact.path), exist_ok=True)
    with open(artifact.path, "w", encoding="utf-8") as f:
        f.write(text)


def pointer(artifact, path: str, **metadata) -> dict:
    """Sets artifact.metadata to {"path": path, **metadata} and writes it as the artifact's file."""
    artifact.metadata.update(dict(metadata, path=path))
    _write(artifact, json.dumps(artifact.metadata, indent=2, sort_keys=True) + "\n")
    return dict(artifact.metadata)


def dataset(artifact, data_dir: str, source: str = "") -> dict:
    """preprocess's Dataset: the data dir, with stats.json's counts (its "steps") and the vocabulary size."""
    stats = files.read_json(os.path.join(data_dir, "stats.json"), {}) or {}
    counts = dict(stats.get("steps", {}))
    vocabulary = stats.get("vocabulary", {})
    if vocabulary.get("size") is not None:
        counts["vocab_size"] = vocabulary["size"]
    return pointer(artifact, data_dir, source=source, **counts)


def checkpoint_step(model_dir: str):
    """The newest checkpoint's global step in a model dir (None without one)."""
    try:
        return contract.checkpoint_step(files.read_text(os.path.join(model_dir, "checkpoint")))
    except OSError:
        return None


def checkpoint(artifact, model_dir: str, data, hparams_set: str = "", warm_start: str = "") -> dict:
    """train's Model: the checkpoint dir at its newest step; data: the Dataset artifact it trained on."""
    return pointer(artifact, model_dir, step=checkpoint_step(model_dir), hparams_set=hparams_set,
                   warm_start=warm_start, data=data.uri, data_path=data.metadata.get("path", ""))


def saved_model(artifact, version_path: str, checkpoint_model, data) -> dict:
    """export's Model: the SavedModel version dir; the checkpoint Model and the Dataset it came from."""
    version = os.path.basename(version_path.rstrip("/"))
    return pointer(artifact, version_path, version=int(version) if version.isdigit() else version,
                   checkpoint=checkpoint_model.uri, checkpoint_path=checkpoint_model.metadata.get("path", ""),
                   data=data.uri, data_path=data.metadata.get("path", ""))


def served_model(artifact, serve_record: dict, exported) -> dict:
    """serve's Model: the version published under the model base path; the exported Model it came from."""
    path = os.path.join(serve_record["base_path"], str(serve_record["version"]))
    return pointer(artifact, path, version=serve_record["version"], model_name=serve_record.get("model_name", ""),
                   rest_url=serve_record.get("rest_url", ""), export=exported.uri,
                   export_path=serve_record.get("source", exported.metadata.get("path", "")))


def metric_values(metrics: dict, gate: str) -> dict:
    """The scalars the run page shows: <model or baseline>_<rouge type> for each row of metrics.json's ROUGE table,
    distinct_titles, distinct_ratio, eval_issues, and gate_passed (the step's final gate, promotion included)."""
    values = {"%s_%s" % (name, kind): round(float(scores[kind]), 4)
              for name, scores in metrics.get("rouge", {}).items() for kind in ROUGE_TYPES if kind in scores}
    collapse = metrics.get("collapse", {})
    if "distinct_titles" in collapse:
        values["distinct_titles"] = collapse["distinct_titles"]
        values["distinct_ratio"] = round(float(collapse["distinct_ratio"]), 4)
    if "n_issues" in metrics.get("data", {}):
        values["eval_issues"] = metrics["data"]["n_issues"]
    values[GATE_METRIC] = 1 if gate == "true" else 0
    return values


def summary_markdown(metrics: dict, gate: str, reasons: list, promotion: dict | None = None) -> str:
    """A short Markdown summary of an evaluation: the model's version, the ROUGE table, distinct titles, the gate
    and its reasons, the promotion decision when a version was already served."""
    model, data, collapse = metrics.get("model", {}), metrics.get("data", {}), metrics.get("collapse", {})
    lines = ["# Evaluation: model version %s" % model.get("version", "?"), "",
             "%s eval issues; gate: **%s**" % (data.get("n_issues", "?"), "passed" if gate == "true" else "failed"),
             "", "| | ROUGE-1 | ROUGE-2 | ROUGE-L |", "|---|---:|---:|---:|"]
    for name, scores in metrics.get("rouge", {}).items():
        lines.append("| %s | %s |" % (name, " | ".join("%.2f" % scores.get(k, 0.0) for k in ROUGE_TYPES)))
    if collapse:
        lines += ["", "Distinct generated titles: %d of %s; most common (%.0f%%): \"%s\""
                  % (collapse.get("distinct_titles", 0), data.get("n_issues", "?"),
                     100 * collapse.get("most_common_share", 0.0), collapse.get("most_common_title", ""))]
    lines += ["", "Gate:"] + ["- %s" % r for r in reasons]
    if promotion:
        lines += ["", "Promotion (rule %s): %s" % (promotion.get("rule", ""),
                                                   "promoted" if promotion.get("promote") else "not promoted")]
    return "\n".join(lines) + "\n"


def evaluation(metrics_artifact, report_artifact, summary_artifact, record: dict) -> dict:
    """evaluate's Metrics (metric_values), HTML (report.html) and Markdown (summary_markdown), from its step record
    (gate, gate_reasons, promotion, and the paths of metrics.json and report.html in the run dir); returns the
    metric values."""
    metrics = files.read_json(record["metrics_path"], {}) or {}
    values = metric_values(metrics, record["gate"])
    for name, value in values.items():
        metrics_artifact.log_metric(name, value)
    html_report(report_artifact, record["report_path"])
    _write(summary_artifact, summary_markdown(metrics, record["gate"], record.get("gate_reasons", []),
                                              record.get("promotion")))
    return values


def html_report(artifact, report_path: str) -> None:
    """An HTML artifact holding the page at report_path (local or gs://); its metadata names that path."""
    artifact.metadata["path"] = report_path
    _write(artifact, files.read_text(report_path))
