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
_TONE = {"fail": "bad", "warn": "warn", "skipped": "na", "ignore": "na", "pass": "good",
         "failed": "bad", "warned": "warn", "passed": "good"}

_TEMPLATE = r"""
{%- macro badge(action) -%}<span class="badge {{ tones[action] }}">{{ labels[action] }}</span>{%- endmacro -%}
<div class="mv-report">
{%- if embedded %}
{{ scoped_style(".mv-report") }}
<h2 style="margin-top:0">{{ title }}</h2>
<p class="muted">{{ subtitle }}{% if about %}<br>{{ about }}{% endif %}</p>
{%- endif %}
<div class="callout {{ status_tone }}"><strong>{{ status_label }}: {{ n_failed }} failed, {{ n_warned }}
  warning(s)</strong></div>
<table class="stack">
<thead><tr><th>dataset</th><th class="num">rows</th><th class="num">columns</th><th>status</th>
<th class="num">failed</th><th class="num">warnings</th><th class="num">checks</th>
<th>statistics compared with</th></tr></thead><tbody>
{%- for d in datasets %}
<tr><td data-label="dataset"><a href="#mv-{{ loop.index }}">{{ d.name }}</a></td>
<td class="num" data-label="rows">{{ "{:,}".format(d.rows) }}</td>
<td class="num" data-label="columns">{{ d.columns }}</td><td data-label="status">{{ badge(d.action) }}</td>
<td class="num" data-label="failed">{{ d.failed }}</td><td class="num" data-label="warnings">{{ d.warned }}</td>
<td class="num" data-label="checks">{{ d.checks|length }}</td>
<td data-label="compared with">{% if d.reference %}<code>{{ d.reference }}</code>{% else %}&mdash;{% endif %}</td></tr>
{%- endfor %}
</tbody></table>
{%- for d in datasets %}
<h2 id="mv-{{ loop.index }}">{{ d.name }}{% if d.source %} <code>{{ d.source }}</code>{% endif %}</h2>
{%- if d.problems %}
<table class="stack">
<thead><tr><th>result</th><th>check</th><th>finding</th></tr></thead><tbody>
{%- for c in d.problems %}
<tr><td data-label="result">{{ badge(c.action) }}</td>
<td class="text" data-label="check"><code>{% for part in c.parts %}{{ part }}<wbr>{% endfor %}</code></td>
<td class="text" data-label="finding">{{ c.message }}{% if c.rows %} <span class="muted">({{ "{:,}".format(c.rows) }}
  row{{ "s" if c.rows != 1 }})</span>{% endif %}{% if c.examples %}<ul class="small muted">
{%- for e in c.examples %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}</td></tr>
{%- endfor %}
</tbody></table>
{%- else %}
<p>{{ badge("pass") }} All {{ d.checks|length }} checks passed.</p>
{%- endif %}
{%- if d.passed %}
<details><summary>{{ d.passed|length }} passed check(s)</summary>
<table class="stack">
<thead><tr><th>check</th><th>what was checked</th></tr></thead><tbody>
{%- for c in d.passed %}
<tr><td class="text" data-label="check"><code>{% for part in c.parts %}{{ part }}<wbr>{% endfor %}</code></td>
<td class="text" data-label="what was checked">{{ c.message }}</td></tr>
{%- endfor %}
</tbody></table>
</details>
{%- endif %}
{%- endfor %}
<p class="small muted">Policy: failed checks of severity <b>error</b> &rarr; {{ policy.error }},
<b>warning</b> &rarr; {{ policy.warning }}
{%- for pattern, action in policy.checks.items() %}; <code>{{ pattern }}</code> &rarr; {{ action }}{% endfor %}.
Row numbers are 0-based positions in each dataset.{% if embedded %} Written by mlprod.{% endif %}</p>
</div>
"""

_PAGE = """{% extends "base.html" %}{% block content %}{% include "validation_body.html" %}{% endblock %}"""


def render_html(result: ValidationResult, *, title: str = "Data validation", schema: str | None = None,
                standalone: bool = True, about: Any = None) -> str:
    """The report as HTML text (a whole page, or an embeddable ``<div>``). ``about``: an
    :class:`mlprod.reporting.about.About` (the model the data is for and its date), named under the title."""
    from mlprod.reporting import render

    subtitle = (f"{len(result.datasets)} dataset(s) \u00b7 {len(result.outcomes)} checks \u00b7 schema "
                f"{schema or '(in memory)'}")
    return render({"validation_body.html": _TEMPLATE, "validation.html": _PAGE},
                  "validation.html" if standalone else "validation_body.html",
                  embedded=not standalone, title=title, subtitle=subtitle, status=result.status,
                  about=about.line() if about is not None else None, tones=_TONE, status_tone=_TONE[result.status],
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
