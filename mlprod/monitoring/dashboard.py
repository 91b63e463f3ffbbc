"""The monitoring dashboard: one self-contained HTML page and a Prometheus textfile from the history.

Order of work: normalise the inputs (a history frame or file, a decision value, record or file), compute
what the page shows (timelines per metric, model-version changes, the latest window), then render with
the shared report style (:mod:`mlprod.reporting`: autoescaped Jinja, inline CSS and SVG, no scripts) and
write both files atomically. Nothing depends on the clock: the same history gives the same bytes.

``monitoring.prom`` holds the latest window's values (gauges labelled only by ``metric`` and ``kind``; the
threshold also by ``alert_when``, one of three words or empty), its alerts, rows and start time, the model
version (an info metric) and the decision, for the node exporter's textfile collector.

A threshold is shown with its side ("below 0.05", "above 0.1", "outside ±0.05") from the history's
``alert_when``; a version-1 history has none, and the bare number is shown as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .. import atomic
from ..errors import MonitoringError
from .history import COLUMNS, KINDS, read_history

DASHBOARD = "dashboard.html"
PROM = "monitoring.prom"
# the order of sections: performance first, then business, then inputs, then volume
KIND_ORDER = ("realised", "estimated", "kpi", "drift", "volume")
KIND_TITLES = {"realised": "Realised performance (labelled rows)", "estimated": "Estimated performance (all rows)",
               "kpi": "Business KPIs", "drift": "Drift against the reference profile", "volume": "Volume"}


@dataclass(frozen=True)
class Timeline:
    kind: str
    metric: str
    values: list[float | None]
    thresholds: list[float | None]
    alerts: list[bool]
    directions: list[str | None]  # alert_when per window

    @property
    def alert_count(self) -> int:
        return sum(self.alerts)

    @property
    def threshold_label(self) -> str:
        """The threshold line's legend: "alert below" when every window with a threshold agrees on the side."""
        sides = {d for d, t in zip(self.directions, self.thresholds) if t is not None}
        return f"alert {sides.pop()}" if len(sides) == 1 and None not in sides else "alert at"


def threshold_text(threshold: float | None, alert_when: str | None) -> str:
    """"below 0.05", "above 0.1", "outside ±0.05"; the bare number without a side (a version-1 history)."""
    from ..reporting.page import format_number

    number = format_number(threshold)
    if threshold is None:
        return number
    if alert_when == "outside":
        return f"outside ±{number}"
    return f"{alert_when} {number}" if alert_when else number


def as_history(history: pd.DataFrame | str | Path) -> pd.DataFrame:
    """A history frame (the contract's columns) from a frame or a ``history.parquet`` path."""
    frame = read_history(history) if isinstance(history, (str, Path)) else history
    if "alert_when" not in frame.columns:  # a version-1 history frame: no side recorded
        frame = frame.assign(alert_when=None)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise MonitoringError(f"monitoring history: missing column(s) {missing}; expected the columns {list(COLUMNS)} "
                              "(read it with mlprod.monitoring.history.read_history)")
    return frame.sort_values(["window_start", "window", "kind", "metric"], kind="stable").reset_index(drop=True)


def as_decision(decision: Any) -> dict[str, Any] | None:
    """The decision record as a dict: a :class:`~mlprod.monitoring.policy.Decision`, its dict or its JSON file."""
    if decision is None:
        return None
    if hasattr(decision, "to_dict"):
        return decision.to_dict()
    if isinstance(decision, (str, Path)):
        path = Path(decision)
        try:
            decision = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MonitoringError(f"decision record {path}: cannot read it as JSON ({exc}); expected the file "
                                  "written by Decision.write (mlprod monitor)") from exc
    if not isinstance(decision, Mapping) or "retrain" not in decision:
        raise MonitoringError(f"decision record: expected a mapping with 'retrain' and 'reasons' (Decision.to_dict), "
                              f"got {type(decision).__name__}")
    return dict(decision)


def windows_of(history: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per window in time order: window, start, end, model_version, rows, labelled_rows."""
    first = history.drop_duplicates("window").sort_values(["window_start", "window"], kind="stable")
    return [{"window": r.window, "start": r.window_start, "end": r.window_end, "model_version": r.model_version,
             "rows": int(r.rows), "labelled_rows": int(r.labelled_rows)} for r in first.itertuples()]


def version_marks(windows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """``(index, "v<version>")`` where the model version differs from the window before (the first window too)."""
    marks = []
    for i, w in enumerate(windows):
        if i == 0 or w["model_version"] != windows[i - 1]["model_version"]:
            marks.append((i, f"v{w['model_version']}"))
    return marks


def timelines(history: pd.DataFrame, windows: list[str]) -> list[Timeline]:
    """One timeline per (kind, metric), kinds in :data:`KIND_ORDER`, metrics sorted."""
    out = []
    position = {w: i for i, w in enumerate(windows)}
    kinds = [k for k in KIND_ORDER if k in KINDS] + sorted(set(history["kind"]) - set(KIND_ORDER))
    for kind in kinds:
        rows = history[history["kind"] == kind]
        for metric in sorted(set(rows["metric"])):
            values: list[float | None] = [None] * len(windows)
            thresholds: list[float | None] = [None] * len(windows)
            alerts = [False] * len(windows)
            directions: list[str | None] = [None] * len(windows)
            for r in rows[rows["metric"] == metric].itertuples():
                i = position[r.window]
                values[i] = _finite(r.value)
                thresholds[i] = _finite(r.threshold)
                alerts[i] = bool(r.alert)
                directions[i] = r.alert_when if isinstance(r.alert_when, str) else None
            out.append(Timeline(kind, metric, values, thresholds, alerts, directions))
    return out


def _finite(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def latest_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest window (by start, then name), in kind and metric order."""
    if history.empty:
        return history
    last = history.sort_values(["window_start", "window"], kind="stable")["window"].iloc[-1]
    return history[history["window"] == last]


TEMPLATE = r"""{% extends "base.html" %}
{% block style %}
.grid2 { grid-template-columns: repeat(auto-fit, minmax(min(440px, 100%), 1fr)); }
svg { max-width: 100%; height: auto; display: block; }
td { overflow-wrap: anywhere; } th { overflow-wrap: normal; } .alerts td:first-child { min-width: 7em; }
.windows td { overflow-wrap: normal; } .nw { white-space: nowrap; }
@media (max-width: 600px) { .windows td, .windows th { padding: 5px 4px; } } .windows td:first-child, .windows td.num { white-space: nowrap; }
.marks { color: #6e40c9; } figure { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px 4px; }
figcaption .badge { margin-left: 6px; } figcaption .small { font-weight: 400; }
@media (max-width: 600px) { main { padding: 16px 12px 32px; } .cards { grid-template-columns: 1fr 1fr; }
  h1 { font-size: 20px; } .card .value { font-size: 17px; } }
{% endblock %}
{% block content %}
{% if d %}
<div class="callout {{ 'bad' if d.retrain else 'good' }}">
  <h2>{{ "Retraining recommended" if d.retrain else "No retraining needed" }}</h2>
  <div class="small muted">Decision as of {{ d.as_of }}{% if d.model_version %} for model version {{ d.model_version }}{% endif %};
    {{ d.windows | length }} window(s) since {{ d.last_retrain or "the start of the history" }}.</div>
  <ul>{% for reason in d.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>
  {% if d.checks %}<details><summary>Every check of the policy</summary><table>
  <tr><th>Check</th><th>Kind</th><th>Result</th><th>Reason</th></tr>
  {% for c in d.checks %}<tr><td>{{ c.name | replace("_", " ") }}</td><td>{{ c.kind }}</td>
  <td><span class="badge {{ check_tone(c) }}">{{ check_word(c) }}</span></td><td>{{ c.reason }}</td></tr>{% endfor %}
  </table></details>{% endif %}
</div>
{% else %}
<div class="callout"><strong>No decision record.</strong> <span class="muted">Run <code>mlprod monitor</code> to decide
whether to retrain; the history below is shown as it is.</span></div>
{% endif %}

{% if windows %}
<div class="cards">
  <div class="card"><div class="label">Latest window</div><div class="value">{{ last.window }}</div>
    <div class="muted small">{{ last.start }} to {{ last.end }}</div></div>
  <div class="card"><div class="label">Model version</div><div class="value">{{ last.model_version }}</div>
    <div class="muted small">{{ marks | length - 1 }} change(s) over {{ windows | length }} window(s)</div></div>
  <div class="card"><div class="label">Rows / labelled</div><div class="value">{{ last.rows | fmt }}</div>
    <div class="muted small">{{ last.labelled_rows | fmt }} labelled so far</div></div>
  <div class="card"><div class="label">Alerts in the latest window</div>
    <div class="value">{{ latest_alerts | length }}</div>
    <div class="muted small">{{ total_alerts }} over all windows</div></div>
</div>

{% if latest_alerts %}<h2>Alerts in {{ last.window }}</h2>
<table class="alerts"><tr><th>Metric</th><th class="num">Value</th><th class="num">Alert at</th></tr>
{% for t in latest_alerts %}<tr><td>{{ t.kind }} <b>{{ t.metric }}</b></td><td class="num">{{ t.values[-1] | fmt }}</td>
<td class="num">{{ threshold_text(t.thresholds[-1], t.directions[-1]) }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Estimated vs realised ROC AUC</h2>
{% if performance %}<div class="grid2"><figure>{{ performance }}</figure>
<p class="muted">Estimated: from the model's scores alone, assuming they are calibrated (CBPE), for every window
at once. Realised: from the labels that have arrived. A lasting gap means the relation between inputs and label has
changed, which the estimate cannot see (the <code>estimate_disagreement</code> alert).</p></div>
{% else %}<p class="muted">No ROC AUC in the history yet.</p>{% endif %}

<p class="small marks">Dotted purple lines: the model version scoring from that window on (a retrain or a rollback).
{% for i, label in marks %}{{ windows[i].window }}: {{ label }}{{ "; " if not loop.last else "." }}{% endfor %}</p>

{% for kind, group in sections %}
<h2 id="{{ kind }}">{{ kind_titles.get(kind, kind) }}</h2>
<div class="grid2">{% for t, plot in group %}
<figure><figcaption>{{ t.metric }}{% if t.alert_count %}<span class="badge bad">{{ t.alert_count }} alert(s)</span>
{% endif %}</figcaption>{{ plot }}</figure>{% endfor %}</div>
{% endfor %}

<h2>Windows</h2>
<table class="windows"><tr><th>Window</th><th>Dates</th><th>Model</th><th class="num">Rows / labelled</th></tr>
{% for w in windows | reverse %}<tr><td>{{ w.window }}</td><td><span class="nw">{{ w.start }}</span> to <span class="nw">{{ w.end }}</span></td><td>{{ w.model_version }}</td>
<td class="num">{{ w.rows | fmt }} / {{ w.labelled_rows | fmt }}</td></tr>{% endfor %}</table>
{% else %}
<p class="muted">The monitoring history is empty: no batch has been scored and monitored yet.</p>
{% endif %}
{% endblock %}
{% block footer %}Generated by mlprod from the monitoring history{% if as_of %} (computed up to {{ as_of }}){% endif %}.
Self-contained page: no scripts, no external resources.{% endblock %}
"""


def _check_word(check: Mapping[str, Any]) -> str:
    if check["kind"] == "gate":
        return "passed" if check["passed"] else "blocks"
    return "fired" if check["passed"] else "quiet"


def _check_tone(check: Mapping[str, Any]) -> str:
    if check["kind"] == "gate":
        return "good" if check["passed"] else "warn"
    return "bad" if check["passed"] else "na"


def render_dashboard(history: pd.DataFrame | str | Path, *, decision: Any = None, title: str | None = None,
                     model_name: str | None = None) -> str:
    """The page; under its title the model (``model_name``), the latest window's version and the history's date."""
    from ..reporting import svg
    from ..reporting.page import render

    frame = as_history(history)
    record = as_decision(decision)
    windows = windows_of(frame)
    names = [w["window"] for w in windows]
    marks = version_marks(windows)
    lines = timelines(frame, names)
    sections: dict[str, list] = {}
    for t in lines:
        plot = svg.timeline(names, {t.metric: t.values}, title=f"{t.kind} {t.metric} per window",
                            threshold=t.thresholds if any(v is not None for v in t.thresholds) else None,
                            threshold_label=t.threshold_label, mirror_threshold=t.threshold_label == "alert outside",
                            alerts=t.alerts, marks=marks)
        sections.setdefault(t.kind, []).append((t, plot))
    auc = {t.kind: t for t in lines if t.metric == "roc_auc" and t.kind in ("estimated", "realised")}
    performance = None
    if auc:
        series = {name: auc[kind].values for kind, name in (("estimated", "estimated"), ("realised", "realised"))
                  if kind in auc}
        floored = next((t for t in auc.values() if any(v is not None for v in t.thresholds)), None)
        performance = svg.timeline(names, series, title="ROC AUC per window: estimated and realised",
                                   threshold=floored.thresholds if floored else None,
                                   threshold_label=floored.threshold_label if floored else "alert at", marks=marks)
    latest = [t for t in lines if t.alerts and t.alerts[-1]]
    as_of = str(frame["as_of"].max()) if len(frame) else None
    model = windows[-1]["model_version"] if windows else None
    from ..reporting.about import About

    return render({"dashboard.html": TEMPLATE}, "dashboard.html",
                  title=title or "Monitoring dashboard", about=About(model_name, model, as_of, "computed up to").line(),
                  subtitle=(f"{len(windows)} window(s), {names[0]} to {names[-1]}; model version {model}"
                            if windows else "no windows yet"),
                  d=record, windows=windows, last=windows[-1] if windows else None, marks=marks,
                  sections=list(sections.items()), kind_titles=KIND_TITLES, performance=performance,
                  latest_alerts=latest, total_alerts=sum(t.alert_count for t in lines), as_of=as_of,
                  check_word=_check_word, check_tone=_check_tone, threshold_text=threshold_text)


def write_prometheus(history: pd.DataFrame | str | Path, path: str | Path, *, decision: Any = None) -> Path:
    """The latest window as a Prometheus textfile (labels: ``metric`` and ``kind``, and ``alert_when`` on the
    threshold: above, below, outside or empty; values of the history, so the same history writes the same bytes)."""
    from prometheus_client import CollectorRegistry, Gauge, Info, write_to_textfile

    frame = as_history(history)
    record = as_decision(decision)
    registry = CollectorRegistry(auto_describe=True)
    value = Gauge("mlprod_monitoring_value", "Latest monitoring window: the metric's value", ["metric", "kind"],
                  registry=registry)
    threshold = Gauge("mlprod_monitoring_threshold", "Latest monitoring window: the metric's alert threshold "
                      "(alert_when: the side that alerts, above, below or outside +-threshold)",
                      ["metric", "kind", "alert_when"], registry=registry)
    alert = Gauge("mlprod_monitoring_alert", "Latest monitoring window: 1 if the metric is in alert",
                  ["metric", "kind"], registry=registry)
    alerts = Gauge("mlprod_monitoring_alerts", "Latest monitoring window: metrics in alert", registry=registry)
    rows = Gauge("mlprod_monitoring_window_rows", "Latest monitoring window: rows scored", registry=registry)
    labelled = Gauge("mlprod_monitoring_window_labelled_rows", "Latest monitoring window: rows with a label",
                     registry=registry)
    start = Gauge("mlprod_monitoring_window_start_timestamp_seconds", "Latest monitoring window: start (UTC)",
                  registry=registry)
    windows = Gauge("mlprod_monitoring_windows", "Windows in the monitoring history", registry=registry)
    model = Info("mlprod_monitoring_model", "Model version scoring the latest monitoring window", registry=registry)
    latest = latest_rows(frame)
    windows.set(frame["window"].nunique())
    if len(latest):
        first = latest.iloc[0]
        rows.set(int(first["rows"]))
        labelled.set(int(first["labelled_rows"]))
        start.set(_epoch(first["window_start"]))
        model.info({"model_version": str(first["model_version"])})
    for r in latest.itertuples():
        value.labels(metric=r.metric, kind=r.kind).set(float(r.value))
        if _finite(r.threshold) is not None:
            side = r.alert_when if isinstance(r.alert_when, str) else ""
            threshold.labels(metric=r.metric, kind=r.kind, alert_when=side).set(float(r.threshold))
        alert.labels(metric=r.metric, kind=r.kind).set(1 if r.alert else 0)
    alerts.set(int(latest["alert"].astype(bool).sum()) if len(latest) else 0)
    if record is not None:
        retrain = Gauge("mlprod_monitoring_retrain_recommended", "1 if the latest decision says retrain",
                        registry=registry)
        retrain.set(1 if record["retrain"] else 0)
    path = Path(path)
    write_to_textfile(str(path), registry)
    return path


def _epoch(day: Any) -> float:
    text = str(day)
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def write_dashboard(history: pd.DataFrame | str | Path, out_dir: str | Path, *, decision: Any = None,
                    title: str | None = None, model_name: str | None = None) -> list[Path]:
    """Write ``dashboard.html`` and ``monitoring.prom`` into ``out_dir``; returns their paths."""
    from ..outpaths import check_dir

    folder = check_dir(out_dir, what="dashboard folder", files=(DASHBOARD, PROM))
    html = render_dashboard(history, decision=decision, title=title, model_name=model_name)
    folder.mkdir(parents=True, exist_ok=True)
    page = atomic.write_text(folder / DASHBOARD, html)
    return [page, write_prometheus(history, folder / PROM, decision=decision)]
