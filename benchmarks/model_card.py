"""How long the model card takes for the example model (50,000 demo leads, the pipeline's default model).

Builds a throwaway project (demo data split by time, the train stage's model saved with its manifest),
then times, as the median of ``--repeats`` runs:

* baseline: load the hash-verified model and score the holdout rows on one thread (what any evaluation
  costs; the card scores on one thread too);
* the card's parts: slice analysis, failure-mode probes, the large-batch test, rendering;
* the whole ``build_card`` + Markdown + HTML + JSON, and its ratio to the baseline.

    .venv/bin/python benchmarks/model_card.py [--rows 50000] [--batch-rows 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_project(folder: Path, rows: int) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import mlprod
    from mlprod.data import make_leads, time_split, write_table

    os.chdir(folder)
    Path("params.yaml").write_text("card:\n  purpose: benchmark\n")
    split = time_split(make_leads(n_rows=rows, seed=42), "created_at", "2024-04-01", "2024-07-01")
    write_table(split.train, "data/train.parquet")
    write_table(split.holdout, "data/holdout.parquet")
    features = ["region", "channel", "age", "income", "days_since_last_activity", "activity_trend", "n_interactions"]
    model = Pipeline([
        ("features", ColumnTransformer([("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                                         features[:2]), ("numeric", "passthrough", features[2:])])),
        ("model", HistGradientBoostingClassifier(max_iter=200, max_leaf_nodes=31, early_stopping=False,
                                                 random_state=42)),
    ]).fit(split.train[features], split.train["converted"])
    mlprod.save_model(model, "models/trained", name="lead-scoring", X=split.train[features],
                      training_data="data/train.parquet")
    mlprod.add_evaluation("models/trained", "models/model", metrics={"holdout": {"rows": len(split.holdout)}},
                          evaluation_data="data/holdout.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import mlprod
    from mlprod.card import build_card, render_html, render_markdown
    from mlprod.card.info import CardSettings
    from mlprod.card.probes import measure_failure_modes, positive_scores
    from mlprod.card.render import RENDERERS
    from mlprod.card.slices import analyse_slices
    from mlprod.data import read_table

    with tempfile.TemporaryDirectory() as tmp:
        make_project(Path(tmp), args.rows)
        holdout = read_table("data/holdout.parquet")
        settings = CardSettings(batch_rows=args.batch_rows)
        model = mlprod.load_model("models/model")
        features = [(c, "categorical" if c in ("region", "channel") else "numeric") for c in
                    ("region", "channel", "age", "income", "days_since_last_activity", "activity_trend",
                     "n_interactions")]
        scores = positive_scores(model, holdout)
        y = holdout["converted"].to_numpy()
        kwargs = dict(metrics_file=None, plots_dir=None, validation_file=None, decision_file=None, drift_file=None)
        card = build_card(settings=settings, **kwargs)

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # the card scores on one thread too
            baseline = median_time(lambda: positive_scores(mlprod.load_model("models/model"), holdout), args.repeats)
        figures = {
            "slice analysis (30 segments)": median_time(
                lambda: analyse_slices(holdout, y, scores, features, 0.5, settings), args.repeats),
            f"failure probes + large batch ({args.batch_rows:,} rows)": median_time(
                lambda: measure_failure_modes(model, holdout, features, settings), args.repeats),
            "render Markdown": median_time(lambda: render_markdown(card), args.repeats),
            "render HTML": median_time(lambda: render_html(card), args.repeats),
        }
        def whole() -> None:
            built = build_card(settings=settings, **kwargs)
            for name in ("markdown", "html", "json"):
                RENDERERS[name][1](built)

        total = median_time(whole, args.repeats)
        batch = card.failure_modes.batch
        print(f"example model, {args.rows:,} demo leads: {len(holdout):,} holdout rows, median of {args.repeats} runs")
        rows = [("baseline: load model + score holdout", baseline), *figures.items(),
                ("whole card (build + Markdown + HTML + JSON)", total)]
        for label, seconds in rows:
            print(f"  {label:<48}{seconds * 1000:8.1f} ms")
        print(f"  whole card / baseline: {total / baseline:.1f}x")
        print(f"  large-batch throughput in the card: {batch.rows_per_second:,.0f} rows/s")


if __name__ == "__main__":
    main()
