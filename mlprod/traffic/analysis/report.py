"""The analysis report: ``experiment.json`` (the analysis dict, sorted keys) and ``experiment.html`` (the shared
report style: autoescaped, inline CSS, no scripts), each written atomically."""

from __future__ import annotations

from pathlib import Path

from ... import atomic

JSON_FILE, HTML_FILE = "experiment.json", "experiment.html"

TEMPLATE = r"""{% extends "base.html" %}
{% block style %}
.scroll { overflow-x: auto; } td.num, th.num, .badge { white-space: nowrap; } .badge { margin-left: 2px; }
td.num.ci { white-space: normal; }
@media (max-width: 600px) { th, td { padding: 4px 5px; } table { font-size: 12px; } }
{% endblock %}
{% macro ci(v, d=3) %}{% if v %}{{ v[0] | fmt(d) }} to {{ v[1] | fmt(d) }}{% else %}n/a{% endif %}{% endmacro %}
{% macro arms_table(block, kpi, metrics) %}
<div class="scroll"><table class="stack"><caption>Outcome rate</caption><thead><tr><th>Arm</th><th class="num">Units</th><th class="num">Labelled</th>
<th class="num">Rate</th><th class="num">95% CI</th></tr></thead>
{% for arm, a in block.per_arm.items() %}<tr><td>{{ arm }}</td><td class="num" data-label="Units">{{ a.units | fmt }}</td>
<td class="num" data-label="Labelled">{{ a.labelled | fmt }}</td><td class="num" data-label="Rate">{{ a.rate | fmt(4) }}</td>
<td class="num ci" data-label="95% CI">{{ ci(a.rate_ci) }}</td></tr>{% endfor %}</table></div>
<div class="scroll"><table class="stack"><caption>Against {{ control }}</caption><thead><tr><th>Against {{ control }}</th><th class="num">Difference</th>
<th class="num">Always-valid CI</th><th class="num">p</th></tr></thead>
{% for arm, c in block.comparisons.items() %}<tr><td>{{ arm }} <span class="badge {{ 'good' if c.significant else 'na' }}">{{ 'significant' if c.significant else 'not significant' }}</span></td>
<td class="num" data-label="Difference">{{ c.difference | fmt(4) }}{% if c.relative is not none %} ({{ "%+.1f" | format(100 * c.relative) }}%){% endif %}</td>
<td class="num ci" data-label="Always-valid CI">{{ ci(c.ci, 4) }}</td><td class="num" data-label="p">{{ c.p_value | fmt(4) }}</td></tr>{% endfor %}</table></div>
{% if kpi %}<div class="scroll"><table class="stack"><caption>KPI</caption><thead><tr><th>KPI</th><th class="num">Mean</th><th class="num">95% CI</th>
<th class="num">Difference</th><th class="num">95% CI</th></tr></thead>
{% for arm, a in block.per_arm.items() %}{% set c = block.comparisons.get(arm) %}<tr><td>{{ arm }}</td>
<td class="num" data-label="Mean">{{ a.kpi.mean | fmt }}</td><td class="num ci" data-label="95% CI">{{ ci(a.kpi.ci) }}</td>
<td class="num" data-label="Difference">{% if c %}{{ c.kpi.difference | fmt }}{% else %}-{% endif %}</td>
<td class="num ci" data-label="95% CI of the difference">{% if c %}{{ ci(c.kpi.ci) }}{% else %}-{% endif %}</td></tr>{% endfor %}</table></div>{% endif %}
{% if metrics %}<div class="scroll"><table class="stack"><caption>Model metrics</caption><thead><tr><th>Model</th>{% for m in metrics %}<th class="num">{{ m }}</th>{% endfor %}</tr></thead>
{% for arm, a in block.per_arm.items() %}<tr><td>{{ arm }}{% if a.get("model_versions") %} <span class="small muted">v{{ a.model_versions | join(", v") }}</span>{% endif %}</td>
{% for m in metrics %}<td class="num" data-label="{{ m }}">{{ (a.metrics or {}).get(m) | fmt }}</td>{% endfor %}</tr>{% endfor %}</table></div>{% endif %}
{% endmacro %}
{% block content %}
<div class="callout {{ 'bad' if r.sample_ratio.mismatch else 'good' }}">
<h2>{% if r.sample_ratio.mismatch %}Sample-ratio mismatch: results are not trustworthy{% else %}Split as planned{% endif %}</h2>
<div class="small">Units per arm {% for arm, n in r.sample_ratio.observed.items() %}{{ arm }} {{ n | fmt }} ({{ r.sample_ratio.expected_shares[arm] | pct }} planned){{ "; " if not loop.last }}{% endfor %}:
chi-square {{ r.sample_ratio.chi2 | fmt }}, p = {{ r.sample_ratio.p_value | fmt(4) }} (flagged below {{ r.sample_ratio.threshold | fmt(4) }}).
{% if r.sample_ratio.mismatch %}Assignment, logging or the join lost units of an arm; find why before reading the results.{% endif %}</div>
</div>
<div class="cards">{% for arm, line in r.verdict.comparisons.items() %}<div class="card"><div class="label">{{ arm }} against {{ control }}</div>
<div class="value">{{ r.comparisons[arm].difference | fmt(4) }}</div><div class="small">{{ line }}</div>
<div class="small muted">always-valid CI {{ ci(r.comparisons[arm].ci, 4) }}, p = {{ r.comparisons[arm].p_value | fmt(4) }}</div></div>{% endfor %}
<div class="card"><div class="label">Units analysed</div><div class="value">{{ r.input.units | fmt }}</div>
<div class="small">{{ r.input.units_in_two_arms_excluded | fmt }} seen in two arms (left out)</div></div></div>

<h2>Per arm</h2>
{{ arms_table(r, kpi, metrics) }}
<p class="small muted">Rates: labelled units with outcome 1, Wilson interval. Differences: treatment minus control; the
always-valid interval and p-value ({{ r.settings.test }}, mixing variance {{ r.settings.tau2 | fmt(6) }}, alpha
{{ r.settings.alpha_per_comparison | fmt(4) }} per comparison) stay valid however often the experiment is looked at.
{% if kpi %}KPI: the mean per arm with Student's t interval, Welch t for the difference (fixed-horizon: valid at one planned look).{% endif %}</p>

{% for name, s in r.strata.items() %}<h2>By {{ name }}</h2>
{% for level in s.levels %}<h3>{{ name }} = {{ level.level }}{% if level.sample_ratio.mismatch %} <span class="badge bad">sample-ratio mismatch, p = {{ level.sample_ratio.p_value | fmt(4) }}</span>{% endif %}</h3>
{{ arms_table(level, kpi, metrics) }}{% endfor %}
{% if s.levels_not_shown %}<p class="small muted">{{ s.levels_not_shown }} smaller levels not shown.</p>{% endif %}{% endfor %}

<h2>Input</h2>
<table class="small"><tr><td>Source</td><td>{{ r.input.source }}</td></tr>
<tr><td>Rows read</td><td>{{ r.input.rows_read | fmt }}</td></tr>
<tr><td>Units (first exposure each)</td><td>{{ r.input.units | fmt }}</td></tr>
<tr><td>Repeat exposures dropped</td><td>{{ r.input.repeat_exposures_dropped | fmt }}</td></tr>
<tr><td>Units seen in two arms (left out)</td><td>{{ r.input.units_in_two_arms_excluded | fmt }}{% if r.input.examples_in_two_arms %} (e.g. {{ r.input.examples_in_two_arms | join(", ") }}){% endif %}</td></tr>
<tr><td>Rows without a unit id</td><td>{{ r.input.rows_without_unit | fmt }}</td></tr>
<tr><td>Strata</td><td>{{ r.settings.strata | join(", ") or "none" }}</td></tr></table>
{% endblock %}
"""


def render_html(result: dict) -> str:
    from ...reporting.page import about_line, render

    metrics = [m for m in result["settings"]["metrics"]
               if any(m in (a.get("metrics") or {}) for a in result["per_arm"].values())]
    kpi = any("kpi" in a for a in result["per_arm"].values())
    title = f"Experiment: {result['experiment']}" if result["experiment"] else "Experiment analysis"
    return render({"experiment.html": TEMPLATE}, "experiment.html", title=title,
                  subtitle=f"{len(result['arms'])} arms, {result['input']['units']:,} units; control arm: "
                           f"{result['control']}", r=result, control=result["control"], kpi=kpi, metrics=metrics,
                  about=about_line(generated=result["input"].get("data_until"), what="data up to"))


def write(result: dict, folder: str | Path) -> tuple[Path, Path]:
    """Write ``experiment.json`` and ``experiment.html`` into ``folder`` (each atomically)."""
    from ...outpaths import check_dir

    folder = check_dir(folder, what="--out folder", files=(JSON_FILE, HTML_FILE))
    html = render_html(result)
    text = atomic.dumps_json(result)
    return atomic.write_text(folder / JSON_FILE, text), atomic.write_text(folder / HTML_FILE, html)
