"""The preprocessing job's statistics and validation report: stats.json (for machines) and stats.txt (for people).

Counts come from the job's Beam metrics (so they are right on any runner), length distributions from the
job's own quantiles file. The counts must reconcile: every row read is an issue, a reject or a skip; every
issue is rejected or valid; every valid issue is a duplicate or written to train or eval. `balanced` says so.
With --new_input, "new" counts the new issues (read, unique, train, held out, the weight and the train records
written); the steps' train and eval count each example once, however many times it was written.
"""
from __future__ import annotations

import json
import os

from data import project

project.quiet_beam()
from apache_beam.io.filesystems import FileSystems  # noqa: E402  (after quiet_beam)
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402

from data.contract import EVAL_ISSUES_FILE, NEW_EVAL_ISSUES_FILE, PROBLEM_NAME, vocab_filename

METRICS_NAMESPACE = "ghsumm"  # the Beam metrics namespace the preprocessing job counts in


def _read_text(path: str) -> str:
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def _write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as f:
        f.write(text.encode("utf-8"))


def collect(result, args, formats: dict, seconds: float, new_files=()) -> dict:
    """stats.json's content; formats: {input file: its format}, new_files: those of them given as --new_input."""
    counters: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + int(c.committed or 0)

    def group(prefix):
        return {k[len(prefix):]: v for k, v in sorted(counters.items()) if k.startswith(prefix)}

    lengths_path = os.path.join(args.output_dir, "stats_lengths.jsonl")
    lengths = {}
    if FileSystems.exists(lengths_path):
        for line in _read_text(lengths_path).splitlines():
            name, q = json.loads(line)
            if not q:  # an empty collection (no eval split, everything filtered out) has no quantiles
                continue
            # 11 quantiles: min, 10th, ..., 90th percentile, max
            lengths[name] = {"min": q[0], "p50": q[5], "p90": q[9], "max": q[10], "deciles": q}
        FileSystems.delete([lengths_path])

    rejected, skipped = group("rejected."), group("skipped.")
    read_rows = counters.get("read.rows", 0)
    issues = counters.get("read.issues", 0)
    valid = counters.get("valid", 0)
    dups = counters.get("duplicates", 0)
    train, evals = counters.get("written.train", 0), counters.get("written.eval", 0)
    read_rejects = sum(v for k, v in rejected.items() if k not in ("empty_title", "empty_body", "title_too_long"))
    clean_rejects = sum(rejected.values()) - read_rejects
    tokens = counters.get("vocab.tokens", 0)
    vocab_size = None
    vocab_path = os.path.join(args.output_dir, vocab_filename(args.approx_vocab_size))
    if FileSystems.exists(vocab_path):
        vocab_size = len(_read_text(vocab_path).splitlines())
    stats = {
        "problem": PROBLEM_NAME,
        "output_dir": args.output_dir,
        "inputs": {f: fmt for f, fmt in formats.items() if f not in new_files},
        "seconds": round(seconds, 1),
        "steps": {"read_rows": read_rows, "parsed_issues": issues, "skipped": sum(skipped.values()),
                  "rejected_at_read": read_rejects, "rejected_at_validation": clean_rejects, "valid": valid,
                  "duplicates": dups, "unique": valid - dups, "train": train, "eval": evals},
        "rejected_by_reason": rejected,
        "skipped_by_reason": skipped,
        "empty_fields": {"body": counters.get("raw.empty_body", 0)},
        "lengths": lengths,
        "vocabulary": {"file": vocab_filename(args.approx_vocab_size), "size": vocab_size,
                       "built": not args.vocab_file, "source": args.vocab_file or "built from the train split",
                       "tokens": tokens,
                       "char_fallback_tokens": counters.get("vocab.char_fallback_tokens", 0),
                       "out_of_alphabet_tokens": counters.get("vocab.out_of_alphabet_tokens", 0),
                       "char_fallback_percent": round(100.0 * counters.get("vocab.char_fallback_tokens", 0)
                                                      / tokens, 2) if tokens else 0.0},
        "balanced": (read_rows == issues + read_rejects + sum(skipped.values())
                     and issues == valid + clean_rejects and valid - dups == train + evals),
        "options": {"since": args.since, "eval_percent": args.eval_percent, "max_body_words": args.max_body_words,
                    "lowercase": not args.keep_case, "train_shards": args.train_shards,
                    "eval_shards": args.eval_shards, "title_target": args.title_target},
    }
    if new_files:
        # the new issues (--new_input): unique counts them once, as new, when the old inputs have them too;
        # train_records is the train records written (every new train example new_weight times)
        new_train = counters.get("new.train", 0)
        stats["new"] = {"inputs": {f: formats[f] for f in new_files}, "read": counters.get("new.read", 0),
                        "unique": counters.get("new.unique", 0), "also_in_old": counters.get("new.also_in_old", 0),
                        "train": new_train, "held_out": counters.get("new.held_out", 0), "weight": args.new_weight,
                        "train_records": train + (args.new_weight - 1) * new_train}
        stats["options"].update(new_weight=args.new_weight, new_eval_percent=args.new_eval_percent)
    return stats


def summary(stats: dict) -> str:
    s, v = stats["steps"], stats["vocabulary"]
    lines = [
        f"preprocessed {len(stats['inputs'])} file(s) in {stats['seconds']} s -> {stats['output_dir']}",
        f"  rows read {s['read_rows']}: issues {s['parsed_issues']}, skipped {s['skipped']} "
        f"{stats['skipped_by_reason'] or ''}, rejected {s['rejected_at_read'] + s['rejected_at_validation']} "
        f"{stats['rejected_by_reason'] or ''}",
        f"  valid {s['valid']}, duplicates dropped {s['duplicates']}, examples written: train {s['train']}, "
        f"eval {s['eval']}",
        f"  vocabulary {v['file']}: {v['size']} subwords ({v['source']}); "
        f"{v['char_fallback_tokens']} of {v['tokens']} tokens ({v['char_fallback_percent']}%) fell back to "
        f"character pieces, {v['out_of_alphabet_tokens']} had characters outside its alphabet",
    ]
    if "new" in stats:
        n = stats["new"]
        lines.append(f"  new issues ({len(n['inputs'])} file(s)): read {n['read']}, unique {n['unique']} "
                     f"({n['also_in_old']} also in the old data), train {n['train']} (each written {n['weight']} "
                     f"times: {n['train_records']} train records in all), held out {n['held_out']} "
                     f"({NEW_EVAL_ISSUES_FILE}; {EVAL_ISSUES_FILE} has the old data's eval split)")
    for name in ("body_words", "title_words", "train_input_ids", "train_target_ids"):
        if name in stats["lengths"]:
            q = stats["lengths"][name]
            lines.append(f"  {name}: median {q['p50']}, 90th percentile {q['p90']}, max {q['max']}")
    lines.append(f"  rejected rows with their reasons: {os.path.join(stats['output_dir'], 'dead_letter.jsonl')}")
    lines.append("  counts reconcile: " + ("yes" if stats["balanced"] else "NO (a bug: please report)"))
    return "\n".join(lines)


def write(stats: dict, output_dir: str) -> None:
    _write_text(os.path.join(output_dir, "stats.json"), json.dumps(stats, indent=2, sort_keys=True) + "\n")
    _write_text(os.path.join(output_dir, "stats.txt"), summary(stats) + "\n")
