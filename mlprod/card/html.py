"""The model card as one self-contained HTML page: the shared base template (:mod:`mlprod.reporting.page`),
inline SVG plots (ROC, precision-recall, calibration, metric by segment), no scripts, no network.

Jinja autoescaping escapes every string from the card value (params.yaml text, data values, file paths);
only the SVG charts, built here from escaped text and numbers, are inserted as markup.
"""

from __future__ import annotations


from .. import __version__
from ..reporting.about import About
from . import header, hub, text
from .html_view import curve_charts, fallback_metrics, glance, segment_charts, tone
from .schema import ModelCard

TEMPLATE = r"""{% extends "base.html" %}
{% macro stated(items, key) %}
{% if items %}<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>
{% else %}<p class="muted">Not stated (add <code>{{ key }}</code> to the <code>card:</code> section of params.yaml).</p>
{% endif %}
{% endmacro %}
{% macro one(value, key) %}
{% if value %}{{ value }}{% else %}<span class="muted">not stated (<code>card.{{ key }}</code>)</span>{% endif %}
{% endmacro %}
{% macro badge(text, kind) %}<span class="badge {{ kind }}">{{ text }}</span>{% endmacro %}
{% macro head(columns) %}
<thead><tr>{% for c in columns %}<th{% if c.startswith("#") %} class="num"{% endif %}>{{ c.lstrip("#") }}</th>
{% endfor %}</tr></thead>
{% endmacro %}

{% block content %}
{% set d = card.details %}{% set p = card.performance %}
{% if d.description %}<p>{{ d.description }}</p>{% endif %}
{% if card.missing %}
<div class="callout bad"><strong>Incomplete card:</strong> {{ card.missing|length }} input(s) were not available:
  {{ card.missing|map(attribute="input")|join(", ") }}. See <a href="#provenance">how this card was made</a>.</div>
{% endif %}
<div class="cards">
{% for label, value, kind in glance %}
  <div class="card"><div class="label">{{ label }}</div><div class="value {{ kind }}">{{ value }}</div>
  {% if notes.get(label) %}<div class="small muted">{{ notes[label] }}</div>{% endif %}</div>
{% endfor %}
</div>
{% if why %}<div class="callout warn">{{ why }}</div>{% endif %}
<nav class="small">
{% for anchor, name in sections %}<a href="#{{ anchor }}">{{ name }}</a>{% if not loop.last %} · {% endif %}{% endfor %}
</nav>

<h2 id="details">Model details</h2>
<table><tbody>
<tr><th>Name and version</th>
  <td>{{ d.name }} {{ d.version }} <span class="muted">(previous: {{ d.previous_version or "none" }})</span></td></tr>
<tr><th>Created</th><td>{{ d.created_at }}</td></tr>
<tr><th>Type</th><td>{{ d.estimator }} in <code>{{ d.model_type }}</code></td></tr>
<tr><th>Artifact</th>
  <td><code>{{ d.artifact }}</code>, {{ t.size(d.size) }}, sha256 <code>{{ d.sha256 }}</code></td></tr>
<tr><th>Output</th><td>{{ d.output }}</td></tr>
<tr><th>Code</th><td>
  {% if d.git_commit %}git commit <code>{{ d.git_commit[:12] }}</code>
  ({{ "uncommitted changes" if d.git_dirty else "clean" }}){% else %}no git commit recorded{% endif %}</td></tr>
<tr><th>Owners</th><td>{{ one(card.info.owners|join(", "), "owners") }}</td></tr>
<tr><th>Contact</th><td>{{ one(card.info.contact, "contact") }}</td></tr>
<tr><th>License</th><td>{{ one(card.info.license, "license") }}</td></tr>
<tr><th>Citation</th><td>{{ one(card.info.citation, "citation") }}</td></tr>
{% if card.info.references %}<tr><th>References</th><td>{{ card.info.references|join("; ") }}</td></tr>{% endif %}
</tbody></table>
<div class="grid2">
  <div><h3>Inputs</h3><table>{{ head(["input", "dtype", "treated as"]) }}<tbody>
  {% for i in d.inputs %}<tr><td>{{ i.name }}</td><td><code>{{ i.dtype }}</code></td><td>{{ i.kind }}</td></tr>
  {% endfor %}</tbody></table></div>
  {% if d.hyperparameters %}
  <div><h3>Hyperparameters ({{ d.estimator }})</h3>
    <details><summary>{{ d.hyperparameters|length }} parameters</summary><table><tbody>
    {% for k, v in d.hyperparameters.items() %}<tr><td>{{ k }}</td><td><code>{{ v }}</code></td></tr>{% endfor %}
    </tbody></table></details></div>
  {% endif %}
</div>

{% if d.packages or d.python %}
<h3>Software <span class="muted">(from the manifest)</span></h3>
<details><summary>Python {{ d.python or "not recorded" }}, {{ d.packages|length }} packages</summary>
<table>{{ head(["package", "version"]) }}<tbody>
{% for k, v in d.packages.items() %}<tr><td>{{ k }}</td><td><code>{{ v }}</code></td></tr>{% endfor %}
</tbody></table></details>
{% endif %}

<h2 id="start">How to get started</h2>
<pre>{{ start_code }}</pre>
<p>{{ start_note }}</p>

<h2 id="use">Intended use</h2>
<p><strong>Purpose.</strong> {{ one(card.info.purpose, "purpose") }}</p>
<div class="grid2">
  <div><h3>Intended users</h3>{{ stated(card.info.intended_users, "intended_users") }}</div>
  <div><h3>Intended uses</h3>{{ stated(card.info.intended_use, "intended_use") }}</div>
</div>
<h3>Out of scope</h3>{{ stated(card.info.out_of_scope_use, "out_of_scope_use") }}

<h2 id="factors">Factors</h2>
<h3>Relevant factors (stated)</h3>{{ stated(card.info.factors, "factors") }}
{% if card.slices %}
<p><strong>Evaluated factors:</strong> every value of {{ categorical|join(", ") or "no categorical input" }} and
  {{ card.settings.numeric_bins }} quantile bins of {{ numeric|join(", ") or "no numeric input" }}
  (edges from the evaluation data).</p>
{% endif %}

<h2 id="metrics">Metrics</h2>
<p>Label <code>{{ p.target }}</code> (1 = positive); decisions use the threshold
  score &ge; {{ t.num(p.threshold, 2) }}.</p>
<ul>{% for name, text in definitions %}<li><strong>{{ t.metric_label(name) }}</strong>: {{ text }}</li>{% endfor %}</ul>
{% if card.slices %}
<p>Segments are compared on <strong>{{ card.slices.label }}</strong>;
  {{ t.judgement_rule(card.settings, card.slices.label) }}.</p>
{% endif %}

<div class="grid2">
{% for title, ds, key in datasets %}
  <div><h2 id="{{ key }}">{{ title }}</h2>
  {% if ds %}<table><tbody>
    <tr><th>File</th><td><code>{{ ds.path }}</code>
      {% if ds.dataset_id %}<div class="small muted wrap">{{ ds.dataset_id }}</div>{% endif %}</td></tr>
    <tr><th>Rows</th><td>{{ t.num(ds.rows) }}{% if ds.positives is not none %}, {{ t.num(ds.positives) }} positive
      ({{ t.pct(ds.positive_rate) }}){% endif %}</td></tr>
    {% if ds.period %}<tr><th>Period</th><td>{{ ds.period }}</td></tr>{% endif %}
    <tr><th>Description</th><td>{{ one(ds.description, key) }}</td></tr>
  </tbody></table>
  {% else %}<p class="muted">Not available.</p>{% endif %}
  </div>
{% endfor %}
</div>

<h2 id="quantitative">Quantitative analyses</h2>
<table>{{ head(["metric", "#holdout", "#training"]) }}<tbody>
{% for m in overall_metrics %}
<tr><td>{{ t.metric_label(m) }}</td><td class="num">{{ t.metric_value(m, p.holdout.get(m)) }}</td>
  <td class="num">{{ t.metric_value(m, p.training.get(m)) }}</td></tr>
{% endfor %}
</tbody></table>
<p class="small muted">From {{ p.source }}.</p>
{% if curves %}
<div class="plots">{% for svg in curves %}<figure>{{ svg }}</figure>{% endfor %}</div>
<p class="small muted">Curves from {{ card.curves.source }}.</p>
{% endif %}
{% if card.slices %}{% set sl = card.slices %}
<h3>{{ sl.label }} by segment <span class="muted">(overall {{ t.num(sl.overall) }} on {{ t.num(sl.rows) }} rows;
  red: known limitation; lines: ± one standard error)</span></h3>
<div class="plots">{% for svg in segment_charts %}<figure>{{ svg }}</figure>{% endfor %}</div>
{% macro segment_table(segments) %}
<table class="stack">{{ head(["input", "segment", "#rows", "#positives", "#positive rate", "#selected", "#mean score",
               "#" ~ sl.label, "#± SE", "#vs overall", "judgement"]) }}<tbody>
{% for s in segments %}
<tr><td>{{ s.feature }}</td><td data-label="segment">{{ s.segment }}</td>
  <td class="num" data-label="rows">{{ t.num(s.rows) }}</td>
  <td class="num" data-label="positives">{{ t.num(s.positives) }}</td>
  <td class="num" data-label="positive rate">{{ t.pct(s.positive_rate) }}</td>
  <td class="num" data-label="selected">{{ t.pct(s.selected_share) }}</td>
  <td class="num" data-label="mean score">{{ t.num(s.mean_score) }}</td>
  <td class="num" data-label="{{ sl.label }}">{{ t.num(s.value) }}</td>
  <td class="num" data-label="± SE">{{ t.num(s.se) }}</td>
  <td class="num" data-label="vs overall">{{ t.signed(-s.gap if s.gap is not none else none) }}</td>
  <td data-label="judgement">{% if s.flagged %}{{ badge(s.note, "bad") }}{% else %}{{ s.note }}{% endif %}</td></tr>
{% endfor %}
</tbody></table>
{% endmacro %}
<details><summary>All {{ sl.segments|length }} segments with counts and the share selected at the threshold
  (overall {{ t.pct(sl.selected_share) }})</summary>
{{ segment_table(sl.segments) }}</details>
<h3>Intersections <span class="muted">({{ sl.label }} in cells of two inputs)</span></h3>
{% if not sl.pairs %}<p class="muted">No pair of inputs to intersect (set <code>intersection_columns</code>).</p>
{% elif not sl.intersections %}<p>No cell of {% for a, b in sl.pairs %}{{ a }} × {{ b }}{{ ", " if not loop.last }}{% endfor %}
  has at least {{ t.num(card.settings.min_intersection_rows) }} rows.</p>
{% else %}<details><summary>{{ sl.intersections|length }} cells of
  {% for a, b in sl.pairs %}{{ a }} × {{ b }}{{ ", " if not loop.last }}{% endfor %} with at least
  {{ t.num(card.settings.min_intersection_rows) }} rows</summary>
{{ segment_table(sl.intersections) }}</details>
{% endif %}
{% endif %}

<h2 id="limitations">Known limitations <span class="muted">(found by slice analysis)</span></h2>
{% if not card.slices %}<p class="muted">Not measured: no evaluation data with labels.</p>
{% elif card.slices.limitations or card.slices.intersection_limitations %}
<ol>{% for s in card.slices.limitations + card.slices.intersection_limitations %}
<li>{{ t.limitation_line(s, card.slices) }}</li>{% endfor %}</ol>
{% else %}<p>No segment falls well below the overall {{ card.slices.label }} of {{ t.num(card.slices.overall) }}.</p>
{% endif %}
{% if small_segments %}<p class="small muted">Not judged (too small): {{ small_segments|join(", ") }}.</p>{% endif %}

<h2 id="failure-modes">Failure modes <span class="muted">(measured)</span></h2>
{% if card.failure_modes %}{% set fm = card.failure_modes %}
<p>Each probe breaks one input the same way in all of {{ t.num(fm.sample_rows) }} evaluation rows and scores them:
  missing values, values 10 ranges beyond the min/max of the {{ fm.range_source }}, a category never seen, a value
  of the wrong type. {{ t.PROBE_LEGEND }} (hover a cell for the value given).</p>
{% set names, rows, errors = t.probe_matrix(fm) %}
<table class="stack">{{ head(["input"] + names|map("probe_label")|list) }}<tbody>
{% for feature, cells in rows %}
<tr><td>{{ feature }}</td>
  {% for pr in cells %}<td data-label="{{ names[loop.index0]|probe_label }}">
  {% if pr is none %}<span class="muted">n/a</span>
  {% else %}<span title="{{ pr.value }}{% if pr.error %}: {{ pr.error }}{% endif %}">
    {{- badge(pr.status, "good" if pr.status == "ok" else "bad") }}
    {% if pr.status == "ok" %}<span class="small">{{ t.num(pr.mean_abs_change, 2) }} /
      {{ t.num(pr.max_abs_change, 2) }}</span>
    {% elif pr.error in errors %}<span class="small">[{{ errors.index(pr.error) + 1 }}]</span>{% endif %}</span>
  {% endif %}</td>{% endfor %}</tr>
{% endfor %}
</tbody></table>
{% for pr in fm.probes if pr.probe == "empty_batch" %}
<p><strong>Empty batch</strong> (0 rows): {{ badge(pr.status, "good" if pr.status == "ok" else "bad") }}
  {% if pr.error in errors %}[{{ errors.index(pr.error) + 1 }}]{% endif %}</p>
{% endfor %}
{% if errors %}<ol class="small">{% for e in errors %}<li><code>{{ e }}</code></li>{% endfor %}</ol>{% endif %}
{% if fm.batch %}
<p><strong>Large batch:</strong> {{ badge("ok" if fm.batch.valid else "problem", "good" if fm.batch.valid else "bad") }}
  {{ t.batch_line(fm.batch) }}.</p>
{% endif %}
{% else %}<p class="muted">Not measured: no evaluation data.</p>{% endif %}

<h2 id="validation">Data validation</h2>
{% if card.validation %}{% set v = card.validation %}
<p>Gate status {{ badge(v.status, tone(v.status)) }} {{ t.num(v.checks) }} checks, {{ v.failed }} failed,
  {{ v.warnings }} warnings <span class="muted">(from <code>{{ v.source }}</code>)</span>.</p>
<table>{{ head(["data set", "#rows", "status", "#failed", "#warnings"]) }}<tbody>
{% for n, r, s, f, w in v.datasets %}
<tr><td>{{ n }}</td><td class="num">{{ t.num(r) }}</td><td>{{ badge(s, tone(s)) }}</td><td class="num">{{ f }}</td>
  <td class="num">{{ w }}</td></tr>
{% endfor %}
</tbody></table>
{% if v.findings %}
<details><summary>{{ v.findings|length }} finding(s)</summary>
<ul>{% for f in v.findings %}<li>{{ f }}</li>{% endfor %}</ul></details>
{% endif %}
{% else %}<p class="muted">No validation results available.</p>{% endif %}

<h2 id="champion">Comparison with the current champion</h2>
{% if card.comparison %}{% set c = card.comparison %}
<p>Champion: <strong>{{ c.champion or "none" }}</strong>; this model: <strong>{{ c.challenger }}</strong>
  {%- if c.decision %}; decision: {{ badge(c.decision, tone(c.decision)) }}{% endif %}
  <span class="muted">(from {{ c.source }})</span>.</p>
{% if c.metrics %}
<table class="stack">{{ head(["data set", "metric", "#champion", "#this model", "#change", ""]) }}<tbody>
{% for m in c.metrics %}{% set w = t.change_word(m.metric, m.delta) %}
<tr><td>{{ m.dataset }}</td><td data-label="metric">{{ t.metric_label(m.metric) }}</td>
  <td class="num" data-label="champion">{{ t.metric_value(m.metric, m.champion) }}</td>
  <td class="num" data-label="this model">{{ t.metric_value(m.metric, m.challenger) }}</td>
  <td class="num" data-label="change">{{ t.signed(m.delta, 0 if m.metric == "rows" else 3) }}</td>
  <td data-label="">{% if w %}{{ badge(w, {"better": "good", "worse": "bad"}.get(w, "na")) }}{% endif %}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
{% if c.gates %}
<h3>Gates</h3>
<table class="stack">{{ head(["gate", "result", "detail"]) }}<tbody>
{% for g in c.gates %}
<tr><td>{{ g.name }}</td><td data-label="result">{{ badge(g.status, tone(g.status)) }}</td>
  <td class="text" data-label="detail">{{ g.detail }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
{% for title, changes in [("Data changes", c.data_changes), ("Parameter changes", c.parameter_changes)] if changes %}
<h3>{{ title }}</h3>
<table>{{ head(["what", "champion", "this model"]) }}<tbody>
{% for x in changes %}
<tr><td><code>{{ x.what }}</code></td><td>{{ x.before }}</td><td>{{ x.after }}</td></tr>
{% endfor %}
</tbody></table>
{% endfor %}
{% if c.notes %}<ul class="muted">{% for n in c.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{% else %}<p class="muted">Not available.</p>{% endif %}
{% if card.fallback %}{% set f = card.fallback %}

<h2 id="fallback">Fallback model</h2>
<p>{{ t.fallback_when(f.name) }}</p>
<table><tbody>
<tr><th>Model</th><td>{{ f.name }} {{ f.version }} ({{ f.estimator }}), sha256 <code>{{ f.sha256[:12] }}</code></td></tr>
<tr><th>Manifest</th><td style="overflow-wrap:anywhere"><code>{{ f.manifest }}</code>
  <div class="small muted">holdout metrics from <code>{{ f.metrics_source }}</code></div></td></tr>
{% if f.decision %}
<tr><th>Gate decision</th><td style="overflow-wrap:anywhere">{{ badge(f.decision, tone(f.decision)) }}
  <span class="muted">({{ "champion before: " ~ f.champion if f.champion else "no champion before" }})</span>
  {% for g in f.gates %}<div class="small">{{ g.name }} {{ badge(g.status, tone(g.status)) }}</div>{% endfor %}
  <div class="small muted">from <code>{{ f.decision_source }}</code></div></td></tr>
{% endif %}
</tbody></table>
<h3>Holdout metrics, this model and the fallback</h3>
<table>{{ head(["metric", "#this model", "#fallback", "#fallback − this model"]) }}<tbody>
{% for m, ours, theirs, diff in fallback_metrics %}
<tr><td>{{ t.metric_label(m) }}</td><td class="num">{{ ours }}</td><td class="num">{{ theirs }}</td>
  <td class="num">{{ diff }}</td></tr>
{% endfor %}
</tbody></table>
{% if f.notes %}<ul class="muted">{% for n in f.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{% endif %}

<h2 id="ethics">Ethical considerations</h2>
{{ stated(card.info.ethical_considerations, "ethical_considerations") }}

<h2 id="caveats">Caveats and recommendations</h2>
<h3>Stated</h3>{{ stated(card.info.caveats, "caveats") }}
<h3>From the measurements</h3>
{% if card.recommendations %}<ul>{% for r in card.recommendations %}<li>{{ r }}</li>{% endfor %}</ul>
{% else %}<p>Nothing to add.</p>{% endif %}

<h2 id="rollback">Rollback procedure</h2>
{% set r = card.rollback %}
<p>This model: {{ r.current }}; previous version: <strong>{{ r.predecessor or "none (first version)" }}</strong>.</p>
{% if r.steps %}<ol>{% for what, command in r.steps %}<li>{{ what }}:<pre>{{ command }}</pre></li>{% endfor %}</ol>
{% endif %}
{% for n in r.notes %}<p>{{ n }}</p>{% endfor %}

<h2 id="monitoring">Monitoring plan</h2>
{% if card.monitoring %}{% set mo = card.monitoring %}
<p>Drift reports compare production data with the training reference; settings in force (from {{ mo.source }}):</p>
<div class="grid2">
  <div><table>{{ head(["setting", "value", "from"]) }}<tbody>
  {% for k, v, o in mo.settings %}<tr><td><code>{{ k }}</code></td><td>{{ v }}</td><td class="muted">{{ o }}</td></tr>
  {% endfor %}</tbody></table></div>
  <div><h3>Retraining is triggered when</h3>
  <ul>{% for trig, rule in mo.triggers %}<li><code>{{ trig }}</code>: {{ rule }}</li>
  {% else %}<li>no trigger enabled</li>{% endfor %}</ul>
  {% if mo.latest %}
  <h3>Last drift report</h3>
  <p>{{ badge(mo.latest, "bad" if mo.latest == "retraining required" else "good") }}
    <span class="muted">(<code>{{ mo.latest_source }}</code>)</span></p>
  <ul>{% for x in mo.reasons %}<li>{{ x }}</li>{% endfor %}
  {% for x in mo.observations %}<li class="muted">observed, not a trigger: {{ x }}</li>{% endfor %}</ul>
  {% endif %}</div>
</div>
{% else %}
<p class="muted">No drift thresholds configured (add a <code>drift_report</code> section to params.yaml).</p>
{% endif %}

<h2 id="provenance">How this card was made</h2>
<table>{{ head(["input", "path"]) }}<tbody>
{% for w, path in card.sources %}<tr><td>{{ w }}</td><td><code>{{ path }}</code></td></tr>{% endfor %}
</tbody></table>
{% if card.missing %}
<h3>Missing inputs</h3>
<table>{{ head(["input", "expected at", "effect"]) }}<tbody>
{% for m in card.missing %}<tr><td>{{ m.input }}</td><td><code>{{ m.path }}</code></td><td>{{ m.effect }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
<p class="small muted">Settings:
{% for k, v in settings %}<code>{{ k }}={{ v }}</code>{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% endblock %}

{% block footer %}Model card generated by mlprod {{ version }} from what the pipeline recorded and measured.
Self-contained page: no scripts, no external resources.{% endblock %}
"""

EXTRA_CSS = ("<style>.plots{display:flex;flex-wrap:wrap;gap:8px 20px}.plots figure{margin:4px 0}"
             ".cards{grid-template-columns:repeat(auto-fit,minmax(130px,1fr))}.card .value{font-size:17px}"
             "nav{margin:4px 0 8px}nav a{color:#0969da;text-decoration:none}.value.bad{color:#b42318}"
             ".value.good{color:#1a7f37}.value.warn{color:#9a6700}ol li pre{margin:4px 0 10px}"
             "h2 .muted{font-weight:400;font-size:14px}h3 .muted{font-weight:400}</style>")

SECTIONS = (("details", "Details"), ("start", "Get started"), ("use", "Intended use"), ("factors", "Factors"), ("metrics", "Metrics"),
            ("evaluation_data", "Evaluation data"), ("training_data", "Training data"),
            ("quantitative", "Quantitative analyses"), ("limitations", "Known limitations"),
            ("failure-modes", "Failure modes"), ("validation", "Data validation"), ("champion", "Champion"),
            ("ethics", "Ethics"), ("caveats", "Caveats"), ("rollback", "Rollback"), ("monitoring", "Monitoring"),
            ("provenance", "Provenance"))


def render_html(card: ModelCard) -> str:
    from ..reporting.page import environment

    env = environment({"model_card.html": TEMPLATE})
    start = hub.get_started(card)
    env.filters["probe_label"] = lambda name: text.PROBE_LABELS.get(name, name)
    d, p, sliced = card.details, card.performance, card.slices.features if card.slices else ()
    segments = card.slices.segments if card.slices else ()
    page = env.get_template("model_card.html").render(
        card=card, t=text, tone=tone, version=__version__, sections=_sections(card), glance=glance(card),
        fallback_metrics=fallback_metrics(card), why=header.explanation(card),
        notes={s.label: s.note for s in (header.promotion(card), header.drift(card)) if s is not None},
        about=About(d.name, d.version, d.created_at, "created").line(),
        start_code="\n".join(start[1:start.index("```", 1)]), start_note=start[-1].replace("`", ""),
        title=f"Model card: {card.title} {d.version}",
        subtitle=d.estimator,
        categorical=[i.name for i in d.inputs if i.kind == "categorical" and i.name in sliced],
        numeric=[i.name for i in d.inputs if i.kind == "numeric" and i.name in sliced],
        definitions=[(m, definition) for m, definition in text.METRIC_DEFINITIONS.items()
                     if m in p.holdout or m == card.settings.slice_metric],
        datasets=[("Evaluation data", card.evaluation_data, "evaluation_data"),
                  ("Training data", card.training_data, "training_data")],
        overall_metrics=[m for m in text.METRIC_ORDER if m in p.holdout or m in p.training],
        curves=curve_charts(card), segment_charts=segment_charts(card),
        small_segments=[f"{s.feature} = {s.segment} ({s.rows:,} rows)" for s in segments
                        if s.note.startswith("too few")],
        settings=[(k, "auto" if v is None else v) for k, v in card.settings.to_dict().items()])
    return page.replace("</head>", EXTRA_CSS + "</head>", 1)


def _sections(card: ModelCard) -> tuple[tuple[str, str], ...]:
    if card.fallback is None:
        return SECTIONS
    at = [anchor for anchor, _ in SECTIONS].index("champion") + 1
    return SECTIONS[:at] + (("fallback", "Fallback"),) + SECTIONS[at:]
