"""The drift report as a small, self-contained HTML page (aggregated plots only, no raw rows)."""

from __future__ import annotations

from typing import Any

from ..reporting import svg
from .results import DriftReport

TEMPLATE = """{% extends "base.html" %}
{% block content %}
<div class="callout {{ 'bad' if r.retrain.required else 'good' }}">
  <h2>{{ "Retraining recommended" if r.retrain.required else "No retraining needed" }}</h2>
  {% if r.retrain.reasons %}<ul>{% for reason in r.retrain.reasons %}
    <li><b>{{ reason.trigger | replace("_", " ") }}</b>: {{ reason.message }}</li>{% endfor %}</ul>
  {% else %}<div>No finding crossed a retraining threshold.</div>{% endif %}
  {% if r.retrain.observations %}<div class="muted small">Also found (not a retraining trigger under the policy):
    {% for o in r.retrain.observations %}{{ o.message }}{{ "; " if not loop.last }}{% endfor %}</div>{% endif %}
</div>

<div class="cards">
  <div class="card"><div class="label">Drifted features</div>
    <div class="value">{{ r.features.drifted | length }} / {{ r.features.columns | length }}</div>
    <div class="muted small">{{ r.features.share_drifted | pct }}; retrain at {{ settings.max_drifted_share | pct }}</div></div>
  <div class="card"><div class="label">Prediction drift</div>
    {% if r.prediction %}<div class="value">{{ "yes" if r.prediction.drifted else "no" }}</div>
    <div class="muted small">{{ evidence(r.prediction) }}</div>
    {% else %}<div class="value">n/a</div>{% endif %}</div>
  <div class="card"><div class="label">Concept drift</div>
    {% if r.concept %}<div class="value">{{ "yes" if r.concept.detected else "no" }}</div>
    <div class="muted small">{{ r.concept.drifted_features | join(", ") or "no feature relation changed" }}</div>
    {% else %}<div class="value">n/a</div><div class="muted small">needs labels and a baseline</div>{% endif %}</div>
  <div class="card"><div class="label">ROC AUC (current / baseline)</div>
    <div class="value">{{ perf_current.get("roc_auc") | fmt }}</div>
    <div class="muted small">baseline {{ perf_baseline.get("roc_auc") | fmt }}; KPI {{ perf_current.get("kpi") | fmt }}
    vs {{ perf_baseline.get("kpi") | fmt }}</div></div>
  <div class="card"><div class="label">Importance rank correlation</div>
    <div class="value">{{ r.importance.correlation | fmt if r.importance else "n/a" }}</div>
    <div class="muted small">flag below {{ settings.min_importance_correlation }}</div></div>
</div>
<p class="muted small">Reference: {{ r.reference.source }} ({{ r.reference.rows | fmt }} rows). Current: {{ r.current.source }}
({{ r.current.rows | fmt }} rows){% if r.current.get("baseline") %}. Baseline for scores and labels: {{ r.current.baseline.source }}
({{ r.current.baseline.rows | fmt }} rows){% endif %}.</p>

<h2>Feature drift</h2>
<table class="stack">
<thead><tr><th>Column</th><th>Drift</th><th>Kind</th><th>Test</th><th class="num">Statistic</th><th class="num">p-value</th>
<th class="num">Threshold</th><th class="num">Missing ref / cur</th></tr></thead><tbody>
{% for c in columns %}<tr><td>{{ c.column }}</td>
<td data-label="drift"><span class="badge {{ 'bad' if c.drifted else 'good' }}">{{ "drift" if c.drifted else "stable" }}</span>
{% if c.note %}<div class="muted small">{{ c.note }}</div>{% endif %}</td>
<td data-label="kind">{{ c.kind }}</td>
<td data-label="test"><span>{{ c.test }}{% if c.chosen_by == "default" %} <span class="muted small">(default)</span>
{%- endif %}</span></td>
<td class="num" data-label="statistic">{{ c.statistic | fmt }}</td><td class="num" data-label="p-value">{{ c.p_value | fmt }}</td>
<td class="num" data-label="threshold">{{ threshold(c) }}</td>
<td class="num" data-label="missing ref / cur">{{ c.missing_share_reference | pct }} / {{ c.missing_share_current | pct }}</td></tr>
{% endfor %}</tbody></table>
{% if legend %}<p class="muted small">{% for line in legend %}{{ line }}{{ " " if not loop.last }}{% endfor %}</p>{% endif %}
{% if feature_plots %}<h3>Reference vs current for drifted columns</h3>
<div class="grid2">{% for name, plot in feature_plots %}<figure><figcaption>{{ name }}</figcaption>{{ plot }}</figure>{% endfor %}</div>
{% endif %}

<h2>Data findings</h2>
<p class="muted small">Beside the distribution tests: reference columns absent from the current data, a share of
missing values that moved by at least {{ settings.min_missing_change | pct }} (absolute) with Fisher's exact test
p &lt; {{ settings.missing_alpha }}, and categories the reference never had in at least
{{ settings.min_new_category_share | pct }} of the current rows.</p>
{% if r.findings %}<table class="stack"><thead><tr><th>Finding</th><th>Column</th><th>What</th><th class="num">Value</th>
<th class="num">Minimum</th><th class="num">p-value</th><th>Retraining trigger</th></tr></thead><tbody>
{% for f in r.findings %}<tr><td>{{ f.kind | replace("_", " ") }}</td><td data-label="column">{{ f.column }}</td>
<td class="text" data-label="what">{{ f.message }}</td><td class="num" data-label="value">{{ f.value | fmt }}</td>
<td class="num" data-label="minimum">{{ f.threshold | fmt }}</td><td class="num" data-label="p-value">{{ f.p_value | fmt }}</td>
<td data-label="retraining trigger">{{ "yes" if f.kind in settings.retrain_on else "no (observation)" }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p>None: every reference column is present, no share of missing values changed and no
new category.</p>{% endif %}

{% if prediction_plot %}<h2>Prediction drift</h2>
<p>Scores of the model, {{ r.prediction.title }}: {{ evidence(r.prediction) }} <span class="badge {{ 'bad' if r.prediction.drifted else 'good' }}">
{{ "drift" if r.prediction.drifted else "stable" }}</span></p>
<figure>{{ prediction_plot }}</figure>{% endif %}

{% if r.concept %}<h2>Concept drift</h2>
<p>Mean residual (label − score) per feature bin, baseline vs current: without concept drift it stays put, whatever
the feature distribution does. ADWIN on the per-row error: {{ r.concept.detections | length }} change(s) detected
{%- if r.concept.error_increase_detected %}, including an <b>increase</b> of the error{% endif %}.</p>
<table class="stack"><thead><tr><th>Feature</th><th class="num">chi-square p-value</th><th class="num">Largest change</th>
<th>Relation</th></tr></thead><tbody>
{% for name, rel in r.concept.relations.items() %}<tr><td>{{ name }}</td>
<td class="num" data-label="chi-square p-value">{{ rel.get("p_value") | fmt }}</td>
<td class="num" data-label="largest change">{{ rel.get("max_change") | fmt }}</td><td data-label="relation">
<span class="badge {{ 'bad' if rel.drifted else 'good' }}">{{ "changed" if rel.drifted else "stable" }}</span>
{% if rel.get('note') %} <span class="muted small">{{ rel.get('note') }}</span>{% endif %}</td></tr>
{% endfor %}</tbody></table>
<div class="grid2">{% for name, plot in relation_plots %}<figure><figcaption>{{ name }}: mean residual per bin</figcaption>{{ plot }}</figure>{% endfor %}</div>
{% if window_plot %}<h3>Performance by window</h3><figure>{{ window_plot }}</figure>
<p class="muted small">{{ r.concept.windows_below }} of {{ r.concept.windows | length }} windows are more than
{{ settings.max_auc_drop }} below the baseline ROC AUC.</p>{% endif %}
{% endif %}

{% if r.performance %}<h2>Performance</h2>
<div class="scroll"><table><tr><th>Metric</th>{% for name in r.performance %}<th class="num">{{ name }}</th>{% endfor %}</tr>
{% for metric in metrics %}<tr><td>{{ metric }}</td>{% for name, perf in r.performance.items() %}
<td class="num">{{ perf.metrics.get(metric) | fmt }}</td>{% endfor %}</tr>{% endfor %}
<tr><td>rows</td>{% for name, perf in r.performance.items() %}<td class="num">{{ perf.rows | fmt }}</td>{% endfor %}</tr>
</table></div>
<p class="muted small">kpi: positive rate among the {{ settings.kpi_top_share | pct }} highest-scored rows;
accuracy, precision and recall at score ≥ {{ settings.decision_threshold }}.</p>{% endif %}

{% if r.importance %}<h2>Feature importance</h2>
<p>{{ r.importance.method }}. Spearman rank correlation {{ r.importance.correlation | fmt }}
(flag below {{ r.importance.threshold }}){% if r.importance.note %}; {{ r.importance.note }}{% endif %}.</p>
<table><tr><th>Feature</th><th class="num">Reference</th><th class="num">Current</th></tr>
{% for name, value in r.importance.reference.items() %}<tr><td>{{ name }}</td><td class="num">{{ value | fmt }}</td>
<td class="num">{{ r.importance.current[name] | fmt }}</td></tr>{% endfor %}</table>{% endif %}

{% if r.notes %}<h2>Notes</h2><ul>{% for note in r.notes %}<li>{{ note }}</li>{% endfor %}</ul>{% endif %}
<details><summary>Settings used</summary><pre>{{ settings_text }}</pre></details>
{% endblock %}
"""

METRICS = ("roc_auc", "kpi", "log_loss", "brier", "positive_rate", "mean_score", "accuracy", "precision", "recall")


def render_html(report: DriftReport, title: str = "Drift report", about: Any = None) -> str:
    """The page; ``about`` (:class:`mlprod.reporting.about.About`) names the model, its version and the date."""
    from ..atomic import dumps_json
    from ..reporting.page import render

    ordered = sorted(report.features.columns, key=lambda c: (not c.drifted, c.column))
    plots = report.plots.get("features", {})
    feature_plots = [(c.column, distribution_plot(plots.get(c.column), c.column)) for c in ordered if c.drifted]
    prediction = report.plots.get("prediction")
    relations = report.plots.get("relations", {})
    concept_drifted = report.concept.drifted_features if report.concept else ()
    relation_plots = [(name, _relation_plot(relations[name], name)) for name in concept_drifted if name in relations]
    perf = {name: p.metrics for name, p in report.performance.items()}
    context: dict[str, Any] = {
        "title": title, "about": about.line() if about is not None else None,
        "subtitle": f"{report.current.get('source')} compared with {report.reference.get('source')}",
        "r": report, "settings": report.settings, "columns": ordered,
        "feature_plots": [(n, p) for n, p in feature_plots if p is not None],
        "prediction_plot": distribution_plot(prediction, "score") if prediction else None,
        "relation_plots": relation_plots, "window_plot": _window_plot(report),
        "perf_current": perf.get("current", {}), "perf_baseline": perf.get("baseline", {}),
        "metrics": METRICS, "settings_text": dumps_json(report.settings), "evidence": _evidence,
        "threshold": _threshold, "legend": _legend(report),
    }
    return render({"drift.html": TEMPLATE}, "drift.html", **context)


def _threshold(result) -> str:
    from ..reporting.page import format_number as _fmt

    if result.threshold is None:
        return "—"
    if result.score == "exact":
        return "value differs"
    if result.score == "p_value":
        return f"p < {_fmt(result.threshold)}"
    base = " (base 2)" if result.test == "jensen_shannon" else ""
    return f"≥ {_fmt(result.threshold)}{base}"


def _legend(report: DriftReport) -> list[str]:
    tests = {c.test for c in report.features.columns} | ({report.prediction.test} if report.prediction else set())
    lines = []
    if "jensen_shannon" in tests:
        lines.append("Jensen–Shannon: a distance computed with base-2 logarithms (0 to 1). Evidently uses natural "
                     "logarithms, which give √ln 2 ≈ 0.83 times these values: a threshold of 0.1 here is 0.083 there.")
    if "constant" in tests:
        lines.append("constant: both sides hold a single value (min = max), compared exactly: drift when the "
                     "values differ.")
    if "none" in tests:
        lines.append("none: no test ran because a side has no values; drift when only one side is empty.")
    return lines


def _evidence(result) -> str:
    from ..reporting.page import format_number as _fmt

    if result.test in ("none", "constant"):
        return result.note or result.title
    if result.score == "p_value":
        return f"statistic {_fmt(result.statistic)}, p-value {_fmt(result.p_value)} (drift below {result.threshold})"
    return f"{_fmt(result.statistic)} (drift at {result.threshold} or more)"


def distribution_plot(data: dict | None, name: str):
    """Reference vs current shares of a column's plot data: a histogram over its values (the tails beyond the
    edges as labelled end bars) or bars per category; None without data. The drift report and the drift
    explorer draw the same chart."""
    if not data:
        return None
    series = {"reference": data["reference"], "current": data["current"]}
    if data["kind"] == "categorical":
        if not data.get("labels"):
            return None
        return svg.grouped_bars(data["labels"], series, title=f"{name}: share per category",
                                x_label="share of rows", y_label=name)
    if not data.get("edges"):
        return None
    return svg.histogram(data["edges"], series, title=f"{name}: share per bin", x_label=name,
                         below=data.get("below"), above=data.get("above"))


def _relation_plot(relation: dict, name: str):
    bins = relation.get("bins") or []
    labels = [b["bin"] for b in bins]
    series = {"baseline": [b["baseline"] for b in bins], "current": [b["current"] for b in bins]}
    return svg.lines(labels, series, title=f"{name}: mean residual per bin", guides={"zero": 0.0}, width=440)


def _window_plot(report: DriftReport):
    windows = report.plots.get("windows") or []
    if not windows:
        return None
    labels = [w["label"] for w in windows]
    guides = {}
    baseline = report.plots.get("baseline_auc")
    if baseline is not None:
        guides["baseline"] = baseline
        if report.settings.get("max_auc_drop") is not None:
            guides["alert"] = baseline - report.settings["max_auc_drop"]
    return svg.lines(labels, {"ROC AUC": [w.get("roc_auc") for w in windows]}, title="ROC AUC per window",
                     guides=guides)
