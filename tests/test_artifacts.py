"""components/artifacts.py: the pipeline's outputs as KFP artifacts (kfp's own Dataset, Model, Metrics, HTML and
Markdown classes, on local URIs as kfp.local gives them): the metadata each gets from the run dir's files, the file
each holds, and the lineage from the served model back to its data. The kfp.local run checks the same artifacts in
tests/test_pipeline_local.py. Seconds (the Dataset test preprocesses 300 sample issues with Beam, shared)."""
import json

from kfp import dsl

from components import artifacts

METRICS = {
    "model": {"saved_model": "/w/run/export/5", "version": "5"},
    "data": {"n_issues": 10},
    "rouge": {"model": {"rouge1": 21.5, "rouge2": 7.25, "rougeL": 20.125},
              "lead_12_words": {"rouge1": 19.0, "rouge2": 6.0, "rougeL": 18.0},
              "first_sentence": {"rouge1": 17.0, "rouge2": 5.5, "rougeL": 16.0}},
    "collapse": {"distinct_titles": 9, "distinct_ratio": 0.9, "most_common_title": "crash on start",
                 "most_common_count": 2, "most_common_share": 0.2},
    "gate": {"passed": True, "reasons": ["no threshold and no previous metrics: passes"]},
}


def _new(cls, tmp_path, name):
    return cls(name=name, uri=str(tmp_path / "pipeline_root" / "task" / name), metadata={})


def test_dataset_carries_the_counts_of_stats_json(preprocessed_sample, tmp_path):
    stats = json.loads((preprocessed_sample / "stats.json").read_text())
    dataset = _new(dsl.Dataset, tmp_path, "dataset")
    meta = artifacts.dataset(dataset, str(preprocessed_sample), source="/data/issues.csv")
    for name, count in stats["steps"].items():
        assert meta[name] == count, name
    assert meta["train"] > 200 and meta["eval"] > 10
    assert meta["vocab_size"] == stats["vocabulary"]["size"] > 0
    assert meta["path"] == str(preprocessed_sample) and meta["source"] == "/data/issues.csv"
    # the artifact's own file (what a cluster uploads to its URI) says the same
    assert json.loads(open(dataset.path).read()) == meta == dataset.metadata


def test_lineage_from_the_served_model_back_to_its_data(tmp_path):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-205"\n'
                                              'all_model_checkpoint_paths: "model.ckpt-205"\n')
    dataset = _new(dsl.Dataset, tmp_path, "dataset")
    artifacts.dataset(dataset, str(run / "data"))  # no stats.json: only the path
    assert dataset.metadata["path"] == str(run / "data")

    checkpoint = _new(dsl.Model, tmp_path, "checkpoint")
    meta = artifacts.checkpoint(checkpoint, str(run / "model"), dataset, "transformer_ghsumm_write", "data/warm_start")
    assert meta["step"] == 205 and meta["data"] == dataset.uri and meta["data_path"] == str(run / "data")
    assert meta["warm_start"] == "data/warm_start" and meta["hparams_set"] == "transformer_ghsumm_write"

    saved = _new(dsl.Model, tmp_path, "saved_model")
    meta = artifacts.saved_model(saved, str(run / "export" / "205"), checkpoint, dataset)
    assert meta["version"] == 205 and meta["path"] == str(run / "export" / "205")
    assert meta["checkpoint"] == checkpoint.uri and meta["checkpoint_path"] == str(run / "model")
    assert meta["data"] == dataset.uri

    served = _new(dsl.Model, tmp_path, "served_model")
    record = {"version": 205, "base_path": "/w/serving/ghsumm", "source": str(run / "export" / "205"),
              "model_name": "ghsumm", "rest_url": "http://127.0.0.1:8501"}
    meta = artifacts.served_model(served, record, saved)
    assert meta["path"] == "/w/serving/ghsumm/205" and meta["version"] == 205
    assert meta["export"] == saved.uri and meta["export_path"] == str(run / "export" / "205")
    assert meta["rest_url"] == "http://127.0.0.1:8501" and meta["model_name"] == "ghsumm"
    assert json.loads(open(served.path).read()) == meta


def test_checkpoint_step_is_none_without_a_checkpoint(tmp_path):
    assert artifacts.checkpoint_step(str(tmp_path)) is None


def test_evaluation_metrics_report_and_summary(tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps(METRICS))
    (out / "report.html").write_text("<html><body>the report</body></html>")
    record = {"gate": "false", "gate_reasons": ["ROUGE-L 20.12 >= threshold 5.00", "promotion: served is better"],
              "metrics_path": str(out / "metrics.json"), "report_path": str(out / "report.html"),
              "promotion": {"rule": "at_least_as_good", "promote": False}}
    metrics, report, summary = (_new(dsl.Metrics, tmp_path, "eval_metrics"), _new(dsl.HTML, tmp_path, "report"),
                                _new(dsl.Markdown, tmp_path, "summary"))
    values = artifacts.evaluation(metrics, report, summary, record)
    assert metrics.metadata == values
    assert values["model_rougeL"] == 20.125 and values["model_rouge1"] == 21.5 and values["model_rouge2"] == 7.25
    assert values["lead_12_words_rougeL"] == 18.0 and values["first_sentence_rouge1"] == 17.0
    assert values["distinct_titles"] == 9 and values["distinct_ratio"] == 0.9 and values["eval_issues"] == 10
    assert values[artifacts.GATE_METRIC] == 0  # the step's gate (promotion said no), not metrics.json's
    assert all(isinstance(v, (int, float)) for v in values.values())  # the run page's scalar metrics
    assert open(report.path).read() == "<html><body>the report</body></html>"
    assert report.metadata["path"] == str(out / "report.html")
    text = open(summary.path).read()
    assert text.startswith("# Evaluation: model version 5")
    assert "| model | 21.50 | 7.25 | 20.12 |" in text and "| lead_12_words | 19.00 | 6.00 | 18.00 |" in text
    assert "gate: **failed**" in text and "- promotion: served is better" in text and "not promoted" in text
    assert 'Distinct generated titles: 9 of 10; most common (20%): "crash on start"' in text


def test_html_report_holds_the_page(tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<html>locust</html>")
    report = _new(dsl.HTML, tmp_path, "report")
    artifacts.html_report(report, str(page))
    assert open(report.path).read() == "<html>locust</html>" and report.metadata == {"path": str(page)}
