"""`mlprod score` through the resilient predictor against scoring by the model alone (goal: at most ~15 % slower on
a batch of 1,000+ rows, the predictor's own overhead goal), and the monitoring history of the demo stream both ways.

The model is the demo's kind (gradient boosting with the train stage's defaults, saved with its reference profile by
:func:`mlprod.training.fit_and_save`); the batch is ROWS demo-stream leads. "Plain" is ``score_inbox`` with the
loaded model (no predictor: the record as mlprod wrote it before the serving column group); "resilient" is
``score_inbox`` with the model folder (load, predictor, serving column group). Each run scores the batch into a fresh
folder, without gates; the sides alternate (ABBA, after one warm-up of each) and the figures are medians of
--repeats, with and without the model loading. Then the 12-week demo stream is scored both ways and the monitoring
histories compared (they must be equal: the rows the primary answers keep their scores).

    python benchmarks/score_resilient.py [--rows 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import pandas as pd

    from mlprod.data import make_leads
    from mlprod.data.stream_demo import StreamSpec, make_week, write_stream
    from mlprod.monitoring.history import MonitorSettings, history_path, read_history, update
    from mlprod.monitoring.inbox import score_inbox
    from mlprod.monitoring.resilient import load_resilient
    from mlprod.monitoring.scoring import load_scoring_model
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save
    from serving_models import CATEGORICAL, FEATURES, NUMERIC

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train = make_leads(n_rows=5000, seed=7)
        train.to_csv(root / "train.csv", index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_and_save(build_pipeline(ModelSettings(), CATEGORICAL, NUMERIC), train, target="converted",
                         features=FEATURES, model_dir=root / "model", name="lead-scoring",
                         training_data=root / "train.csv", version="1.0.0")
        folder = root / "model"
        (root / "inbox").mkdir()
        make_week(StreamSpec(n_weeks=1, rows_per_week=args.rows), 1).drop(columns="converted").to_parquet(
            root / "inbox" / "batch.parquet", index=False)
        runs = iter(range(10_000))
        loaded = {"plain": load_scoring_model(folder), "resilient": load_resilient(folder)}

        def score(model) -> float:
            tick = time.perf_counter()
            if model == "load":
                model = load_scoring_model(folder)
            score_inbox(model, root / "inbox", root / f"out{next(runs)}", key="lead_id", date_column="created_at")
            return time.perf_counter() - tick

        sides = {  # per run: load, then score (a fresh predictor's first call runs in a new pool thread)
            "plain": lambda: score("load"), "resilient": lambda: score(folder),
            # per batch: the model (and predictor) loaded once, as for the 2nd.. batch of a run
            "plain warm": lambda: score(loaded["plain"]), "resilient warm": lambda: score(loaded["resilient"])}
        for side in sides.values():
            side()
        times: dict[str, list[float]] = {name: [] for name in sides}
        for i in range(args.repeats):
            for pair in (("plain", "resilient"), ("plain warm", "resilient warm")):
                for name in (pair if i % 2 == 0 else pair[::-1]):
                    times[name].append(sides[name]())
        loaded["resilient"].predictor.close()
        median = {name: statistics.median(values) * 1000 for name, values in times.items()}
        print(f"batch of {args.rows:,} rows, median of {args.repeats} (ABBA):")
        for label, a, b in (("load + score, per run", "plain", "resilient"),
                            ("score, model loaded (per batch)", "plain warm", "resilient warm")):
            print(f"  {label}: plain {median[a]:.1f} ms, resilient {median[b]:.1f} ms "
                  f"({(median[b] / median[a] - 1) * 100:+.1f} %)")

        write_stream(root / "stream", StreamSpec(), as_of=12)
        histories = []
        for name, model in (("plain", load_scoring_model(folder)), ("resilient", folder)):
            score_inbox(model, root / "stream" / "inbox", root / f"pred-{name}", key="lead_id",
                        date_column="created_at", root=root)
            settings = MonitorSettings(root=str(root), predictions_dir=f"pred-{name}", labels_dir="stream/labels",
                                       monitoring_dir=f"mon-{name}", key="lead_id", date_column="created_at",
                                       target="converted")
            update(settings, reference=load_scoring_model(folder).profile)
            histories.append(read_history(history_path(settings)).drop(columns="as_of"))
        same = histories[0].equals(histories[1])
        pd.testing.assert_frame_equal(histories[0], histories[1])
        print(f"demo stream (12 weeks x 500 rows): monitoring history rows {len(histories[0])}, "
              f"identical plain vs resilient: {same}")


if __name__ == "__main__":
    main()
