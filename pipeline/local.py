"""Run the pipeline on this machine with kfp.local (SubprocessRunner, use_venv=False: every component runs in the
app environment, the t2t steps call the t2t environment's interpreter), then summarise the run from what its
exit handler recorded in working_dir/<run id>/status.json."""
from __future__ import annotations

import json
import os
import sys
import time

from components import STEPS, _deploy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _abs(path: str) -> str:
    return path if path in ("", "none") or "://" in path else os.path.abspath(path)


def absolutize(params: dict) -> dict:
    """Local paths in parameters made absolute (components run with the repo as working directory)."""
    params = dict(params)
    for key in ("working_dir", "checkpoint_dir", "baseline_metrics"):
        if params.get(key):
            params[key] = _abs(params[key])
    if params.get("data"):
        params["data"] = ",".join(_abs(p.strip()) for p in params["data"].split(",") if p.strip())
    return params


def run(params: dict, train_retries: int = 0, train_backoff: str = "10s") -> dict:
    """Runs gh_summ with these parameters (the pipeline's defaults for the rest); returns status.json's content
    (state SUCCEEDED / FAILED, steps, ...). The run id defaults to gh-summ-<local time>. train_retries: train's
    retries here (default none: a local failure is no lost node, and a retry would fail the same way)."""
    import warnings

    from kfp import local
    # kfp.local says, once per task, that display names, images and resources do nothing locally: we know.
    warnings.filterwarnings("ignore", module=r"kfp\.local\..*")

    params = absolutize(params)
    params.setdefault("working_dir", os.path.join(REPO, "work"))
    params["run_id"] = params.get("run_id") or time.strftime("gh-summ-%Y%m%d-%H%M%S")
    os.environ.setdefault("GHSUMM_T2T_PYTHON", os.path.join(REPO, ".venv", "t2t", "bin", "python"))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [REPO, os.environ.get("PYTHONPATH", "")] if p)
    working_dir = params["working_dir"]
    os.makedirs(working_dir, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=os.path.join(working_dir, ".kfp"),
               raise_on_error=False)
    from pipeline.gh_summ import make_pipeline
    gh_summ = make_pipeline(train_retries, train_backoff)
    start = time.time()
    print("== gh_summ run %s: working dir %s" % (params["run_id"], working_dir), flush=True)
    gh_summ(**params)
    run_dir = os.path.join(working_dir, params["run_id"])
    status = _read(os.path.join(run_dir, "status.json")) or {"state": "UNKNOWN (no status.json)", "steps": {}}
    status["wall_s"] = round(time.time() - start, 1)
    status.setdefault("run_dir", run_dir)
    return status


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def summary(status: dict, working_dir: str) -> str:
    steps = status.get("steps", {})
    lines = ["", "== run %s: %s in %.0f s" % (os.path.basename(status["run_dir"].rstrip("/")), status["state"],
                                               status.get("wall_s", 0)),
             "   outputs: %s" % status["run_dir"]]
    if status.get("failed_task") or status.get("error_message"):
        lines.append("   failed in %s: %s" % (status.get("failed_step") or status.get("failed_task"),
                                             (status.get("error_message") or "")[-2000:]))
    for line in status.get("rolled_back", []):
        lines.append("   rolled back: %s" % line)
    timed = ["%s %.0f s" % (s, steps[s]["seconds"]) for s in STEPS if s in steps and "seconds" in steps[s]]
    if timed:
        lines.append("   step times: " + ", ".join(timed))
    ev = steps.get("evaluate")
    if ev:
        lines.append("   evaluation (%s, gate: %s%s):" % (ev.get("report_path"), ev.get("gate"),
                                                          "; " + "; ".join(ev.get("gate_reasons", []))
                                                          if ev.get("gate_reasons") else ""))
        lines.append("     %-16s %8s %8s %8s" % ("", "ROUGE-1", "ROUGE-2", "ROUGE-L"))
        for name, r in ev.get("rouge", {}).items():
            lines.append("     %-16s %8.2f %8.2f %8.2f" % (name, r.get("rouge1", 0), r.get("rouge2", 0),
                                                            r.get("rougeL", 0)))
        promotion = ev.get("promotion")
        if promotion:
            lines.append("   promotion (rule %s): %s; new ROUGE-L %.2f vs served version %s %.2f"
                         % (promotion["rule"], "PROMOTED" if promotion["promote"] else "NOT promoted",
                            promotion["new_rouge_l"], promotion["served_version"], promotion["served_rouge_l"]))
    sv = steps.get("serve")
    if sv and status["state"] == "SUCCEEDED":
        lines.append("   model server: %s/v1/models/%s (version %s, gRPC %s, log %s)"
                     % (sv.get("rest_url"), sv.get("model_name"), sv.get("version"), sv.get("grpc_address"),
                        sv.get("log")))
        sample = sv.get("sample_request") or {}
        if sample:
            lines.append("   one request: %r -> %r (true title %r)" % (sample["body"][:70],
                                                                       _cut(sample["generated_title"], 100),
                                                                       sample["true_title"]))
    wa = steps.get("webapp")
    if wa and status["state"] == "SUCCEEDED":
        lines.append("   web app: %s" % (wa["url"] or "not deployed (python -m webapp is not in this checkout)"))
    if ev and ev.get("gate") == "false":
        lines.append("   the gate did not pass: nothing new was served")
    if any(_deploy.live_record(working_dir, n) for n in (status.get("steps", {}).get("serve", {}).get("model_name",
                                                                                                     "ghsumm"),
                                                        "webapp")):
        lines.append("   stop them: .venv/app/bin/python -m pipeline stop --working_dir %s" % working_dir)
    return "\n".join(lines)


def stop(working_dir: str) -> list[str]:
    """Stops the model servers and web app started by local runs in working_dir; returns what it stopped."""
    stopped = []
    serving = os.path.join(working_dir, "serving")
    for name in sorted(os.listdir(serving)) if os.path.isdir(serving) else []:
        if name.endswith(".process.json"):
            record = _read(os.path.join(serving, name)) or {}
            what = name[: -len(".process.json")]
            if _deploy.stop(record.get("pid")):
                stopped.append("%s (pid %s, %s)" % (what, record["pid"], record.get("rest_url") or record.get("url")))
            os.remove(os.path.join(serving, name))
    return stopped


def processes(working_dir: str) -> dict:
    serving = os.path.join(working_dir, "serving")
    out = {}
    for name in sorted(os.listdir(serving)) if os.path.isdir(serving) else []:
        if name.endswith(".process.json"):
            record = _deploy.live_record(working_dir, name[: -len(".process.json")])
            if record:
                out[name[: -len(".process.json")]] = record
    return out


if __name__ == "__main__":
    sys.exit("use python -m pipeline")
