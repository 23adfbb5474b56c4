"""The soak test (serving/soak.py) in its short mode (about a minute): Locust against the web app (gunicorn, 2 workers)
on the tiny SavedModel while the model server is hot-swapped to version 2, then killed and restarted. Every failed
request falls in the outage and is a 503 with a message; the web app's RSS does not grow. `make soak` is the full
run (5 minutes) on the served model. Also the report's rules on made-up request logs (milliseconds)."""
import pytest

from benchmarks.tiny_model import publish_version
from serving import soak

pytestmark = pytest.mark.usefixtures("clean_webapp_env")


def test_short_soak_fails_only_inside_the_outage_and_memory_stays(tiny_title_model, tmp_path, capsys):
    export_dir, vocab = tiny_title_model
    base = tmp_path / "models" / "ghsumm"
    publish_version(export_dir, str(base), 5)
    report = soak.run(str(base), str(tmp_path / "soak"), duration_s=28, users=3, down_s=3, vocab=vocab)
    with capsys.disabled():
        print("\n" + soak.summary_text(report))
    assert report["passed"], soak.summary_text(report)
    assert report["ok"] > 20 and set(report["failures_by_cause"]) <= {"503 model_unavailable"}
    assert (tmp_path / "soak" / "report.json").exists() and (tmp_path / "soak" / "report.txt").exists()


def test_the_report_places_each_failure_against_the_outage():
    events = {"start": 0.0, "swap": 10.0, "kill": 20.0, "restarted": 30.0, "end": 50.0, "swapped_version": 2}

    def req(start, end, status=200, code="", message=""):
        return {"start": start, "end": end, "status": status, "code": code, "message": message}
    ok = [req(t, t + 1) for t in (1, 12, 40)]
    inside = [req(19.5, 21, 503, "model_unavailable", "The model server is down"), req(29, 32, 503, "model_unavailable", "down")]
    report = soak.analyse(ok + inside, events, [(0, 100.0), (10, 120.0), (50, 130.0)], rss_bound_mb=60)
    assert report["passed"] and report["failures_by_cause"] == {"503 model_unavailable": 2}
    assert report["outage"]["window_s"] == 10 + soak.RETRY_GRACE_S and report["rss_mb"]["start"] == 120.0
    outside = soak.analyse(ok + [req(40, 41, 503, "model_unavailable", "x")], events, [(0, 1.0)], 60)
    assert not outside["checks"]["failures only inside the outage"]
    bare = soak.analyse(ok + [req(25, 26, 502, "bad_response", "")], events, [(0, 1.0)], 60)
    assert not bare["checks"]["every failure a 503 with a message"]
    grown = soak.analyse(ok, events, [(0, 100.0), (10, 100.0), (50, 200.0)], 60)
    assert not grown["checks"]["RSS did not grow beyond the bound"] and not grown["passed"]
