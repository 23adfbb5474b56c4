"""report.html for trainer.evaluate: one self-contained page (inline CSS, no scripts, no external links) from a
metrics dict. Every value that reaches the page goes through html.escape."""
from __future__ import annotations

import html

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
LABELS = {"model": "model", "lead_8_words": "first 8 words of the body",
          "lead_12_words": "first 12 words of the body", "first_sentence": "first sentence of the body"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.model td { font-weight: bold; }
.pass { color: #0a6b0a; font-weight: bold; } .fail { color: #a00; font-weight: bold; }
.body { font-size: .9em; color: #444; max-width: 35em; } .small { font-size: .85em; color: #555; }
"""


def e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value, digits: int = 2) -> str:
    return '<td class="num">%s</td>' % e("%.*f" % (digits, value) if isinstance(value, (int, float)) else value)


def _rouge_rows(rouge: dict) -> str:
    rows = []
    for name, scores in rouge.items():
        rows.append('<tr class="%s"><td>%s</td>%s</tr>' % (
            "model" if name == "model" else "baseline", e(LABELS.get(name, name)),
            "".join(_num(scores[t]) for t in ROUGE_TYPES)))
    return "\n".join(rows)


def _kv_rows(pairs) -> str:
    return "\n".join("<tr><th>%s</th><td>%s</td></tr>" % (e(k), e(v)) for k, v in pairs)


def _sample_rows(samples: list) -> str:
    return "\n".join(
        '<tr><td class="body">%s</td><td>%s</td><td>%s</td>%s</tr>' % (
            e(s["body_excerpt"]), e(s["true_title"]), e(s["generated_title"]), _num(s["rougeL"], 1))
        for s in samples)


def _reading_pairs(reading) -> list:
    if not reading:
        return []
    return [("titles that are verbatim spans of the body", "%.1f%%" % (100 * reading["verbatim_span_share"])),
            ("titles ending on a dangling word or punctuation", "%.1f%%" % (100 * reading["dangling_share"])),
            ("mean title length", "%.1f words" % reading["mean_title_words"])]


def render(metrics: dict) -> str:
    model, data, gate, collapse = metrics["model"], metrics["data"], metrics["gate"], metrics["collapse"]
    passed = gate["passed"]
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ghsumm evaluation: model %(version)s</title>
<style>%(style)s</style></head>
<body>
<h1>ghsumm evaluation: model version %(version)s</h1>
<p>Gate: <span class="%(gate_class)s">%(gate_word)s</span> <span class="small">(%(reasons)s)</span></p>

<h2>ROUGE F1 (%%) on %(n)s eval issues</h2>
<table>
<tr><th></th><th>ROUGE-1</th><th>ROUGE-2</th><th>ROUGE-L</th></tr>
%(rouge_rows)s
</table>

<h2>Does the output depend on the input, and does it read as a title?</h2>
<table>
%(collapse_rows)s
</table>

<h2>Samples</h2>
<table>
<tr><th>body (excerpt)</th><th>true title</th><th>generated title</th><th>ROUGE-L</th></tr>
%(sample_rows)s
</table>

<h2>Run</h2>
<table>
%(run_rows)s
</table>
</body></html>
""" % {
        "style": STYLE,
        "version": e(model["version"]),
        "gate_class": "pass" if passed else "fail",
        "gate_word": "passed" if passed else "failed",
        "reasons": e("; ".join(gate["reasons"])),
        "n": e(data["n_issues"]),
        "rouge_rows": _rouge_rows(metrics["rouge"]),
        "collapse_rows": _kv_rows([
            ("distinct generated titles", "%d / %d (%.1f%%)" % (collapse["distinct_titles"], data["n_issues"],
                                                              100 * collapse["distinct_ratio"])),
            ("most common generated title", collapse["most_common_title"]),
            ("issues given it", "%d (%.1f%%)" % (collapse["most_common_count"], 100 * collapse["most_common_share"])),
        ] + _reading_pairs(metrics.get("reading"))),
        "sample_rows": _sample_rows(metrics["samples"]),
        "run_rows": _kv_rows([
            ("SavedModel", model["saved_model"]),
            ("decoding (set at export)", "beam size %s, alpha %s, extra length %s (read from %s)" % (
                model["decode"]["beam_size"], model["decode"]["alpha"], model["decode"]["extra_length"],
                model["decode"]["source"])),
            ("data dir", data["data_dir"]),
            ("vocabulary", data["vocab_file"]),
            ("options", ", ".join("%s=%s" % kv for kv in metrics["options"].items())),
            ("decode speed", "%.2f issues/s (%.1f s)" % (metrics["speed"]["issues_per_second"],
                                                         metrics["speed"]["seconds"])),
            ("created", metrics["created_at"]),
        ]),
    }
