"""Watching the guarantee: the realised error among automatically decided rows, per ISO week.

Learn-then-Test's guarantee holds for rows exchangeable with the holdout it was calibrated on. Drift breaks that,
so the realised error is measured once labels arrive: the prediction log joined with the labels on the unit key,
the auto-decided rows (``needs_review`` false, with a decision) per ISO week of ``logged_at``, a week flagged when its
error is above ``alpha``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["week", "week_start", "auto_decided", "labelled", "errors", "error_rate", "alpha", "p_value", "above_alpha"]


def realised_error_by_week(log: pd.DataFrame, labels: pd.DataFrame, *, alpha: float, key: str, target: str,
                           min_labelled: int = 1) -> pd.DataFrame:
    """One row per ISO week with auto-decided rows in ``log`` (:func:`~mlprod.serving.predictionlog.read_log`):
    ``week`` (``2025-W07``), ``week_start`` (its Monday), ``auto_decided``, ``labelled`` (those with a label in
    ``labels``: ``key`` + ``target`` as 0/1, e.g. :func:`mlprod.monitoring.retrain_data.read_labels`), ``errors``,
    ``error_rate`` (NaN without labels), ``alpha``, ``p_value`` (``P(Binomial(labelled, alpha) >= errors)``: small
    when the week's error is credibly above alpha) and ``above_alpha`` (``error_rate > alpha`` with at least
    ``min_labelled`` labelled rows). A unit logged more than once is judged on each row."""
    from scipy.stats import binom

    auto = log[(~log["needs_review"].astype(bool)) & log["decision"].notna()]
    known = labels[[key, target]].dropna()
    known = pd.DataFrame({"unit_id": known[key].astype(str).to_numpy(),
                          "_label": known[target].astype(np.int64).to_numpy()}).drop_duplicates("unit_id", keep="last")
    joined = auto[["unit_id", "logged_at", "decision"]].merge(known, on="unit_id", how="left")
    moments = pd.to_datetime(joined["logged_at"], utc=True)
    iso = moments.dt.isocalendar()
    joined["week"] = [f"{y:04d}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])]
    joined["week_start"] = (moments.dt.tz_convert(None).dt.normalize()
                            - pd.to_timedelta(moments.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    joined["labelled"] = joined["_label"].notna()
    joined["error"] = joined["labelled"] & (joined["decision"].astype("float") != joined["_label"].astype("float"))
    rows: list[dict[str, Any]] = []
    for (week, start), group in joined.groupby(["week", "week_start"], sort=True):
        n, errors = int(group["labelled"].sum()), int(group["error"].sum())
        rate = errors / n if n else float("nan")
        p = float(binom.sf(errors - 1, n, alpha)) if n else float("nan")
        rows.append({"week": week, "week_start": start, "auto_decided": len(group), "labelled": n, "errors": errors,
                     "error_rate": rate, "alpha": float(alpha), "p_value": p,
                     "above_alpha": bool(n >= min_labelled and rate > alpha)})
    return pd.DataFrame(rows, columns=COLUMNS)


def monitor_guarantee(log_dir, labels_dir, *, alpha: float, key: str, target: str, positive_label: Any = None,
                      since: Any = None, min_labelled: int = 1) -> pd.DataFrame:
    """:func:`realised_error_by_week` on the prediction log in ``log_dir`` and the label files in ``labels_dir``."""
    from pathlib import Path

    from ...monitoring.retrain_data import read_labels
    from ..predictionlog import read_log

    labels = read_labels(Path(labels_dir), key=key, target=target, positive_label=positive_label)
    return realised_error_by_week(read_log(log_dir, since=since), labels, alpha=alpha, key=key, target=target,
                                  min_labelled=min_labelled)
