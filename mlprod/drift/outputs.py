"""Writing a drift report: drift.json (DVC metrics), CSVs for ``dvc plots``, HTML, Prometheus text.

Every file is written atomically and deterministically (same report, same bytes).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from .. import atomic
from .results import FINDING_KINDS, ColumnDrift, DriftReport

DEFAULT_NAMES = {"metrics_file": "drift.json", "features_csv": "drift_features.csv",
                 "windows_csv": "drift_windows.csv", "html_file": "drift.html", "prometheus_file": "drift.prom"}


def write_outputs(report: DriftReport, output_dir: str | Path | None = None, *, metrics_file=None, features_csv=None,
                  windows_csv=None, html_file=None, prometheus_file=None, about: Any = None) -> dict[str, Path]:
    """Write the outputs; each path defaults to ``output_dir/<default name>`` (skipped without either).
    ``about`` (:class:`mlprod.reporting.about.About`): the model, version and date the HTML report names.
    Returns what was written, by kind."""
    given = {"metrics_file": metrics_file, "features_csv": features_csv, "windows_csv": windows_csv,
             "html_file": html_file, "prometheus_file": prometheus_file}
    paths = {key: Path(value) if value is not None else (Path(output_dir) / DEFAULT_NAMES[key] if output_dir else None)
             for key, value in given.items()}
    writers = {"metrics_file": lambda: atomic.dumps_json(report.to_dict()),
               "features_csv": lambda: features_table(report),
               "windows_csv": lambda: windows_table(report),
               "html_file": lambda: _html(report, about),
               "prometheus_file": lambda: prometheus_text(report)}
    written = {}
    for key, path in paths.items():
        if path is not None:
            written[key] = atomic.write_text(path, writers[key]())
    return written


def _html(report: DriftReport, about: Any = None) -> str:
    from .html import render_html

    return render_html(report, about=about)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


#: a drift score above this is written as this, so one extreme column does not flatten the chart
MAX_DRIFT_SCORE = 10.0


def drift_score(column: ColumnDrift) -> float | None:
    """The column's figure relative to its test's threshold, on one scale for every test: 1 is the threshold,
    above 1 drifted (at 1: drifted for a distance, not for a p-value). A distance (or the exact rule) gives
    statistic / threshold; a p-value gives log(p) / log(threshold), so p = threshold is 1 and p = threshold^2
    is 2. Capped at :data:`MAX_DRIFT_SCORE`; None when no test ran or the threshold is not usable."""
    figure, threshold = column.alert_figure, column.threshold
    if figure is None or threshold is None or not math.isfinite(figure):
        return None
    if column.alert_when == "below":  # a p-value: drift when p < threshold (0 < threshold < 1)
        if not 0 < threshold < 1:
            return None
        score = math.log(max(figure, 1e-300)) / math.log(threshold)
    elif threshold > 0:
        score = figure / threshold
    else:  # the exact rule: threshold 0, drift when the statistic (0 or 1) is above it
        score = MAX_DRIFT_SCORE if figure > threshold else 0.0
    return min(max(score, 0.0), MAX_DRIFT_SCORE)


def features_table(report: DriftReport) -> str:
    """One row per feature (and the prediction): the statistic, the test and threshold used, drift 0/1, and
    the drift score (:func:`drift_score`: one scale for every test, 1 = the threshold), what ``dvc plots`` draws."""
    rows = []
    columns = list(report.features.columns) + ([report.prediction] if report.prediction else [])
    for c in columns:
        rows.append([_value(v) for v in (c.column, c.kind, c.test, c.statistic, c.p_value, c.threshold, c.drifted,
                                         drift_score(c))])
    return _csv(["feature", "kind", "test", "statistic", "p_value", "threshold", "drifted", "drift_score"], rows)


def windows_table(report: DriftReport) -> str:
    """One row per performance window of the current data, in order: its first and last date (ISO, empty
    without a date column), the period label and the metrics."""
    windows = report.concept.windows if report.concept else ()
    rows = [[i + 1, _value(w.first), _value(w.last), w.label, _value(w.roc_auc), _value(w.brier),
             _value(w.positive_rate), _value(w.mean_score), w.rows]
            for i, w in enumerate(windows)]
    return _csv(["window", "first_date", "last_date", "period", "roc_auc", "brier", "positive_rate", "mean_score",
                 "rows"], rows)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(report: DriftReport) -> str:
    """Prometheus text exposition format (for node_exporter's textfile collector)."""
    families: list[tuple[str, str, list[tuple[dict[str, str], float]]]] = []

    def family(name: str, help_text: str, samples: list[tuple[dict[str, str], Any]]) -> None:
        kept = [(labels, float(v)) for labels, v in samples if v is not None]
        if kept:
            families.append((name, help_text, kept))

    family("mlprod_drift_retrain_required", "1 when the drift report recommends retraining, else 0.",
           [({}, report.retrain.required)])
    family("mlprod_drift_retrain_reasons", "Number of retraining reasons.", [({}, len(report.retrain.reasons))])
    family("mlprod_drift_features_drifted_share", "Share of feature columns that drifted.",
           [({}, report.features.share_drifted)])
    cols = report.features.columns
    family("mlprod_drift_feature_statistic", "Drift statistic per feature column (test in the label).",
           [({"feature": c.column, "test": c.test}, c.statistic) for c in cols])
    family("mlprod_drift_feature_threshold", "Threshold of the test used per feature column.",
           [({"feature": c.column, "test": c.test}, c.threshold) for c in cols])
    family("mlprod_drift_feature_drifted", "1 when the feature column drifted, else 0.",
           [({"feature": c.column}, c.drifted) for c in cols])
    family("mlprod_drift_findings", "Data findings by kind (missing_column, missing_values, new_category).",
           [({"kind": kind}, sum(1 for f in report.findings if f.kind == kind)) for kind in FINDING_KINDS])
    per_column: dict[tuple[str, str], int] = {}
    for f in report.findings:
        per_column[(f.kind, f.column)] = per_column.get((f.kind, f.column), 0) + 1
    family("mlprod_drift_finding", "Data findings per kind and column (new_category: one per new category).",
           [({"kind": kind, "feature": column}, n) for (kind, column), n in per_column.items()])
    if report.prediction:
        p = report.prediction
        family("mlprod_drift_prediction_statistic", "Drift statistic of the model's scores.",
               [({"test": p.test}, p.statistic)])
        family("mlprod_drift_prediction_drifted", "1 when the model's scores drifted, else 0.", [({}, p.drifted)])
    if report.concept:
        family("mlprod_drift_concept_detected", "1 when concept drift was detected, else 0.",
               [({}, report.concept.detected)])
    samples = [({"data": name, "metric": metric}, value) for name, perf in report.performance.items()
               for metric, value in sorted(perf.metrics.items())]
    family("mlprod_drift_performance", "Model performance on the baseline and current data.", samples)
    if report.importance:
        family("mlprod_drift_importance_spearman", "Rank correlation of feature importances, reference vs current.",
               [({}, report.importance.correlation)])
    lines = []
    for name, help_text, kept in families:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for labels, value in kept:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value:.6g}" if text else f"{name} {value:.6g}")
    return "\n".join(lines) + "\n"
