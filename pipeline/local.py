"""Run the pipeline on this machine with kfp.local (SubprocessRunner, use_venv=False: every component runs in the
app environment, the t2t steps call the t2t environment's interpreter), then summarise the run from what its
exit handler recorded in working_dir/<run id>/status.json.

What a run prints: one line when each step starts, its progress (data.project.StoryLines: the step's own lines
and our CLIs' log lines), one line when it ends with its time and its log, then the summary. kfp.local's whole
output (its own log, each task's executor input and outputs, every line the steps' commands print: TensorFlow's
logs, library warnings) goes to <run dir>/logs/pipeline.log; verbose (--verbose, GHSUMM_VERBOSE=1) also prints
it as it comes."""
from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import time

from components import STEPS, rundir
from data import files, project
from data.project import REPO
from serving import launch
from trainer.promotion import format_comparison


def _abs(path: str) -> str:
    return path if path in ("", "none") or "://" in path else os.path.abspath(path)


def absolutize(params: dict) -> dict:
    """Local paths in parameters made absolute (components run with the repo as working directory)."""
    params = dict(params)
    for key in ("working_dir", "checkpoint_dir", "baseline_metrics"):
        if params.get(key):
            params[key] = _abs(params[key])
    for key in ("data", "new_data"):
        if params.get(key):
            params[key] = ",".join(_abs(p.strip()) for p in params[key].split(",") if p.strip())
    return params


# kfp.local's log lines when a task starts and ends (its colours taken out), and the indent of a task's output.
_KFP_TASK = re.compile(r"^[\d:.]+ - [A-Z]+ - (?:Executing task '(?P<started>[\w-]+)'"
                       r"|Task '(?P<ended>[\w-]+)' finished with status (?P<status>\w+))")
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
_TASK_INDENT = "    "


def verbose_default() -> bool:
    return os.environ.get("GHSUMM_VERBOSE", "") not in ("", "0")


class _Screen(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr while kfp.local runs the pipeline: every line goes to the run's log;
    the screen gets a line when a step starts, its story (project.StoryLines), a line when it ends with its time and
    log (when it failed, also the last line its task printed: the error); or, verbose, every line."""

    def __init__(self, screen, log, run_dir: str, verbose: bool):
        super().__init__()
        self.screen, self.log, self.run_dir, self.verbose = screen, log, run_dir, verbose
        self.partial, self.story, self.started, self.last = "", project.StoryLines(), {}, ""

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.verbose:
            self.screen.write(text)
            return len(text)
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            shown = self.pick(_COLOURS.sub("", line))
            if shown:
                self.screen.write(shown + "\n")
        return len(text)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.log.flush()
        self.screen.flush()

    def pick(self, line: str) -> str | None:
        if line.startswith(_TASK_INDENT):
            self.last = line.strip() or self.last
            return self.story.pick(line[len(_TASK_INDENT):])
        task = _KFP_TASK.match(line)
        if not task:
            return None
        step = (task.group("started") or task.group("ended")).replace("-", "_")
        if task.group("started"):
            self.story, self.started[step], self.last = project.StoryLines(), time.time(), ""
            return "[%s] started" % step if step in STEPS else None
        seconds = time.time() - self.started.pop(step, time.time())
        if task.group("status") == "SUCCESS":
            return "[%s] done in %.0f s (log %s)" % (step, seconds, self.log_of(step)) if step in STEPS else None
        return "[%s] FAILED after %.0f s: %s (log %s)" % (step, seconds, self.last[:300], self.log_of(step))

    def log_of(self, step: str) -> str:
        """The step's own log (its commands' output) when it has one, else the run's."""
        path = rundir.log_path(self.run_dir, step)
        return path if path and os.path.exists(path) else self.log.name


def run(params: dict, train_retries: int = 0, train_backoff: str = "10s", verbose: bool | None = None) -> dict:
    """Runs gh_summ with these parameters (the pipeline's defaults for the rest); returns status.json's content
    (state SUCCEEDED / FAILED, steps, ...). The run id defaults to gh-summ-<local time>. train_retries: train's
    retries here (default none: a local failure is no lost node, and a retry would fail the same way). verbose
    (default: GHSUMM_VERBOSE set, not 0): print kfp.local's whole output, not only each step's story."""
    import warnings

    from kfp import local
    # kfp.local says, once per task, that display names, images and resources do nothing locally: we know.
    warnings.filterwarnings("ignore", module=r"kfp\.local\..*")

    params = absolutize(params)
    params.setdefault("working_dir", os.path.join(REPO, "work"))
    params["run_id"] = params.get("run_id") or time.strftime("gh-summ-%Y%m%d-%H%M%S")
    working_dir = params["working_dir"]
    files.makedirs(working_dir)
    # kfp.local's own outputs (executor input and output) are local files: beside the runs, or for a gs:// working
    # dir in this machine's temporary dir
    kfp_root = (os.path.join(tempfile.gettempdir(), "ghsumm-kfp") if files.is_remote(working_dir)
                else os.path.join(working_dir, ".kfp"))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=kfp_root, raise_on_error=False)
    from pipeline.gh_summ import make_pipeline
    gh_summ = make_pipeline(train_retries, train_backoff)
    start = time.time()
    run_dir = rundir.run_dir_for(working_dir, params["run_id"])
    log_path = rundir.log_path(run_dir, "pipeline") or os.path.join(tempfile.gettempdir(),
                                                                    params["run_id"] + ".pipeline.log")
    verbose = verbose_default() if verbose is None else verbose
    print("== gh_summ run %s: working dir %s" % (params["run_id"], working_dir), flush=True)
    print("   kfp.local's whole output: %s%s" % (log_path, "" if verbose else " (--verbose prints it here)"),
          flush=True)
    # The components (subprocesses of kfp.local) find the t2t interpreter and import the repository through their
    # environment: set for the run only, then put back as it was.
    saved = {k: os.environ.get(k) for k in ("GHSUMM_T2T_PYTHON", "PYTHONPATH")}
    os.environ.update(GHSUMM_T2T_PYTHON=project.t2t_python(), PYTHONPATH=project.pythonpath())
    screen, errors = sys.stdout, sys.stderr
    with open(log_path, "a", encoding="utf-8") as log:
        sys.stdout = sys.stderr = _Screen(screen, log, run_dir, verbose)
        try:
            gh_summ(**params)
        finally:
            sys.stdout, sys.stderr = screen, errors
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    status = rundir.read_status(run_dir) or {"state": "UNKNOWN (no status.json)", rundir.STEPS_KEY: {}}
    status["wall_s"] = round(time.time() - start, 1)
    status.setdefault("run_dir", run_dir)
    return status


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def summary(status: dict, working_dir: str) -> str:
    steps = rundir.status_steps(status)
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
            for c in promotion.get("comparisons", []):
                lines.append("     %s set, %s" % (c["set"], format_comparison(c)))
        if ev.get("start"):
            lines.append("   trained model vs the model it started from (step %s), %s"
                         % (ev["start"]["step"], format_comparison(ev["start"])))
            if ev["start"].get("served_instead"):
                lines.append("   so the model it started from is served (promote_rule %s: %s)"
                             % (ev["start"].get("rule", "?"), ev["start"].get("reason", "")))
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
    if any(launch.live_record(working_dir, n) for n in (steps.get("serve", {}).get("model_name", "ghsumm"), "webapp")):
        lines.append("   stop them: .venv/app/bin/python -m pipeline stop --working_dir %s" % working_dir)
    return "\n".join(lines)


def stop(working_dir: str) -> list[str]:
    """Stops the model servers and web app started by local runs in working_dir; returns what it stopped."""
    stopped = []
    for what in launch.recorded_names(working_dir):
        path = launch.process_record_path(working_dir, what)
        record = files.read_json(path) or {}
        if launch.stop_recorded(record):
            stopped.append("%s (pid %s, %s)" % (what, record["pid"], record.get("rest_url") or record.get("url")))
        files.remove(path)
    return stopped


def processes(working_dir: str) -> dict:
    out = {}
    for name in launch.recorded_names(working_dir):
        record = launch.live_record(working_dir, name)
        if record:
            out[name] = record
    return out


if __name__ == "__main__":
    sys.exit("use python -m pipeline")
