"""Formatting shared by the Markdown and HTML renderers: numbers, labels and sentences from card values.

Everything here returns plain text (escaping is the renderer's job), deterministically: fixed decimals,
thousands separators, no locale.
"""

from __future__ import annotations

from typing import Any

from .metrics import METRICS

METRIC_LABELS = {
    "roc_auc": "ROC AUC", "average_precision": "average precision", "log_loss": "log loss", "brier": "Brier score",
    "accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "positive_rate": "positive rate",
    "rows": "rows",
}
METRIC_ORDER = ("rows", "positive_rate", "roc_auc", "average_precision", "log_loss", "brier", "accuracy", "precision",
                "recall", "f1")
LOWER_IS_BETTER = {"log_loss", "brier"}
PROBE_LABELS = {"missing": "missing value", "above_range": "far above range", "below_range": "far below range",
                "unseen_category": "unseen category", "wrong_type": "wrong type", "empty_batch": "empty batch"}
METRIC_DEFINITIONS = {
    **{name: m.description for name, m in METRICS.items()},
    "precision": "share of leads predicted positive (score >= threshold) that are positive",
    "recall": "share of positive leads predicted positive (score >= threshold)",
    "f1": "harmonic mean of precision and recall at the threshold",
    "positive_rate": "share of rows whose label is 1",
}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


def num(value: Any, digits: int = 3) -> str:
    """``0.784``; counts as ``1,234``; None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        if value == int(value) and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{value:.{digits}f}"
    return str(value)


def metric_value(name: str, value: Any) -> str:
    if name == "rows":
        return num(int(value)) if isinstance(value, (int, float)) else num(value)
    if name == "positive_rate" and isinstance(value, (int, float)):
        return pct(value)
    return num(value)


def signed(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    text = f"{value:+.{digits}f}"
    return "±0" if float(text) == 0 else text


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def size(n_bytes: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:,} {unit}" if unit == "bytes" else f"{n_bytes:.0f} {unit}"
        n_bytes /= 1024
    return str(n_bytes)


def change_word(metric: str, delta: float | None) -> str:
    """``better`` / ``worse`` / ``same`` for a delta of ``metric``."""
    if delta is None or abs(delta) < 5e-4 or metric in ("rows", "positive_rate"):
        return "" if delta is None or metric in ("rows", "positive_rate") else "same"
    better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
    return "better" if better else "worse"




def batch_line(b: Any) -> str:
    validity = ("every output a valid probability, identical to small-batch scores" if b.valid
                else "; ".join(b.problems))
    return f"{b.rows:,} rows in one call on one thread: {b.seconds:.2f} s ({b.rows_per_second:,.0f} rows/s); {validity}"


def limitation_line(s: Any, slices: Any) -> str:
    se = f" ± {s.se:.3f}" if s.se is not None else ""
    return (f"{s.feature} = {s.segment}: {slices.label} {s.value:.3f}{se} vs {slices.overall:.3f} overall "
            f"({s.gap:.3f} worse) on {s.rows:,} rows with {s.positives:,} positives ({pct(s.positive_rate)})")


def judgement_rule(settings: Any, label: str) -> str:
    return (f"a segment is flagged when it has at least {settings.min_slice_rows:,} rows (and, for ranking metrics, "
            f"at least {settings.min_slice_class_rows} positives and negatives), its {label} is worse than overall "
            f"by at least {settings.min_gap:g}, and by more than {settings.z:g} standard errors")



def probe_matrix(fm: Any) -> tuple[list[str], list[tuple[str, list[Any]]], list[str]]:
    """Probes as a matrix: ``(probe names, [(input, [probe result or None per name])], distinct errors)``.

    The batch-level ``empty_batch`` probe is not in the matrix (see :func:`probe_cell` for the cells).
    """
    from .probes import PROBES

    names = [n for n in PROBES if any(p.probe == n for p in fm.probes)]
    by_key = {(p.feature, p.probe): p for p in fm.probes}
    features = list(dict.fromkeys(p.feature for p in fm.probes if p.probe in names))
    rows = [(f, [by_key.get((f, n)) for n in names]) for f in features]
    errors = list(dict.fromkeys(p.error for p in fm.probes if p.status != "ok" and p.error))
    return names, rows, errors


def probe_cell(p: Any, errors: list[str]) -> str:
    if p is None:
        return "n/a"
    if p.status == "ok":
        return f"ok, {p.mean_abs_change:.2f} / {p.max_abs_change:.2f}"
    return f"{p.status} [{errors.index(p.error) + 1}]" if p.error in errors else p.status


def difference(metric: str, ours: Any, theirs: Any) -> str:
    """``theirs - ours`` signed (``+0.012``), an em dash when either is not a number."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ours, theirs)):
        return "—"
    return signed(theirs - ours, 0) if metric == "rows" else signed(theirs - ours)


def fallback_when(name: str) -> str:
    """When the fallback answers, in one sentence (``name``: the fallback's registered name)."""
    return ("When the primary model raises, runs past its time budget or returns a score that is not a probability, "
            f"mlprod serve and the {name.removesuffix('-fallback')}-serving pyfunc answer with the fallback; when it "
            "fails too, the rules of the serving section of params.yaml, then a constant default (tiers: primary → "
            "fallback → rules → default; see docs/serving.md).")


PROBE_LEGEND = ("ok = scored, every output a valid probability, with the mean / max absolute change of the score; "
                "error [n] = the model raised the numbered error")
