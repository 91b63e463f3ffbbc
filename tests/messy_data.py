"""A small CSV that looks like a data scientist's own data: spaces, parentheses, a slash and non-ASCII in column
names, missing values, a text label ("yes"/"no") with a few rows unlabelled, an id column, a free-text column, a
constant column and irregular dates (gaps, unsorted, several rows a day)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "Churned?"
FEATURES_CATEGORICAL = ["plan (tier)", "région/zone"]
FEATURES_NUMERIC = ["monthly charges ($)", "tenure months", "support calls"]


def messy_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = np.sort(rng.choice(np.arange(0, 700), size=rows, replace=True))
    days[days > 300] += 40  # a gap of 40 days
    dates = pd.Timestamp("2022-01-03") + pd.to_timedelta(days, unit="D")
    plan = rng.choice(["basic", "plus", "pro"], size=rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["nord", "süd", "ost"], size=rows)
    charges = np.round(rng.gamma(4.0, 15.0, size=rows), 2)
    tenure = rng.integers(1, 72, size=rows).astype(float)
    calls = rng.poisson(2, size=rows)
    score = 0.04 * calls * 10 - 0.03 * tenure + (plan == "basic") * 0.8 + rng.normal(0, 1, rows)
    churned = np.where(score > np.quantile(score, 0.7), "yes", "no").astype(object)
    frame = pd.DataFrame({
        "customer id": rng.permutation(np.arange(10_000, 10_000 + rows)),
        "signup date": [d.strftime("%Y-%m-%d") for d in dates],
        "plan (tier)": plan,
        "région/zone": region,
        "monthly charges ($)": charges,
        "tenure months": tenure,
        "support calls": calls,
        "notes": [f"customer said {w} about the {s} on call {i}" for i, (w, s) in
                  enumerate(zip(rng.choice(["hello", "thanks", "nothing much", "a lot"], rows),
                                rng.choice(["price", "app", "support team", "invoice"], rows)))],
        "country": "DE",
        TARGET: churned,
    })
    frame.loc[rng.choice(rows, 12, replace=False), "monthly charges ($)"] = np.nan
    frame.loc[rng.choice(rows, 9, replace=False), "tenure months"] = np.nan
    frame.loc[rng.choice(rows, 6, replace=False), "plan (tier)"] = np.nan
    frame.loc[rng.choice(rows, 4, replace=False), TARGET] = np.nan
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # not in date order


def write_messy_csv(path: Path, rows: int = 300, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    messy_frame(rows, seed).to_csv(path, index=False)
    return path
