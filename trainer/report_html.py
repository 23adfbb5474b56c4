"""report.html for trainer.evaluate: one self-contained page (inline CSS, no scripts, no external links) from a
metrics dict, rendered by a Jinja2 template with autoescaping on: every value that reaches the page is escaped.
The evaluate step renders it again with its paired comparisons (trainer/promotion.py) and promotion decision."""
from __future__ import annotations

import html

import jinja2
import markupsafe

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
SET_LABELS = {"general": "general dev set (eval_issues.jsonl)",
              "new": "the new issues' held-out part (new_eval_issues.jsonl)"}
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

TEMPLATE = """\
{%- macro num(value, digits=2) -%}
<td class="num">{{ "%.*f" % (digits, value) if value is number else value }}</td>
{%- endmacro -%}
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ghsumm evaluation: model {{ model.version }}</title>
<style>{{ style }}</style></head>
<body>
<h1>ghsumm evaluation: model version {{ model.version }}</h1>
<p>Gate: <span class="{{ 'pass' if gate.passed else 'fail' }}">{{ 'passed' if gate.passed else 'failed' }}</span> \
<span class="small">({{ gate.reasons | join('; ') }})</span></p>

<h2>ROUGE F1 (%) on {{ data.n_issues }} eval issues</h2>
<table>
<tr><th></th><th>ROUGE-1</th><th>ROUGE-2</th><th>ROUGE-L</th></tr>
{% for name, scores in rouge.items() -%}
<tr class="{{ 'model' if name == 'model' else 'baseline' }}"><td>{{ labels.get(name, name) }}</td>\
{% for t in rouge_types %}{{ num(scores[t]) }}{% endfor %}</tr>
{% endfor -%}
</table>
{% if comparisons %}
<h2>Paired comparisons: this model against others on the same issues</h2>
{% if promotion -%}
<p>Promotion (rule {{ promotion.rule }}): <span class="{{ 'pass' if promotion.promote else 'fail' }}">\
{{ 'promoted' if promotion.promote else 'not promoted' }}</span> <span class="small">({{ promotion.reason }})</span></p>
{% endif -%}
<table>
<tr><th>against</th><th>eval set</th><th>issues</th><th>this model ROUGE-L</th><th>its ROUGE-L</th>\
<th>paired gain</th><th>standard error</th><th>titles changed</th></tr>
{% for c in comparisons -%}
<tr><td>{{ c.against }}</td><td>{{ set_labels.get(c.set, c.set) }}</td>{{ num(c.n, 0) }}{{ num(c.new_rouge_l) }}\
{{ num(c.old_rouge_l) }}<td class="num">{{ "%+.2f" % c.gain }}</td>{{ num(c.standard_error) }}\
{{ num(c.changed_titles, 0) }}</tr>
{% endfor -%}
</table>
<p class="small">Gain: the mean over issues of this model's ROUGE-L minus the other's on the same issue; a gain within
about two standard errors of 0 may be noise.</p>
{% endif %}
<h2>Does the output depend on the input, and does it read as a title?</h2>
<table>
{% for key, value in collapse_rows -%}
<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor -%}
</table>

<h2>Samples</h2>
<table>
<tr><th>body (excerpt)</th><th>true title</th><th>generated title</th><th>ROUGE-L</th></tr>
{% for s in samples -%}
<tr><td class="body">{{ s.body_excerpt }}</td><td>{{ s.true_title }}</td><td>{{ s.generated_title }}</td>\
{{ num(s.rougeL, 1) }}</tr>
{% endfor -%}
</table>

<h2>Run</h2>
<table>
{% for key, value in run_rows -%}
<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor -%}
</table>
</body></html>
"""

def _escaped(value):
    """Every value the template prints: escaped as html.escape does (quotes too: the page stays byte for byte what it
    was), None as nothing; markup the template itself built (a macro's cell) is kept."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.Markup(html.escape("" if value is None else str(value), quote=True))


_ENV = jinja2.Environment(autoescape=True, finalize=_escaped, undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True)


def _reading_pairs(reading) -> list:
    if not reading:
        return []
    return [("titles that are verbatim spans of the body", "%.1f%%" % (100 * reading["verbatim_span_share"])),
            ("titles ending on a dangling word or punctuation", "%.1f%%" % (100 * reading["dangling_share"])),
            ("mean title length", "%.1f words" % reading["mean_title_words"])]


def render(metrics: dict, comparisons=(), promotion: dict | None = None) -> str:
    """The page; comparisons: trainer/promotion.comparison records, promotion: its decision record (or None)."""
    model, data, collapse = metrics["model"], metrics["data"], metrics["collapse"]
    collapse_rows = [
        ("distinct generated titles", "%d / %d (%.1f%%)" % (collapse["distinct_titles"], data["n_issues"],
                                                          100 * collapse["distinct_ratio"])),
        ("most common generated title", collapse["most_common_title"]),
        ("issues given it", "%d (%.1f%%)" % (collapse["most_common_count"], 100 * collapse["most_common_share"])),
    ] + _reading_pairs(metrics.get("reading"))
    decode = model["decode"]
    run_rows = [
        ("SavedModel", model["saved_model"]),
        ("decoding (set at export)", "beam size %s, alpha %s, extra length %s%s (read from %s)" % (
            decode["beam_size"], decode["alpha"], decode["extra_length"],
            "".join(", %s %s" % (rule.replace("_", " "), value) for rule, value in decode.get("rules", {}).items()),
            decode["source"])),
        ("data dir", data["data_dir"]),
        ("vocabulary", data["vocab_file"]),
        ("options", ", ".join("%s=%s" % kv for kv in metrics["options"].items())),
        ("decode speed", "%.2f issues/s (%.1f s)" % (metrics["speed"]["issues_per_second"],
                                                     metrics["speed"]["seconds"])),
        ("created", metrics["created_at"]),
    ]
    return _ENV.from_string(TEMPLATE).render(
        style=markupsafe.Markup(STYLE), model=model, gate=metrics["gate"], data=data,
        rouge=metrics["rouge"], rouge_types=ROUGE_TYPES, labels=LABELS, collapse_rows=collapse_rows,
        samples=metrics["samples"], run_rows=run_rows, comparisons=list(comparisons), promotion=promotion,
        set_labels=SET_LABELS)
