"""The adaptation benchmark: does `pipeline retrain` on new issues make the served model better on later ones?

    make adapt      (python -m benchmarks adaptation [--unseen] [--shared ../shared/data] [--work DIR]
                     [--max_new N] [--max_later N] [--more_steps N] [--hparams H] [--retrain_args 'FLAGS']
                     [--sets_only])   ~45 min; --unseen ~1.5 hours the first time (its base trains)

The issues: the eval split of every dated issue source in ../shared/data (nlbse24's five repositories,
huggingface/datasets, GitBugs' Hadoop and SeaMonkey, the Jira story-point projects), which the shipped model
never trained on (trainer/warm_start.py trains on the train split of the same id hash). Each repository's issues
are ordered by time (created_at; a Jira key's number) and cut in two: the earlier half is "new" (what a retrain
ingests), the later half "later" (what the retrained model will meet). new.jsonl, later.jsonl and junk.jsonl (the
new issues with their titles shuffled among them) are written into the work dir.

The run, all real commands (subprocesses, output in <work>/logs/) in one working dir, the work dir:
  1. `pipeline run --local --deploy_webapp false` on the bundled sample: the served model, as after `make run`
     (skipped when the work dir serves a version already: a re-run reuses it, rolled back to when a retrain of an
     earlier run replaced it; served_before.json says which);
  2. later.jsonl preprocessed once with the served model's vocabulary, every issue into the eval split
     (data_later/), and the served version scored on it (`trainer.evaluate`, eval_later/served/);
  3. the negative case first, in the same working dir (a refused retrain leaves the served version as it was):
     `pipeline retrain --new_data junk.jsonl` must be refused by the promotion rule (retrain's default,
     better_on_new); if it is promoted, the served version is rolled back before step 4;
  4. `pipeline retrain --new_data new.jsonl`, timed from its start to its end, when a promoted version is served;
  5. the retrained model scored on the later issues (eval_later/retrained/) and compared with the served version
     issue by issue (trainer.promotion.comparison: paired gain, its standard error, titles changed); the general
     dev set's and the new issues' held-out part's comparisons come from each retrain's eval/promotion.json;
  6. `pipeline stop`: the model server stops.
--unseen (work dir work/adaptation-unseen): the same run for a project the model never saw. The shipped model
trained on the other 90% of the sources above, so their eval issues teach it little; here the served model
continues a base trained by the shipped recipe without UNSEEN_SOURCES (nlbse24's five repositories and
huggingface/datasets; `trainer.warm_start --leave_out`, trained into <work>/base first, ~40 min), and every issue
of those sources, both splits, is new or later.
It prints a table and issue 32's verdicts (later gain >= 1.0 ROUGE-L; general dev set gain >= -2 standard errors;
junk refused; the retrain promoted and serving within 15 minutes) and writes adaptation.json in the work dir, with
every figure; data/warm_start/README.md ("Continued training") and docs/model-history.md keep them. Exit 0 when
every target is met, 1 when one is missed, 2 when a command fails. A quick run: --max_new 40 --max_later 40
--more_steps 5 (--more_steps, --hparams and --retrain_args go to both retrains; the pipeline run of step 1 still
trains its 200 steps).
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time

from components import rundir
from data import contract, project, readers
from data.project import REPO
from data.records import Issue, split_of
from serving import versions
from trainer import promotion

SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
# The dated issue sources (path patterns under --shared); trainer/warm_start.py trained on their train split.
SOURCES = ("nlbse24/issues_train.csv", "hf_datasets_issues_kardwalker/datasets-issues.zip",
           "gitbugs_jira_bugzilla/*.csv", "jira_storypoint_choetkiertikul/*.csv")
WARM_START_EVAL_PERCENT = 10.0  # the eval share the shipped model's data was split with (data.preprocess default)
# --unseen: GitHub sources a base model is trained without (trainer.warm_start --leave_out), so that all their
# issues are new to it: a project that adopts ghsumm and retrains on its own issues.
UNSEEN_SOURCES = ("nlbse24/issues_train.csv", "hf_datasets_issues_kardwalker/datasets-issues.zip")
UNSEEN_BASE_STEPS = 6000  # the base's training steps (~40 min at 2.6 steps/s on 2 cores; the shipped model: 14000)


def _time_key(issue: Issue) -> tuple:
    """An issue's place in time within its repository: created_at, else the number in its key (DM-123)."""
    if issue.created_at:
        return (0, issue.created_at, 0)
    number = re.search(r"(\d+)$", issue.id)
    return (1, "", int(number.group(1)) if number else 0)


def unseen_issues(shared: str, sources: tuple[str, ...] = SOURCES,
                  eval_split_only: bool = True) -> dict[str, list[Issue]]:
    """The issues of sources the served model never trained on, by repository, each list ordered by time: the
    eval split of SOURCES for the shipped model; every issue of UNSEEN_SOURCES (eval_split_only False) for the
    unseen base, which never trained on them at all."""
    by_repo = collections.defaultdict(list)
    for pattern in sources:
        for path in sorted(glob.glob(os.path.join(shared, pattern))):
            for row in readers.read_issues(path):
                if (isinstance(row, Issue) and row.title.strip()
                        and (not eval_split_only or split_of(row.id, WARM_START_EVAL_PERCENT) == "eval")):
                    by_repo[row.repo or os.path.basename(path)].append(row)
    return {repo: sorted(issues, key=_time_key) for repo, issues in sorted(by_repo.items())}


def evenly(issues: list[Issue], n: int | None) -> list[Issue]:
    """n issues picked at even steps through the list, its order kept; all of them when n is None or not smaller."""
    if n is None or n >= len(issues):
        return list(issues)
    return [issues[i * len(issues) // n] for i in range(n)]


def split_by_time(by_repo: dict[str, list[Issue]], max_new: int | None = None,
                  max_later: int | None = None) -> tuple[list[Issue], list[Issue]]:
    """(new, later): each repository's earlier half, and its later half. max_new, max_later: at most that many,
    picked evenly (a list holds each repository's issues together, in time order: each keeps its share and order)."""
    new, later = [], []
    for issues in by_repo.values():
        half = len(issues) // 2
        new += issues[:half]
        later += issues[half:]
    return evenly(new, max_new), evenly(later, max_later)


def as_github_object(issue: Issue, number: int) -> dict:
    """An issue as the GitHub REST object data/readers.py reads (github_jsonl): what `pipeline retrain` ingests.
    Its id becomes repo#number, not its source's id: all of these were picked for that id's hash (the warm start's
    eval split), and the retrain splits its held-out part by the same hash."""
    return {"html_url": "",
            "repository_url": "https://api.github.com/repos/" + (issue.repo if "/" in issue.repo
                                                                 else "adaptation/" + issue.repo),
            "number": number, "title": issue.title, "body": issue.body, "created_at": issue.created_at,
            "state": "closed"}


def write_jsonl(issues: list[Issue], path: str, titles: list[str] | None = None) -> str:
    """issues as GitHub REST objects, one a line (titles: other titles to give them, for the junk case)."""
    with open(path, "w", encoding="utf-8") as f:
        for n, issue in enumerate(issues, 1):
            obj = as_github_object(issue, n)
            if titles is not None:
                obj["title"] = titles[n - 1]
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return path


def make_sets(shared: str, work: str, max_new: int | None = None, max_later: int | None = None,
              unseen: bool = False) -> dict:
    """new.jsonl, later.jsonl and junk.jsonl (new issues, titles shuffled among them) in work; their counts.
    unseen: every issue of UNSEEN_SOURCES (for the unseen base), else the eval split of SOURCES."""
    os.makedirs(work, exist_ok=True)
    by_repo = unseen_issues(shared, UNSEEN_SOURCES, False) if unseen else unseen_issues(shared)
    new, later = split_by_time(by_repo, max_new, max_later)
    titles = [i.title for i in new]
    random.Random(0).shuffle(titles)
    sets = {"new": write_jsonl(new, os.path.join(work, "new.jsonl")),
            "later": write_jsonl(later, os.path.join(work, "later.jsonl")),
            "junk": write_jsonl(new, os.path.join(work, "junk.jsonl"), titles)}
    counts = {"new": len(new), "later": len(later),
              "repositories": {repo: len(issues) for repo, issues in by_repo.items()}}
    with open(os.path.join(work, "sets.json"), "w") as f:
        json.dump(dict(counts, files=sets), f, indent=2)
    return dict(counts, files=sets)


MODEL_NAME = "ghsumm"  # the pipeline's default model_name
LATER_GAIN = 1.0  # issue 32: the retrained model's paired gain on "later", in ROUGE-L points, at least
MAX_RETRAIN_S = 15 * 60  # issue 32: a retrain, from its start to the promoted version serving, at most
SERVED_BEFORE_FILE = "served_before.json"  # in the work dir: the version `pipeline run` served (re-runs reuse it)


class AdaptationError(Exception):
    """The benchmark cannot go on: one line for the user."""


def read_json(path: str):
    """A JSON file's content; None when it is not there."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)


def run_command(args: list, what: str, log_path: str, tag: str | None = None) -> float:
    """Runs `python -m <args>` (this environment's interpreter, cwd the repository), its output into log_path and
    onto the screen: every line (the pipeline's commands print only their story), or, with a tag, only the
    project's own log lines (progress, counts) as "[tag] message", as the pipeline shows its steps'. Returns the
    wall seconds; a failure raises project.CommandFailed ending with the output's tail."""
    cmd = [project.app_python(), "-m"] + [str(a) for a in args]
    print("== %s (log %s)" % (what, log_path), flush=True)
    story = project.StoryLines()
    story.pick("[%s] $ %s" % (tag, " ".join(cmd)))  # what follows is that command's output
    env = project.child_env(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    lines, start = [], time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ %s\n" % " ".join(cmd))
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace")
        for line in proc.stdout:
            lines.append(line)
            log.write(line)
            log.flush()
            shown = story.pick("[%s] %s" % (tag, line)) if tag else line.rstrip("\n")
            if shown:
                print(shown, flush=True)
        rc = proc.wait()
    seconds = time.perf_counter() - start
    if rc:
        raise project.CommandFailed("%s failed (exit %d) after %.0f s; %s ends:\n%s"
                                    % (what, rc, seconds, log_path, "".join(lines[-30:])), rc, lines)
    return seconds


def unseen_base(work: str, shared: str, logs: str) -> str:
    """<work>/base: a model trained like the shipped one but without UNSEEN_SOURCES (`trainer.warm_start
    --leave_out`, UNSEEN_BASE_STEPS steps, in <work>/ws: a killed run resumes there), trained when it is not there."""
    base = os.path.join(work, "base")
    if not os.path.exists(os.path.join(base, "checkpoint")):
        from trainer.warm_start import HPARAMS_SET
        run_command(["trainer.warm_start", "--hparams_set", HPARAMS_SET, "--vocabulary_from",
                     os.path.join(REPO, "data", "warm_start"), "--shared", shared, "--work", os.path.join(work, "ws"),
                     "--steps", UNSEEN_BASE_STEPS, "--every", 3000, "--average", 0, "--out", base]
                    + [a for source in UNSEEN_SOURCES for a in ("--leave_out", source)],
                    "the unseen base: the shipped recipe without %s, %d steps (~40 min)"
                    % (", ".join(UNSEEN_SOURCES), UNSEEN_BASE_STEPS), os.path.join(logs, "unseen_base.log"))
    return base


def warm_start_args(base: str | None) -> list:
    """`pipeline run`'s flags to continue base (a warm start dir) for the pipeline's 200 steps; none for the shipped."""
    if not base:
        return []
    from trainer.continuation import PIPELINE_MORE_STEPS
    from trainer.promotion import start_checkpoint
    from trainer.warm_start import continued_hparams_set
    return ["--checkpoint_dir", base, "--train_steps", start_checkpoint(base) + PIPELINE_MORE_STEPS,
            "--hparams_set", continued_hparams_set(base)]


def served_before(work: str, logs: str, warm_start: str | None = None) -> dict:
    """The version the retrains start from: what `pipeline run --local` served in work (run here when nothing is
    served there; a re-run reuses it, rolled back to when a retrain of an earlier run replaced it).
    {version, version_dir, vocab, pipeline_run_s (None when reused)}, also kept in work/served_before.json."""
    base = versions.base_path(work, MODEL_NAME)
    record_path = os.path.join(work, SERVED_BEFORE_FILE)
    record, served = read_json(record_path), versions.newest(base)
    if served is None:
        log = os.path.join(logs, "pipeline_run.log")
        seconds = run_command(["pipeline", "run", "--local", "--working_dir", work, "--deploy_webapp", "false"]
                              + warm_start_args(warm_start),
                              "the served model: pipeline run --local on the bundled sample (as make run)%s"
                              % (", continuing %s" % warm_start if warm_start else ""), log)
        served = versions.newest(base)
        if served is None:
            raise AdaptationError("the pipeline run served nothing (its gate did not pass?): see %s" % log)
        record = {"version": served[0], "pipeline_run_s": round(seconds, 1)}
    elif record and record["version"] != served[0]:
        run_command(["pipeline", "rollback", "--working_dir", work, "--version", record["version"]],
                    "serve version %d again (an earlier run's retrain replaced it with %d)"
                    % (record["version"], served[0]), os.path.join(logs, "rollback.log"))
        record["pipeline_run_s"] = None
    else:
        record = {"version": served[0], "pipeline_run_s": None}
        print("== the served model: version %d under %s (reused; a new --work runs the pipeline)" % (served[0], base))
    write_json(record_path, record)
    version_dir = os.path.join(base, str(record["version"]))
    vocabs = glob.glob(contract.model_vocab_path(version_dir, contract.VOCAB_GLOB))
    if not vocabs:
        raise AdaptationError("served version %s has no vocabulary beside it" % version_dir)
    return dict(record, version_dir=version_dir, vocab=vocabs[0])


def retrain(work: str, new_data: str, name: str, retrain_args: list, logs: str) -> dict:
    """`pipeline retrain --new_data new_data` of the served version, timed from start to end (a promoted version
    is served by then: the serve step waits until the server has it AVAILABLE and sends it one request). What it
    decided and why, its paired comparisons by eval set (eval/promotion.json), the version served before and after
    (and the one that answered the serve step's request), its export."""
    base = versions.base_path(work, MODEL_NAME)
    before = versions.newest(base)[0]
    run_id = "adaptation-%s-%s" % (name, time.strftime("%Y%m%d-%H%M%S"))
    seconds = run_command(["pipeline", "retrain", "--working_dir", work, "--new_data", new_data, "--run_id", run_id,
                           "--deploy_webapp", "false"] + retrain_args,
                          "retrain on the %s issues: pipeline retrain --new_data %s" % (name, new_data),
                          os.path.join(logs, "retrain_%s.log" % name))
    run_dir = rundir.run_dir_for(work, run_id)
    steps = rundir.status_steps(rundir.read_status(run_dir))
    decision = read_json(os.path.join(rundir.output_dir(run_dir, "eval"), "promotion.json")) or {}
    return {"run_id": run_id, "wall_s": round(seconds, 1), "promoted": "serve" in steps,
            "version_before": before, "version_after": versions.newest(base)[0],
            "server_answered_version": steps.get("serve", {}).get("sample_request", {}).get("version"),
            "rule": decision.get("rule"), "reason": decision.get("reason"),
            "comparisons": {c["set"]: c for c in decision.get("comparisons", [])},
            "export_dir": steps.get("export", {}).get("export_dir")}


def score(model: str, data_dir: str, out: str, what: str, logs: str) -> str:
    """`trainer.evaluate` of a model (a version dir or a base path) on data_dir's eval issues, into out."""
    run_command(["trainer.evaluate", "--saved_model", model, "--data_dir", data_dir, "--out", out],
                "score %s on the later issues" % what, os.path.join(logs, "score_%s.log" % os.path.basename(out)),
                tag="evaluate")
    return out


def run_benchmark(work: str, sets: dict, retrain_args: list, logs: str, base: str | None = None) -> dict:
    """Steps 1-5 of the module's docstring (base: the warm start step 1 continues, the shipped one if None)."""
    served = served_before(work, logs, warm_start=base)
    data_later = os.path.join(work, "data_later")
    shutil.rmtree(data_later, ignore_errors=True)
    run_command(["data.preprocess", "--input", sets["files"]["later"], "--output_dir", data_later, "--vocab_file",
                 served["vocab"], "--eval_percent", "99.99"],
                "preprocess the later issues with the served model's vocabulary, all into the eval split",
                os.path.join(logs, "preprocess_later.log"), tag="preprocess")
    served_eval = score(served["version_dir"], data_later, os.path.join(work, "eval_later", "served"),
                        "served version %d" % served["version"], logs)
    # junk first, in this work dir: a refused retrain leaves the served version as it was for the real one
    junk = retrain(work, sets["files"]["junk"], "junk", retrain_args, logs)
    if junk["promoted"]:
        run_command(["pipeline", "rollback", "--working_dir", work, "--version", served["version"]],
                    "the junk retrain was PROMOTED: serve version %d again for the real retrain" % served["version"],
                    os.path.join(logs, "rollback_junk.log"))
    new = retrain(work, sets["files"]["new"], "new", retrain_args, logs)
    if not new["export_dir"]:
        raise AdaptationError("the retrain %s recorded no export" % new["run_id"])
    retrained_eval = score(new["export_dir"], data_later, os.path.join(work, "eval_later", "retrained"),
                           "the retrained model", logs)
    later = promotion.comparison("later", "served version %d" % served["version"], retrained_eval, served_eval)
    return {"served_before": served, "junk_retrain": junk, "retrain": new, "later": later}


def verdicts(result: dict) -> list[tuple[str, bool]]:
    """(what, met) for each of issue 32's targets."""
    later, junk, new = result["later"], result["junk_retrain"], result["retrain"]
    general = new["comparisons"].get(promotion.GENERAL)
    floor = -promotion.NOT_WORSE_STANDARD_ERRORS * ((general or {}).get("standard_error") or 0.0)
    minutes = new["wall_s"] / 60
    return [("later issues: paired gain %+.2f >= %.1f ROUGE-L" % (later["gain"], LATER_GAIN),
             later["gain"] >= LATER_GAIN),
            ("general dev set: paired gain %s >= -%g SE (%.2f)"
             % ("%+.2f" % general["gain"] if general else "?", promotion.NOT_WORSE_STANDARD_ERRORS, floor),
             bool(general) and general["gain"] >= floor),
            ("junk retrain refused" if not junk["promoted"] else "junk retrain refused (it was PROMOTED)",
             not junk["promoted"]),
            ("retrain to the promoted version serving: %.1f min <= %d min%s" % (
                minutes, MAX_RETRAIN_S // 60, "" if new["promoted"] else " (it was NOT promoted)"),
             new["promoted"] and new["wall_s"] <= MAX_RETRAIN_S)]


def table(result: dict) -> str:
    """What, n, served, retrained, paired gain +- SE: later, then each retrain's eval sets."""
    rows = [("later issues", result["later"])]
    for name, run in (("retrain", result["retrain"]), ("junk retrain", result["junk_retrain"])):
        rows += [("%s: %s" % (name, {promotion.GENERAL: "general dev set", promotion.NEW: "new, held out"}
                                 .get(s, s)), c) for s, c in run["comparisons"].items()]
    lines = ["%-32s %6s %8s %10s   %s" % ("what", "n", "served", "retrained", "paired gain +- SE (ROUGE-L)")]
    for what, c in rows:
        error = "?" if c["standard_error"] is None else "%.2f" % c["standard_error"]
        lines.append("%-32s %6d %8.2f %10.2f   %+.2f +- %s" % (what, c["n"], c["old_rouge_l"], c["new_rouge_l"],
                                                               c["gain"], error))
    return "\n".join(lines)


def report(result: dict) -> str:
    """The table, both retrains' decisions and the verdicts."""
    served, junk, new = result["served_before"], result["junk_retrain"], result["retrain"]
    lines = ["", "== adaptation: served version %d; retrain %s -> version %s (%.0f s); junk retrain %s" % (
        served["version"], "PROMOTED" if new["promoted"] else "NOT promoted", new["version_after"], new["wall_s"],
        "PROMOTED" if junk["promoted"] else "refused"), table(result),
        "retrain: %s" % new["reason"], "junk retrain: %s" % junk["reason"]]
    lines += ["%s %s" % ("met" if met else "MISSED", what) for what, met in result["verdicts"]]
    return "\n".join(lines)


def stop_server(work: str, logs: str) -> None:
    try:
        run_command(["pipeline", "stop", "--working_dir", work], "stop the model server",
                    os.path.join(logs, "stop.log"))
    except project.CommandFailed as e:
        print("adaptation: %s" % e, file=sys.stderr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks adaptation", description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=SHARED)
    p.add_argument("--work", help="the working dir (default work/adaptation, with --unseen work/adaptation-unseen)")
    p.add_argument("--sets_only", action="store_true", help="write the new/later/junk files and stop")
    p.add_argument("--max_new", type=int, metavar="N", help="at most N new issues (each repository's share, in "
                   "time order; a quick run)")
    p.add_argument("--max_later", type=int, metavar="N", help="at most N later issues (likewise)")
    p.add_argument("--more_steps", type=int, help="both retrains' --more_steps (default: pipeline retrain's, 400)")
    p.add_argument("--hparams", help="both retrains' --hparams (default: the served run's)")
    p.add_argument("--retrain_args", default="", metavar="'FLAGS'", help="more flags for both `pipeline retrain` "
                   "runs, one string (e.g. '--eval_max_issues 20')")
    p.add_argument("--unseen", action="store_true",
                   help="the served model starts from a base trained without %s (trained first into <work>/base "
                        "when it is not there, ~40 min), and every issue of those sources is new or later"
                        % ", ".join(UNSEEN_SOURCES))
    args = p.parse_args(argv)
    retrain_args = ((["--more_steps", str(args.more_steps)] if args.more_steps is not None else [])
                    + (["--hparams", args.hparams] if args.hparams is not None else [])
                    + shlex.split(args.retrain_args))
    work = os.path.abspath(args.work or os.path.join(REPO, "work", "adaptation-unseen" if args.unseen
                                                     else "adaptation"))
    sets = make_sets(args.shared, work, args.max_new, args.max_later, args.unseen)
    print("adaptation sets: %d new, %d later issues from %d repositories (%s)" % (
        sets["new"], sets["later"], len(sets["repositories"]), work))
    if args.sets_only:
        return 0
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        base = unseen_base(work, args.shared, logs) if args.unseen else None
        result = run_benchmark(work, sets, retrain_args, logs, base)
    except (AdaptationError, project.CommandFailed) as e:
        print("adaptation: %s" % e, file=sys.stderr)
        return 2
    finally:
        stop_server(work, logs)
    result["verdicts"] = verdicts(result)
    print(report(result))
    path = os.path.join(work, "adaptation.json")
    write_json(path, dict(result, sets=sets, retrain_args=retrain_args, started=started,
                          finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                          verdicts=[{"what": what, "met": met} for what, met in result["verdicts"]]))
    print("wrote %s" % path)
    return 0 if all(met for _, met in result["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
