"""Promotion (the "blessing"): whether a newly trained model replaces the one being served, judged by paired
comparisons. The evaluation gate (trainer/evaluate.gate) judges a model alone; promotion compares it with the
served version, both scored by trainer.evaluate on the same eval issues, issue by issue (compare_predictions: the
mean per-issue ROUGE-L gain and its standard error, so noise is told from a gain).

Eval sets (in a data dir): eval_issues.jsonl, the general dev set; in a retrain also new_eval_issues.jsonl, the
held-out part of the new issues (data/contract.py).

promote_rule, a pipeline parameter:
  at_least_as_good   (default of `pipeline run`) new ROUGE-L >= served ROUGE-L on the general set
  min_improvement:X  new ROUGE-L >= served ROUGE-L + X on the general set (ROUGE-L points)
  better_on_new[:K]  (default of `pipeline retrain`, K 0) the paired gain on the new issues' held-out part is
                     > 0 and > K standard errors, the paired gain on the general set is not below -2 standard
                     errors (not worse beyond noise), and the new issues' titles follow from their bodies
                     (titles_follow_bodies: junk such as shuffled titles is refused whatever the scores say);
                     without new issues held out: the gain on the general set is > 0 and > K standard errors
  always / never
With nothing served, only the evaluation gate (min_rouge_l, baseline_metrics) decides.

The model a run started from (its checkpoint_dir, e.g. the shipped data/warm_start) is compared the same way when
it is not the served version (start_checkpoint, start_model_base): the evaluate step exports it once per working
dir and scores it on the general set, so a run says whether its training helped."""
from __future__ import annotations

import hashlib
import json
import os

from data import contract, files
from serving import versions

RULES = ("at_least_as_good", "always", "never", "min_improvement:X", "better_on_new[:K]")
NOT_WORSE_STANDARD_ERRORS = 2.0  # better_on_new: the general set's gain may not be below -this many standard errors
# titles_follow_bodies: the first sentence's ROUGE-L against an issue's own title must beat that against another
# issue's title by this many points (and 2 standard errors). Measured: 18.8 on real new issues, 15.6 on later ones,
# -1.0 on the same issues with their titles shuffled (300 each, the adaptation benchmark's sets).
MIN_TITLE_BODY_GAIN = 5.0
GENERAL, NEW = "general", "new"  # the eval sets' names in a comparison
SET_FILES = {GENERAL: contract.EVAL_ISSUES_FILE, NEW: contract.NEW_EVAL_ISSUES_FILE}
START_MODELS_DIR = "start_models"  # working_dir/start_models/<checkpoint>-<step>-<hash>/<step>/: exports, reused
SCORES_DIR = "scores"  # working_dir/scores/<scoring_key>/: a model's predictions on an issue set, reused


class PromotionError(Exception):
    """A bad promote_rule, or scores that cannot be compared: the message is for the user, one line."""


def parse_rule(rule: str) -> tuple[str, float]:
    """promote_rule -> (kind, its number: min_improvement's X, better_on_new's K); PromotionError for anything
    else."""
    rule = (rule or "").strip()
    if rule in ("at_least_as_good", "always", "never"):
        return rule, 0.0
    if rule == "better_on_new":
        return rule, 0.0
    for kind in ("min_improvement", "better_on_new"):
        if rule.startswith(kind + ":"):
            try:
                number = float(rule.split(":", 1)[1])
            except ValueError:
                break
            if kind == "min_improvement" or number >= 0:
                return kind, number
    raise PromotionError("promote_rule %r: one of %s (X in ROUGE-L points, K >= 0 standard errors)"
                         % (rule, ", ".join(RULES)))


# ---------------------------------------------------------------- paired comparisons

def _read_predictions(paths) -> dict:
    """{(file number, issue id): (rougeL, generated title)} from trainer.evaluate's predictions.jsonl files."""
    rows = {}
    for number, path in enumerate([paths] if isinstance(paths, str) else paths):
        for line in files.read_text(path).splitlines():
            if line.strip():
                row = json.loads(line)
                rows[(number, row["id"])] = (row["rougeL"], row.get("generated_title"))
    return rows


def mean_and_error(gains: list[float]) -> tuple[float, float | None]:
    """The mean of paired per-issue gains and its standard error (None under 2 gains)."""
    n = len(gains)
    mean = sum(gains) / n
    return mean, ((sum((g - mean) ** 2 for g in gains) / (n - 1) / n) ** 0.5 if n > 1 else None)


def compare_predictions(new, old) -> dict:
    """The paired comparison of two scorings of the same issues, from trainer.evaluate's predictions.jsonl (each
    a path, or a list of paths: several eval sets together, each issue counted once): n, the mean ROUGE-L of new
    and of old, the mean per-issue gain of new over old and its standard error (None under 2 issues), and how many
    titles changed. PromotionError when the two did not score the same issues."""
    new_rows, old_rows = _read_predictions(new), _read_predictions(old)
    if set(new_rows) != set(old_rows):
        raise PromotionError("the two models were scored on different eval issues (%d and %d issues, %d in common):"
                             " %s vs %s" % (len(new_rows), len(old_rows), len(set(new_rows) & set(old_rows)), new, old))
    if not old_rows:
        raise PromotionError("no predictions in %s" % (old,))
    keys = list(old_rows)
    n = len(keys)
    mean, error = mean_and_error([new_rows[k][0] - old_rows[k][0] for k in keys])
    return {"n": n, "new_rouge_l": sum(new_rows[k][0] for k in keys) / n,
            "old_rouge_l": sum(old_rows[k][0] for k in keys) / n, "gain": mean, "standard_error": error,
            "changed_titles": sum(new_rows[k][1] != old_rows[k][1] for k in keys)}


def comparison(eval_set: str, against: str, new_eval_dir: str, old_eval_dir: str) -> dict:
    """compare_predictions of two trainer.evaluate outputs on one eval set (GENERAL or NEW), named and rounded
    for the records: set, against (what old is: "served version 5", "start model step 14000"), n, new_rouge_l,
    old_rouge_l, gain, standard_error, changed_titles."""
    from trainer.evaluate import PREDICTIONS
    paired = compare_predictions(os.path.join(new_eval_dir, PREDICTIONS), os.path.join(old_eval_dir, PREDICTIONS))
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in paired.items()}
    return dict({"set": eval_set, "against": against}, **rounded)


def _error(c: dict) -> str:
    return "?" if c.get("standard_error") is None else "%.2f" % c["standard_error"]


def format_comparison(c: dict) -> str:
    """'same 209 issues: 22.87 vs 22.99, paired -0.12 +- 0.40 ROUGE-L, 57 titles changed'."""
    return "same %d issues: %.2f vs %.2f, paired %+.2f +- %s ROUGE-L, %d titles changed" % (
        c["n"], c["new_rouge_l"], c["old_rouge_l"], c["gain"], _error(c), c["changed_titles"])


def _standard_errors(c: dict) -> str:
    """The gain in standard errors, for a reason ('+2.7 SE'; '? SE' without a standard error or with 0)."""
    return "%+.1f SE" % (c["gain"] / c["standard_error"]) if c["standard_error"] else "? SE"


def _gains(c: dict, k: float) -> bool:
    """The gain is > 0 and > k standard errors (a comparison without a standard error gains nothing sure)."""
    return c["standard_error"] is not None and c["gain"] > 0 and c["gain"] > k * c["standard_error"]


def _not_worse(c: dict) -> bool:
    """The gain is not below -NOT_WORSE_STANDARD_ERRORS standard errors."""
    return c["gain"] >= -NOT_WORSE_STANDARD_ERRORS * (c["standard_error"] or 0.0)


def _said(c: dict) -> str:
    return "%s set %+.2f +- %s ROUGE-L (%s, %d issues)" % (c["set"], c["gain"], _error(c), _standard_errors(c), c["n"])


def titles_follow_bodies(issues: list[dict]) -> dict:
    """Whether a set of issues (dicts with title and body) pairs each title with its own body, as real issues do:
    the body's first sentence scored (ROUGE-L) against its own title and against the next issue's title, paired per
    issue. Shuffled or unrelated titles score the same either way. Returns n, own, other, gain, standard_error
    and follows (gain >= MIN_TITLE_BODY_GAIN and > 2 standard errors); follows is True under 2 issues."""
    from trainer.evaluate import first_sentence, rouge_per_issue
    if len(issues) < 2:
        return {"n": len(issues), "follows": True}
    titles, leads = [i["title"] for i in issues], [first_sentence(i["body"]) for i in issues]
    own = [r["rougeL"] for r in rouge_per_issue(titles, leads)]
    other = [r["rougeL"] for r in rouge_per_issue(titles[1:] + titles[:1], leads)]
    n = len(issues)
    mean, error = mean_and_error([a - b for a, b in zip(own, other)])
    return {"n": n, "own": round(sum(own) / n, 2), "other": round(sum(other) / n, 2), "gain": round(mean, 2),
            "standard_error": round(error, 2), "follows": mean >= MIN_TITLE_BODY_GAIN and mean > 2 * error}


def format_title_check(check: dict) -> str:
    """'the new issues' titles follow from their bodies (first sentence vs own title 22.0, vs another's 3.3 ROUGE-L,
    287 issues)'."""
    if "gain" not in check:
        return "the new issues' titles were not checked (%d issues)" % check["n"]
    return "the new issues' titles %s from their bodies (first sentence vs own title %.1f, vs another's %.1f " \
           "ROUGE-L, %d issues)" % ("follow" if check["follows"] else "do NOT follow", check["own"],
                                    check["other"], check["n"])


# ---------------------------------------------------------------- the decision

def decide(rule: str, served_version: int, general: dict, new: dict | None = None, versus: str = "",
           title_check: dict | None = None) -> dict:
    """Whether the new model replaces the served one, from the paired comparisons (comparison()) of the two on the
    general set and, when the data dir held new issues out, on those. Returns the decision record (evaluate writes
    it to eval/promotion.json): rule, promote, reason (one line naming the numbers), served_version, new_rouge_l,
    served_rouge_l and n_issues (general set), comparisons (general first, then new when there). versus: what the
    reason calls the other model (default "vs served version N"). title_check: titles_follow_bodies of the new
    issues' held-out part; better_on_new refuses new issues whose titles do not follow from their bodies."""
    kind, number = parse_rule(rule)
    versus = versus or "vs served version %d" % served_version
    if kind in ("always", "never"):
        promote, reason = kind == "always", "promote_rule %s; %s %s" % (
            kind, "; ".join(_said(c) for c in [general] + ([new] if new else [])), versus)
    elif kind in ("at_least_as_good", "min_improvement"):
        needed = round(general["old_rouge_l"] + number, 6)
        promote = round(general["new_rouge_l"], 6) >= needed
        reason = "ROUGE-L %.2f %s served %.2f + %.2f on the general set (paired %+.2f +- %s, %d issues) %s" % (
            general["new_rouge_l"], ">=" if promote else "<", general["old_rouge_l"], number, general["gain"],
            _error(general), general["n"], versus)
    elif new is None:
        promote = _gains(general, number)
        reason = "%s on the %s (no new issues held out; needs > 0 and > %g SE) %s" % (
            "better" if promote else "not better", _said(general), number, versus)
    else:
        better, not_worse = _gains(new, number), _not_worse(general)
        follows = (title_check or {}).get("follows", True)
        promote = better and not_worse and follows
        verdict = ("better on the new issues, not worse on the general set" if promote else
                   "; ".join(([] if follows else [format_title_check(title_check)])
                             + ([] if better else ["not better on the new issues (needs > 0 and > %g SE)" % number])
                             + ([] if not_worse else ["worse on the general set beyond noise (below -%g SE)"
                                                      % NOT_WORSE_STANDARD_ERRORS])))
        reason = "%s: %s; %s %s" % (verdict, _said(new), _said(general), versus)
    return {"rule": rule, "promote": bool(promote), "reason": reason, "served_version": served_version,
            "new_rouge_l": general["new_rouge_l"], "served_rouge_l": general["old_rouge_l"], "n_issues": general["n"],
            "comparisons": [general] + ([new] if new else []),
            **({"title_check": title_check} if title_check else {})}


def served_to_compare(base_path: str, own_serve_record: dict | None):
    """(version, path) of the version served now from base_path, which a new model must beat; None when nothing
    is served or the served version is this run's own (own_serve_record: a start_step re-run of a run that was
    already published)."""
    served = versions.newest(base_path)
    if not served:
        return None
    own = own_serve_record or {}
    if own.get("version") == served[0] and own.get("base_path") == base_path:
        return None
    return served


# ---------------------------------------------------------------- the model a run started from

def start_checkpoint(checkpoint_dir: str) -> int | None:
    """The step of the checkpoint a run continued (its checkpoint_dir's newest); None from scratch ("" or
    "none") or when the dir names no checkpoint."""
    if checkpoint_dir in ("", "none"):
        return None
    index = os.path.join(checkpoint_dir, "checkpoint")
    return contract.checkpoint_step(files.read_text(index)) if files.exists(index) else None


def is_served_checkpoint(checkpoint_dir: str, step: int, served_version_dir: str) -> bool:
    """Whether the served version was exported from that checkpoint (its model card names the checkpoint): a
    retrain continues the served model, which the promotion comparison already scores."""
    card = files.read_json(contract.model_card_path(served_version_dir), {}) or {}
    exported = card.get("checkpoint") or ""
    return exported.rstrip("/") == os.path.join(checkpoint_dir, "model.ckpt-%d" % step).rstrip("/")


def start_model_base(working_dir: str, checkpoint_dir: str, step: int) -> str:
    """Where the start checkpoint's export is kept for every run of a working dir:
    working_dir/start_models/<dir name>-<step>-<hash of its path and of the step's weights' index files>; a new
    model at the same path and step (the shipped one replaced) gets a new place."""
    digest = hashlib.sha1(checkpoint_dir.rstrip("/").encode("utf-8"))
    indexes = [os.path.join(checkpoint_dir, "model.ckpt-%d.index" % step)]
    indexes += files.glob(os.path.join(checkpoint_dir, contract.SECOND_MODEL_DIR, "model.ckpt-*.index"))
    for path in indexes:
        if files.exists(path):
            digest.update(files.read_bytes(path))
    name = "%s-%d-%s" % (os.path.basename(checkpoint_dir.rstrip("/")) or "checkpoint", step, digest.hexdigest()[:10])
    return os.path.join(working_dir, START_MODELS_DIR, name)


def scoring_key(model: str, issues_file: str, max_issues: int = 0) -> str:
    """What decides a model's scoring, hashed: its SavedModel (graph and weights index; model is a version dir or
    a base path, its newest), the issues file's content and max_issues. The served version was scored on the same
    general set when it was trained: a retrain reuses that scoring (kept_scoring) instead of decoding it again."""
    from trainer.evaluate import find_saved_model
    version = find_saved_model(model)
    digest = hashlib.sha1(str(max_issues).encode("utf-8"))
    for path in (os.path.join(version, "saved_model.pb"), os.path.join(version, "variables", "variables.index"),
                 issues_file):
        digest.update(files.read_bytes(path) if files.exists(path) else b"-")
    return digest.hexdigest()[:16]


def kept_scoring(working_dir: str, key: str) -> str:
    """Where a scoring (trainer.evaluate's predictions.jsonl and metrics.json) is kept for the working dir's runs."""
    return os.path.join(working_dir, SCORES_DIR, key)


def is_exported(base: str, step: int) -> bool:
    return files.exists(os.path.join(base, str(step), "saved_model.pb"))
