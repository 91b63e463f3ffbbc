"""The retraining policy's acceptance on the 52-week demo stream, five stream seeds (about 45 minutes on 2 cores, so
only with MLPROD_SLOW=1; `python benchmarks/backtest.py --seeds 5` prints the same figures). The figures are
measured here and printed, never written in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get("MLPROD_SLOW"), reason="five 52-week backtests take about 45 minutes; run with MLPROD_SLOW=1")]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def test_the_policy_detects_the_shift_stays_calm_and_is_worth_its_retrains(tmp_path, monkeypatch):
    from backtest import line, run_seed, setup_project

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "project"
    setup_project(root)  # changes into the project
    rows = []
    for seed in range(2025, 2030):
        rows.append(run_seed(root, seed, 52))
        print(line(rows[-1]))
    detected, calm, worth = (sum(r[k] for r in rows) for k in ("detected", "calm", "worth_it"))
    print(f"detected within two windows with at most one false alarm: {detected}/5; without the shift at most one "
          f"false alarm: {calm}/5; half the gain with a fifth of the retrains: {worth}/5")
    assert detected >= 4 and calm >= 4 and worth >= 4
