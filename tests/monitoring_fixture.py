"""A small monitoring history for the dashboard and runbook tests, built by the real
:func:`mlprod.monitoring.history.update` over six tiny weekly batches: version 1.0.0 for four weeks,
then 1.1.0 (a retrain), a shift in ``x`` from week 4 on, and labels for the first four weeks only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlprod.monitoring.history import MonitorSettings, read_history, update
from mlprod.monitoring.policy import PolicySettings, decide
from mlprod.profile import build_profile
from tests.test_monitoring_history import write_predictions

AS_OF = "2024-02-20T00:00:00Z"
WEEKS = [("w1", "2024-01-01"), ("w2", "2024-01-08"), ("w3", "2024-01-15"), ("w4", "2024-01-22"),
         ("w5", "2024-01-29"), ("w6", "2024-02-05")]


def reference_profile():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    return build_profile(pd.DataFrame({"x": x, "region": rng.choice(["north", "south"], size=2000),
                                       "prediction": 1 / (1 + np.exp(-(x - 1)))}), sample_size=0)


def settings_for(root) -> MonitorSettings:
    return MonitorSettings(root=str(root), key="lead_id", date_column="created_at", target="converted",
                           kpis={"top_share_conversions": {"share": 0.2, "min": 0.3},
                                 "net_value": {"value_per_conversion": 100, "cost_per_wasted_call": 5}},
                           reference_roc_auc=0.75, disagreement_min_labelled=50)


def build_history(root, *, n=300):
    """Write the batches and labels under ``root`` and run the monitoring update; returns the history."""
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    labels = []
    for i, (batch, start) in enumerate(WEEKS):
        rng = np.random.default_rng(i)
        x = rng.normal(loc=1.2 if i >= 3 else 0.0, size=n)
        dates = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 7 * 24, size=n), unit="h")
        keys = np.arange(1000 * (i + 1), 1000 * (i + 1) + n)
        pd.DataFrame({"lead_id": keys, "created_at": dates, "x": x,
                      "region": rng.choice(["north", "south"], size=n)}).to_csv(root / "inbox" / f"{batch}.csv",
                                                                                 index=False)
        score = 1 / (1 + np.exp(-(x - 1)))
        write_predictions(root, batch, pd.DataFrame({"lead_id": keys, "created_at": dates, "score": score}),
                          version="1.0.0" if i < 4 else "1.1.0", source=f"inbox/{batch}.csv")
        if i < 4:  # from week 3 on the label stops following the score (a changed relation)
            p = score if i < 2 else np.full(n, 0.3)
            labels.append(pd.DataFrame({"lead_id": keys, "converted": rng.binomial(1, p)}))
    folder = root / "monitoring" / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(labels).to_csv(folder / "labels.csv", index=False)
    settings = settings_for(root)
    update(settings, reference_profile(), as_of=AS_OF)
    return read_history(root / "monitoring" / "history.parquet")


def decision_for(history):
    return decide(history, PolicySettings(min_new_labelled_rows=100), as_of=AS_OF)
