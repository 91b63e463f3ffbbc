"""The drift explorer: one column of a drift report at a time, with its monitoring timeline.

:func:`column_view` gathers, as a value, what the drift report (:func:`mlprod.drift.detect_drift`) measured for
one column: the reference and current distributions it compared (the report's aggregated plot data), the
test, statistic, p-value and threshold, the data findings about the column, and the report's retraining
reasons; with a monitoring history (``history.parquet``), the column's drift figure per window
(``feature_drift:<column>``, or ``prediction_drift`` for the score) as the dashboard computes it
(:func:`mlprod.monitoring.dashboard.timelines`). :func:`render_column` draws it (inline SVG, no scripts);
:func:`drift_explorer` adds a column chooser in JupyterLab.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from ..errors import DriftError


@dataclass(frozen=True)
class ColumnView:
    column: str
    result: Any  # mlprod.drift.results.ColumnDrift
    plot: dict | None  # the report's aggregated distributions: {"kind", "edges" | "labels", "reference", "current"}
    findings: tuple  # mlprod.drift.results.Finding about this column
    reasons: tuple  # the report's retraining reasons (mlprod.drift.results.Reason)
    required: bool  # retraining required by the report's policy
    windows: tuple[str, ...] = ()  # monitoring windows (time order); empty without a history
    timeline: Any = None  # mlprod.monitoring.dashboard.Timeline of the column's drift figure, or None
    marks: tuple = ()  # (window index, "v<version>") where the model version changed


def columns_of(report: Any) -> list[str]:
    """The compared columns, drifted first (then by name), and the model's score last when it was compared."""
    ordered = sorted(report.features.columns, key=lambda c: (not c.drifted, c.column))
    return [c.column for c in ordered] + ([report.prediction.column] if report.prediction is not None else [])


def history_metric(report: Any, column: str) -> str:
    """The monitoring history's metric holding ``column``'s drift figure."""
    if report.prediction is not None and column == report.prediction.column:
        return "prediction_drift"
    return f"feature_drift:{column}"


def column_view(report: Any, column: str, history: Any = None) -> ColumnView:
    """What the report says about ``column`` (see the module docstring); ``history``: a monitoring history frame
    or ``history.parquet`` path, or None."""
    results = {c.column: c for c in report.features.columns}
    plots = dict(report.plots.get("features") or {})
    if report.prediction is not None:
        results[report.prediction.column] = report.prediction
        plots[report.prediction.column] = report.plots.get("prediction")
    if column not in results:
        raise DriftError(f"drift explorer: the report compared no column {column!r}; its columns: {columns_of(report)}")
    windows: tuple[str, ...] = ()
    timeline, marks = None, ()
    if history is not None:
        from ..monitoring.dashboard import as_history, timelines, version_marks, windows_of

        frame = as_history(history)
        metric = history_metric(report, column)
        rows = frame[(frame["kind"] == "drift") & (frame["metric"] == metric)]
        if len(rows):
            info = windows_of(frame)
            windows = tuple(w["window"] for w in info)
            timeline = next(iter(timelines(rows, list(windows))), None)
            marks = tuple(version_marks(info))
    return ColumnView(column=column, result=results[column], plot=plots.get(column),
                      findings=tuple(f for f in report.findings if f.column == column),
                      reasons=tuple(report.retrain.reasons), required=bool(report.retrain.required),
                      windows=windows, timeline=timeline, marks=marks)


def distribution_svg(view: ColumnView) -> str | None:
    """Reference vs current shares: the drift report's own chart of the column."""
    from ..drift.html import distribution_plot

    chart = distribution_plot(view.plot, view.column)
    return None if chart is None else str(chart)


def timeline_svg(view: ColumnView) -> str | None:
    from ..reporting import svg

    t = view.timeline
    if t is None:
        return None
    figure = "p-value" if view.result.score == "p_value" else "statistic"
    return str(svg.timeline(list(view.windows), {f"{view.column} {figure}": t.values},
                            title=f"{view.column}: drift {figure} per monitoring window",
                            threshold=t.thresholds if any(v is not None for v in t.thresholds) else None,
                            threshold_label=t.threshold_label, alerts=t.alerts, marks=list(view.marks)))


STYLE = """<style>
.mlprod-drift { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 760px; }
.mlprod-drift svg { max-width: 100%; height: auto; display: block; }
.mlprod-drift table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
.mlprod-drift th, .mlprod-drift td { border-bottom: 1px solid #d8dee4; padding: 3px 10px 3px 0; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
.mlprod-drift th { overflow-wrap: normal; min-width: 6em; }
.mlprod-drift .bad { color: #b42318; font-weight: 600; } .mlprod-drift .good { color: #1a7f37; font-weight: 600; }
.mlprod-drift .muted { color: #59636e; font-size: 12px; } .mlprod-drift ul { margin: 4px 0; padding-left: 20px; }
</style>"""


def _num(value: Any) -> str:
    from ..reporting.page import format_number

    return format_number(value)


def _threshold(result: Any) -> str:
    from ..drift.html import _threshold as threshold_words

    return threshold_words(result)


def render_column(view: ColumnView) -> str:
    """An HTML fragment for one column (inline style and SVG, every text escaped)."""
    r = view.result
    verdict = '<span class="bad">drift</span>' if r.drifted else '<span class="good">stable</span>'
    chosen = " (default for its type and size)" if r.chosen_by == "default" else f" (chosen by {r.chosen_by})"
    rows = [("Test", escape(f"{r.test}: {r.title}") + escape(chosen)),
            ("Statistic", escape(_num(r.statistic))), ("p-value", escape(_num(r.p_value))),
            ("Drift when", escape(_threshold(r))), ("Verdict", verdict),
            ("Values compared", escape(f"reference {r.n_reference:,}, current {r.n_current:,}")),
            ("Missing", escape(f"reference {r.missing_share_reference:.1%}, current {r.missing_share_current:.1%}"))]
    if r.note:
        rows.append(("Note", escape(r.note)))
    table = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    plot = distribution_svg(view)
    parts = [f'{STYLE}<div class="mlprod-drift" data-column="{escape(view.column)}">',
             f"<b>{escape(view.column)}</b> ({escape(r.kind)}): {verdict}",
             f"<table>{table}</table>",
             plot or '<div class="muted">No distribution to draw (no values on a side).</div>']
    if view.findings:
        parts.append("<div><b>Data findings</b><ul>" + "".join(
            f"<li>{escape(f.kind.replace('_', ' '))}: {escape(f.message)}</li>" for f in view.findings) + "</ul></div>")
    head = "Retraining recommended" if view.required else "No retraining needed"
    reasons = "".join(f"<li><b>{escape(x.trigger.replace('_', ' '))}</b>: {escape(x.message)}</li>"
                      for x in view.reasons)
    parts.append(f"<div><b>{head}</b> (whole report){'<ul>' + reasons + '</ul>' if reasons else ''}</div>")
    line = timeline_svg(view)
    parts.append(line if line else '<div class="muted">No monitoring history for this column (monitor the '
                 'champion with the monitoring pipeline to see it per window).</div>')
    parts.append("</div>")
    return "".join(parts)


def drift_explorer(report: Any, history: Any = None, *, column: str | None = None):
    """A column chooser over :func:`render_column`; the static rendering is the chosen column (the first drifted
    one unless ``column`` is given), followed by a one-line summary of every column."""
    from .display import Static, in_stage, with_fallback

    names = columns_of(report)
    if not names:
        raise DriftError("drift explorer: the report compared no column; nothing to explore")
    chosen = column if column is not None else names[0]
    views: dict[str, ColumnView] = {}

    def view_of(name: str) -> ColumnView:
        if name not in views:
            views[name] = column_view(report, name, history)
        return views[name]

    if in_stage():
        return Static(render_column(view_of(chosen)) + summary(report))
    import ipywidgets as w

    state = {"column": chosen}
    html = w.HTML(render_column(view_of(chosen)))
    labels = [(f"{n} ({'drift' if view_of_result(report, n).drifted else 'stable'})", n) for n in names]
    chooser = w.Dropdown(options=labels, value=chosen, description="column")

    def redraw(change: dict) -> None:
        state["column"] = change["new"]
        html.value = render_column(view_of(change["new"]))

    chooser.observe(redraw, names="value")
    return with_fallback(w.VBox([chooser, html]), lambda: render_column(view_of(state["column"])) + summary(report))


def view_of_result(report: Any, column: str) -> Any:
    if report.prediction is not None and column == report.prediction.column:
        return report.prediction
    return next(c for c in report.features.columns if c.column == column)


def summary(report: Any) -> str:
    """Every compared column in one line each: verdict, test, statistic (static renderings list them all)."""
    items = []
    for name in columns_of(report):
        r = view_of_result(report, name)
        items.append(f"<li>{escape(name)}: {'drift' if r.drifted else 'stable'} ({escape(r.test)} "
                     f"{escape(_num(r.statistic))}, drift when {escape(_threshold(r))})</li>")
    return f'<div class="mlprod-drift"><b>All columns</b><ul>{"".join(items)}</ul></div>'
