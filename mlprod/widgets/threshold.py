"""The threshold explorer: what a model's scores decide at a threshold, and what those decisions are worth.

Computation first, as values (:func:`threshold_point`), with the monitoring's own definitions so the
explorer, the monitoring history and the dashboard never disagree:

- a case is flagged when its score is at or above the threshold (the rule of ``holdout_metrics`` and of
  scoring); the confusion counts, precision and recall are :class:`mlprod.monitoring.windows.ScoreSummary`
  and :func:`mlprod.monitoring.estimate.realised_confusion`;
- the value per flagged case is the ``net_value`` KPI (params.yaml ``monitor.kpis.net_value``:
  ``value_per_conversion`` for a converted flagged lead, ``cost_per_wasted_call`` for a flagged lead that
  did not convert), the function the monitoring history computes per window;
- cases per day: the evaluation rows per calendar day of the date column (``project.date_column``), or the
  rows per day of the monitoring history's windows (``windows_of``) when a history is given.

:func:`render_threshold` draws a point as HTML (no scripts); :func:`threshold_explorer` puts a slider over
it in JupyterLab, shown through :func:`mlprod.widgets.display.with_fallback`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from ..errors import DataError

NET_VALUE = "net_value"


@dataclass(frozen=True)
class BusinessCase:
    """What a decision is worth and how many cases a day bring: ``costs`` are the ``net_value`` KPI's settings
    (None: not set in params.yaml), ``cases_per_day`` None when unknown; ``source`` says where both came from."""

    costs: Mapping[str, float] | None = None
    cases_per_day: float | None = None
    source: str = ""


@dataclass(frozen=True)
class ThresholdPoint:
    """The decisions at ``threshold`` on labelled rows; counts are integers, shares None when undefined."""

    threshold: float
    rows: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    value_per_flagged: float | None  # the net_value KPI: (tp x value - fp x cost) / flagged
    value_per_case: float | None  # the same total over every evaluated case, flagged or not
    cases_per_day: float | None

    @property
    def flagged(self) -> int:
        return self.tp + self.fp

    @property
    def flagged_share(self) -> float | None:
        return self.flagged / self.rows if self.rows else None

    @property
    def flagged_per_day(self) -> float | None:
        share = self.flagged_share
        return None if share is None or self.cases_per_day is None else share * self.cases_per_day

    @property
    def value_per_day(self) -> float | None:
        per_case = self.value_per_case
        return None if per_case is None or self.cases_per_day is None else per_case * self.cases_per_day

    def matrix(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


def _labels_and_scores(labels: Any, scores: Any) -> tuple[Any, Any]:
    import numpy as np

    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise DataError(f"threshold explorer: labels and scores must be two columns of the same length; got "
                        f"shapes {y.shape} and {s.shape}. Pass the holdout labels and the model's scores of them")
    try:
        y = y.astype(np.int64)
    except (TypeError, ValueError):
        raise DataError("threshold explorer: labels must be 0/1 (or true/false); got values such as "
                        f"{[str(v) for v in y[:3]]}. Map them first (mlprod.data.labels.binary_target)") from None
    if y.size and not np.isin(y, (0, 1)).all():
        raise DataError(f"threshold explorer: labels must be 0/1; got {sorted(set(y.tolist()))[:5]}")
    if s.size and (not np.isfinite(s).all() or s.min() < 0 or s.max() > 1):
        raise DataError("threshold explorer: scores must be probabilities in [0, 1] without missing values; "
                        "pass predict_proba(...)[:, 1]")
    return y, s


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise DataError(f"threshold explorer: the threshold must be a number in [0, 1]; got {threshold!r}")
    return float(threshold)


def threshold_point(labels: Any, scores: Any, threshold: float, *, case: BusinessCase | None = None) -> ThresholdPoint:
    """The confusion counts, precision, recall and value of flagging ``scores >= threshold``."""
    from ..monitoring.estimate import realised_confusion
    from ..monitoring.kpi import get_kpi
    from ..monitoring.windows import ScoreSummary

    threshold = _check_threshold(threshold)
    y, s = _labels_and_scores(labels, scores)
    summary = ScoreSummary.of(s, s >= threshold, y)
    confusion = realised_confusion(summary)
    shares = confusion.metrics()
    case = case or BusinessCase()
    value = get_kpi(NET_VALUE).compute(summary, case.costs, False) if case.costs else None
    flagged = int(confusion.tp + confusion.fp)
    per_case = None
    if case.costs and y.size:
        per_case = 0.0 if value is None else value * flagged / y.size  # nothing flagged: nothing gained or spent
    return ThresholdPoint(threshold=threshold, rows=int(y.size), tp=int(confusion.tp), fp=int(confusion.fp),
                          fn=int(confusion.fn), tn=int(confusion.tn), precision=shares["precision"],
                          recall=shares["recall"], value_per_flagged=value, value_per_case=per_case,
                          cases_per_day=case.cases_per_day)


def cases_per_day_of_dates(dates: Any) -> float | None:
    """Rows per calendar day between the first and the last date (both days counted); None without dates."""
    import pandas as pd

    parsed = pd.to_datetime(pd.Series(dates), utc=True, errors="coerce").dropna()
    if parsed.empty:
        return None
    days = (parsed.max().normalize() - parsed.min().normalize()).days + 1
    return len(parsed) / days


def cases_per_day_of_history(history: Any) -> float | None:
    """Rows per day over the monitoring history's windows (their rows and first/last day); None if empty."""
    import pandas as pd

    from ..monitoring.dashboard import as_history, windows_of

    windows = windows_of(as_history(history))
    days = sum((pd.Timestamp(w["end"]) - pd.Timestamp(w["start"])).days + 1 for w in windows
               if w["start"] and w["end"])
    rows = sum(w["rows"] for w in windows if w["start"] and w["end"])
    return rows / days if days > 0 else None


def business_case(data: Any = None, *, date_column: str | None = None, params_file: str | Path | None = None,
                  history: Any = None, cases_per_day: float | None = None) -> BusinessCase:
    """Costs from params.yaml (``monitor.kpis.net_value``, checked as the monitoring checks it) and cases per day:
    ``cases_per_day`` if given, else from the monitoring ``history`` (a frame or history.parquet), else from the
    ``date_column`` (default: params.yaml ``project.date_column``) of ``data`` (e.g. the holdout)."""
    from ..monitoring.kpi import parse_kpis
    from ..stages.params import find_params_file, load_params_file

    path = Path(params_file) if params_file is not None else find_params_file()
    params = load_params_file(path) if path is not None else {}
    kpis = parse_kpis(((params.get("monitor") or {}).get("kpis")), f"{path} [monitor.kpis]")
    costs = kpis.get(NET_VALUE)
    shown = path.name if path is not None and path.resolve().parent == Path.cwd().resolve() else path
    notes = [f"costs: {shown} monitor.kpis.net_value" if costs else "no monitor.kpis.net_value in params.yaml"]
    if cases_per_day is not None:
        notes.append("cases per day: given")
    elif history is not None and (found := cases_per_day_of_history(history)) is not None:
        cases_per_day = found
        notes.append("cases per day: the monitoring history's windows")
    elif data is not None:
        column = date_column or (params.get("project") or {}).get("date_column")
        if column and column in getattr(data, "columns", ()):
            cases_per_day = cases_per_day_of_dates(data[column])
            notes.append(f"cases per day: the evaluation rows per day of {column}")
    if cases_per_day is None:
        notes.append("cases per day unknown")
    return BusinessCase(costs=costs, cases_per_day=cases_per_day, source="; ".join(notes))


# --- rendering -------------------------------------------------------------------------------------------------

STYLE = """<style>
.mlprod-threshold { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 720px; }
.mlprod-threshold table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
.mlprod-threshold th, .mlprod-threshold td { border: 1px solid #d8dee4; padding: 4px 10px; text-align: right; }
.mlprod-threshold th { background: #f6f8fa; font-weight: 600; }
.mlprod-threshold .metrics td:first-child, .mlprod-threshold .metrics th:first-child { text-align: left; }
.mlprod-threshold .muted { color: #59636e; font-size: 12px; }
</style>"""


def _count(value: int) -> str:
    return f"{int(value):,}"


def _share(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.2f}"


def _per_day(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.1f}"


def render_threshold(point: ThresholdPoint, case: BusinessCase | None = None, *, title: str = "Threshold explorer") -> str:
    """An HTML fragment (inline style, no scripts): the confusion matrix and what the decisions mean."""
    case = case or BusinessCase()
    m = point.matrix()
    cell = lambda name: f'<td data-cell="{name}">{_count(m[name])}</td>'  # noqa: E731
    costs = case.costs
    value_note = (f"a flagged positive +{_money(costs['value_per_conversion'])} (value_per_conversion), a flagged "
                  f"negative −{_money(costs['cost_per_wasted_call'])} (cost_per_wasted_call)" if costs else
                  "set monitor.kpis.net_value (value_per_conversion, cost_per_wasted_call) in params.yaml")
    rows = [("Flagged (score ≥ threshold)", f"{_count(point.flagged)} of {_count(point.rows)} ({_share(point.flagged_share)})"),
            ("Precision", _share(point.precision)), ("Recall", _share(point.recall)),
            ("Net value per flagged case", _money(point.value_per_flagged)),
            ("Expected net value per case", _money(point.value_per_case)),
            ("Cases per day", _per_day(point.cases_per_day)),
            ("Flagged cases per day", _per_day(point.flagged_per_day)),
            ("Expected net value per day", _money(point.value_per_day))]
    metrics = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return (f'{STYLE}<div class="mlprod-threshold" data-threshold="{point.threshold:.4f}">'
            f"<b>{escape(title)}</b> at threshold <b>{point.threshold:.2f}</b>"
            '<table class="confusion" aria-label="confusion matrix"><tr><th></th><th>predicted 1</th>'
            f"<th>predicted 0</th></tr><tr><th>actual 1</th>{cell('tp')}{cell('fn')}</tr>"
            f"<tr><th>actual 0</th>{cell('fp')}{cell('tn')}</tr></table>"
            f'<table class="metrics">{metrics}</table>'
            f'<div class="muted">{escape(value_note)}. {escape(case.source)}</div></div>')


def threshold_explorer(labels: Any, scores: Any, *, threshold: float = 0.5, case: BusinessCase | None = None,
                       step: float = 0.01, title: str = "Threshold explorer"):
    """A slider over the decision threshold redrawing :func:`render_threshold`; the static rendering (executed
    notebooks, HTML exports) is the one at the slider's value when displayed."""
    from .display import Static, in_stage, with_fallback

    y, s = _labels_and_scores(labels, scores)
    case = case or BusinessCase()
    state = {"point": threshold_point(y, s, threshold, case=case)}
    if in_stage():
        return Static(render_threshold(state["point"], case, title=title))
    import ipywidgets as w

    html = w.HTML(render_threshold(state["point"], case, title=title))
    slider = w.FloatSlider(value=state["point"].threshold, min=0.0, max=1.0, step=step, description="threshold",
                           readout_format=".2f", continuous_update=False,
                           layout=w.Layout(width="100%", max_width="520px"))

    def redraw(change: dict) -> None:
        state["point"] = threshold_point(y, s, change["new"], case=case)
        html.value = render_threshold(state["point"], case, title=title)

    slider.observe(redraw, names="value")
    box = w.VBox([slider, html])
    return with_fallback(box, lambda: render_threshold(state["point"], case, title=title))
