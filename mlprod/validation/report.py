"""The HTML report of a validation: one self-contained page (no scripts, no network), every value escaped.

``render_html(result)`` gives a whole page (on :mod:`mlprod.reporting`'s shared base);
``render_html(result, standalone=False)`` a ``<div>`` with scoped styles for a notebook output.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlprod.atomic import write_text

from .results import Outcome, ValidationResult, format_example, jsonable

_ORDER = {"fail": 0, "warn": 1, "skipped": 2, "ignore": 3, "pass": 4}
_LABEL = {"fail": "FAIL", "warn": "WARN", "skipped": "SKIPPED", "ignore": "IGNORED", "pass": "PASS"}
_STATUS = {"failed": "Failed", "warned": "Passed with warnings", "passed": "Passed"}

_TEMPLATE = r"""
{%- macro badge(action) -%}<span class="mv-badge mv-{{ action }}">{{ labels[action] }}</span>{%- endmacro -%}
<div class="mv-report">
<style>
.mv-report{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;
  max-width:1100px;margin:0 auto;padding:8px 4px}
.mv-report h1{font-size:22px;margin:0 0 4px}.mv-report h2{font-size:17px;margin:28px 0 6px}
.mv-report .mv-meta{color:#59636e;margin:0 0 14px}
.mv-report .mv-status{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:600;font-size:15px;
  margin:6px 0 12px}
.mv-report .mv-status.mv-failed{background:#ffebe9;color:#a40e26;border:1px solid #ffcecb}
.mv-report .mv-status.mv-warned{background:#fff8c5;color:#7d4e00;border:1px solid #f5e0a0}
.mv-report .mv-status.mv-passed{background:#dafbe1;color:#116329;border:1px solid #aceebb}
.mv-report table.mv-t{border-collapse:collapse;width:100%;margin:6px 0 10px;table-layout:auto;font-size:14px;
  color:#1f2328}
.mv-report table.mv-t tr{background:transparent}
.mv-report table.mv-t th,.mv-report table.mv-t td{text-align:left;vertical-align:top;padding:5px 8px;border:0;
  border-bottom:1px solid #e1e4e8;line-height:1.45;background:transparent}
.mv-report table.mv-t th{background:#f6f8fa;font-weight:600;font-size:13px}
.mv-report table.mv-t td.mv-num,.mv-report table.mv-t th.mv-num{text-align:right;font-variant-numeric:tabular-nums;
  white-space:nowrap}
.mv-report code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;padding:1px 4px;
  border-radius:4px;overflow-wrap:anywhere}
.mv-report .mv-ex{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#424a53;margin:3px 0 0;
  padding:0;list-style:none}
.mv-report .mv-badge{display:inline-block;min-width:52px;text-align:center;padding:1px 6px;border-radius:10px;
  font-size:11px;font-weight:700;letter-spacing:.03em}
.mv-report .mv-fail{background:#cf222e;color:#fff}.mv-report .mv-warn{background:#d4a72c;color:#1f2328}
.mv-report .mv-pass{background:#dafbe1;color:#116329}
.mv-report .mv-skipped,.mv-report .mv-ignore{background:#eaeef2;color:#424a53}
.mv-report details{margin:4px 0 8px}.mv-report summary{cursor:pointer;color:#0969da}
.mv-report .mv-none{color:#116329;margin:6px 0}
.mv-report footer{color:#59636e;font-size:12px;margin-top:28px;border-top:1px solid #e1e4e8;padding-top:8px}
</style>
{%- if embedded %}
<h1>{{ title }}</h1>
<p class="mv-meta">{{ subtitle }}</p>
{%- endif %}
<div class="mv-status mv-{{ status }}">{{ status_label }}: {{ n_failed }} failed, {{ n_warned }} warning(s)</div>
<table class="mv-t">
<tr><th>dataset</th><th class="mv-num">rows</th><th class="mv-num">columns</th><th>status</th>
<th class="mv-num">failed</th><th class="mv-num">warnings</th><th class="mv-num">checks</th>
<th>statistics compared with</th></tr>
{%- for d in datasets %}
<tr><td><a href="#mv-{{ loop.index }}">{{ d.name }}</a></td><td class="mv-num">{{ "{:,}".format(d.rows) }}</td>
<td class="mv-num">{{ d.columns }}</td><td>{{ badge(d.action) }}</td><td class="mv-num">{{ d.failed }}</td>
<td class="mv-num">{{ d.warned }}</td><td class="mv-num">{{ d.checks|length }}</td>
<td>{% if d.reference %}<code>{{ d.reference }}</code>{% else %}&mdash;{% endif %}</td></tr>
{%- endfor %}
</table>
{%- for d in datasets %}
<h2 id="mv-{{ loop.index }}">{{ d.name }}{% if d.source %} <code>{{ d.source }}</code>{% endif %}</h2>
{%- if d.problems %}
<table class="mv-t">
<tr><th>result</th><th>check</th><th>finding</th><th class="mv-num">rows</th></tr>
{%- for c in d.problems %}
<tr><td>{{ badge(c.action) }}</td><td><code>{% for part in c.parts %}{{ part }}<wbr>{% endfor %}</code></td>
<td>{{ c.message }}{% if c.examples %}<ul class="mv-ex">
{%- for e in c.examples %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}</td>
<td class="mv-num">{% if c.rows %}{{ "{:,}".format(c.rows) }}{% endif %}</td></tr>
{%- endfor %}
</table>
{%- else %}
<p class="mv-none">All {{ d.checks|length }} checks passed.</p>
{%- endif %}
{%- if d.passed %}
<details><summary>{{ d.passed|length }} passed check(s)</summary>
<table class="mv-t">
<tr><th>check</th><th>what was checked</th></tr>
{%- for c in d.passed %}
<tr><td><code>{% for part in c.parts %}{{ part }}<wbr>{% endfor %}</code></td><td>{{ c.message }}</td></tr>
{%- endfor %}
</table>
</details>
{%- endif %}
{%- endfor %}
<footer>Policy: failed checks of severity <b>error</b> &rarr; {{ policy.error }},
<b>warning</b> &rarr; {{ policy.warning }}
{%- for pattern, action in policy.checks.items() %}; <code>{{ pattern }}</code> &rarr; {{ action }}{% endfor %}.
Rows are 0-based positions in each dataset.{% if embedded %} Written by mlprod.{% endif %}</footer>
</div>
"""

_PAGE = """{% extends "base.html" %}{% block content %}{% include "validation_body.html" %}{% endblock %}"""


def render_html(result: ValidationResult, *, title: str = "Data validation", schema: str | None = None,
                standalone: bool = True) -> str:
    """The report as HTML text (a whole page, or an embeddable ``<div>``)."""
    from mlprod.reporting import render

    subtitle = (f"{len(result.datasets)} dataset(s) \u00b7 {len(result.outcomes)} checks \u00b7 schema "
                f"{schema or '(in memory)'}")
    return render({"validation_body.html": _TEMPLATE, "validation.html": _PAGE},
                  "validation.html" if standalone else "validation_body.html",
                  embedded=not standalone, title=title, subtitle=subtitle, status=result.status,
                  status_label=_STATUS[result.status], n_failed=len(result.failures), n_warned=len(result.warnings),
                  datasets=[_dataset_view(result, d) for d in result.datasets], labels=_LABEL,
                  policy=_policy_view(result.policy))


def write_report(result: ValidationResult, path: str | Path, **kwargs: Any) -> Path:
    return write_text(path, render_html(result, **kwargs))


def _dataset_view(result: ValidationResult, dataset) -> dict[str, Any]:
    outcomes = result.outcomes_for(dataset.name)
    problems = sorted((o for o in outcomes if o.action != "pass"), key=lambda o: _ORDER[o.action])
    actions = {o.action for o in outcomes}
    action = "fail" if "fail" in actions else "warn" if "warn" in actions else "pass"
    return {"name": dataset.name, "rows": dataset.n_rows, "columns": dataset.n_columns, "source": dataset.source,
            "reference": dataset.reference, "action": action, "checks": outcomes,
            "failed": sum(o.action == "fail" for o in outcomes), "warned": sum(o.action == "warn" for o in outcomes),
            "problems": [_check_view(o) for o in problems],
            "passed": [_check_view(o) for o in outcomes if o.action == "pass"]}


def _check_view(outcome: Outcome) -> dict[str, Any]:
    r = outcome.result
    return {"action": outcome.action, "check": r.check, "parts": re.split(r"(?<=[:.])", r.check), "message": r.message,
            "rows": r.n_failed if r.layer != "statistical" else 0,
            "examples": [format_example(row) for row in r.examples]}


def _policy_view(policy: dict[str, Any]) -> dict[str, Any]:
    return {"error": policy.get("error", "fail"), "warning": policy.get("warning", "warn"),
            "checks": {str(k): str(jsonable(v)) for k, v in (policy.get("checks") or {}).items()}}
