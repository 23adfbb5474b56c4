"""Promotion (the "blessing"): whether a newly trained model replaces the one being served. The evaluation gate
(trainer/evaluate.gate) judges a model alone; promotion compares it with the served version, both scored by
trainer.evaluate on the same eval issues.

promote_rule, a pipeline parameter:
  at_least_as_good   (default) new ROUGE-L >= served ROUGE-L
  min_improvement:X  new ROUGE-L >= served ROUGE-L + X (ROUGE-L points, e.g. min_improvement:0.5)
  always / never
With nothing served, only the evaluation gate (min_rouge_l, baseline_metrics) decides."""
from __future__ import annotations

from serving import versions
from trainer.evaluate import gate

RULES = ("at_least_as_good", "always", "never", "min_improvement:X")


class PromotionError(Exception):
    """A bad promote_rule, or scores that cannot be compared: the message is for the user, one line."""


def parse_rule(rule: str) -> tuple[str, float]:
    """promote_rule -> (kind, min_improvement); PromotionError for anything else."""
    rule = (rule or "").strip()
    if rule in ("at_least_as_good", "always", "never"):
        return rule, 0.0
    if rule.startswith("min_improvement:"):
        try:
            return "min_improvement", float(rule.split(":", 1)[1])
        except ValueError:
            pass
    raise PromotionError("promote_rule %r: one of %s (X in ROUGE-L points)" % (rule, ", ".join(RULES)))


def decide(rule: str, new_metrics: dict, served_metrics: dict, served_version: int) -> dict:
    """Whether the new model replaces the served one, both scored on the same eval issues by trainer.evaluate."""
    kind, min_improvement = parse_rule(rule)
    if new_metrics["data"]["issues_sha1"] != served_metrics["data"]["issues_sha1"]:
        raise PromotionError("the new and the served model were scored on different eval issues")
    new_rl, served_rl = new_metrics["rouge"]["model"]["rougeL"], served_metrics["rouge"]["model"]["rougeL"]
    if kind in ("always", "never"):
        promote, reason = kind == "always", "promote_rule %s" % kind
    else:
        g = gate(new_rl, previous_rouge_l=served_rl, min_improvement=min_improvement)
        promote, reason = g["passed"], "%s vs served version %d" % (g["reasons"][0], served_version)
    return {"rule": rule, "promote": bool(promote), "reason": reason, "new_rouge_l": round(new_rl, 4),
            "served_rouge_l": round(served_rl, 4), "served_version": served_version,
            "n_issues": new_metrics["data"]["n_issues"], "issues_sha1": new_metrics["data"]["issues_sha1"]}


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
