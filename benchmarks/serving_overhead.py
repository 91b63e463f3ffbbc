"""What the resilient predictor adds over the primary's own ``predict_proba``, in process.

    python benchmarks/serving_overhead.py [--rows 20000] [--repeats 7] [--single-calls 300] [--batch-calls 20]

Trains the demo's primary model as the train stage does (params.yaml train: section, gradient boosting) on
``--rows`` demo leads in a temporary folder, saves it with mlprod.training.fit_and_save, and builds the predictor
with ResilientPredictor.from_folders and the repository's ``serving:`` settings. Then, per repeat, it alternates
A (``model.predict_proba(frame)[:, 1]``) and B (``predictor.predict(frame)``) call by call, on 1-row frames (each
a different row) and on 1,000-row batches, and takes each side's median time; the figures are the medians over
repeats. A last line measures the wrapper around a model that returns a constant (its own cost, without the
model's timing noise). Goals (issue 15): at most +1 ms per 1-row call, at most +15 % on a 1,000-row batch.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build(root: Path, rows: int):
    from mlprod.data import make_leads
    from mlprod.serving import ResilientPredictor, ServingSettings
    from mlprod.stages.params import load_params_file
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save

    params = load_params_file(REPO / "params.yaml")
    project = params["project"]
    features = project["categorical_features"] + project["numeric_features"]
    leads = make_leads(n_rows=rows, seed=7)
    data = root / "train.csv"
    leads.to_csv(data, index=False)
    settings = ModelSettings.from_mapping(params["train"])
    pipeline = build_pipeline(settings, project["categorical_features"], project["numeric_features"])
    fit_and_save(pipeline, leads, target=project["target"], features=features, model_dir=root / "model",
                 name="bench", training_data=data, version="1.0.0")
    predictor = ResilientPredictor.from_folders(root / "model",
                                                settings=ServingSettings.from_mapping(params["serving"]))
    rows_to_score = make_leads(n_rows=5000, seed=8)[features]
    return predictor, rows_to_score


class Constant:
    def predict_proba(self, frame):
        import numpy as np

        return np.tile([0.5, 0.5], (len(frame), 1))


def timed(fn, frame) -> float:
    started = time.perf_counter()
    fn(frame)
    return time.perf_counter() - started


def alternate(a, b, frames, calls: int) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b`` over ``calls`` alternating calls (a, b, b, a, ...)."""
    times_a, times_b = [], []
    for i in range(calls):
        frame = frames[i % len(frames)]
        if i % 2:
            times_b.append(timed(b, frame))
            times_a.append(timed(a, frame))
        else:
            times_a.append(timed(a, frame))
            times_b.append(timed(b, frame))
    return statistics.median(times_a), statistics.median(times_b)


def measure(name: str, a, b, frames, calls: int, repeats: int) -> tuple[float, float]:
    results = [alternate(a, b, frames, calls) for _ in range(repeats)]
    med_a = statistics.median(r[0] for r in results)
    med_b = statistics.median(r[1] for r in results)
    added = statistics.median(r[1] - r[0] for r in results)
    ratio = statistics.median(r[1] / r[0] for r in results)
    print(f"{name}: predict_proba {med_a * 1e3:.3f} ms, predictor {med_b * 1e3:.3f} ms, "
          f"added {added * 1e3:+.3f} ms ({(ratio - 1) * 100:+.1f} %) [median of {repeats} repeats x {calls} calls]")
    return added, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000, help="training rows")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--single-calls", type=int, default=300)
    parser.add_argument("--batch-calls", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-serving-bench-") as tmp:
        predictor, rows = build(Path(tmp), args.rows)
        model = predictor.primary.model

        def bare(frame):
            return model.predict_proba(frame)[:, 1]

        singles = [rows.iloc[[i]] for i in range(200)]
        batches = [rows.iloc[i * 1000:(i + 1) * 1000] for i in range(5)]
        for frame in singles[:20] + batches[:2]:  # warm up both paths
            bare(frame), predictor.predict(frame)
        added, _ = measure("1-row calls", bare, predictor.predict, singles, args.single_calls, args.repeats)
        _, ratio = measure("1,000-row batches", bare, predictor.predict, batches, args.batch_calls, args.repeats)
        # The wrapper alone, without the model's noise: the same predictor around a model that returns a constant.
        from mlprod.serving import ResilientPredictor

        constant = Constant()
        bare_constant = ResilientPredictor(constant, settings=predictor.settings, plan=predictor.plan)
        measure("1-row calls, constant model (the wrapper's own cost)", constant.predict_proba,
                bare_constant.predict, singles, args.single_calls, args.repeats)
        bare_constant.close()
        print(f"goals: 1-row added {added * 1e3:.3f} ms <= 1 ms: {'met' if added <= 1e-3 else 'NOT met'}; "
              f"1,000-row added {(ratio - 1) * 100:.1f} % <= 15 %: {'met' if ratio <= 1.15 else 'NOT met'}")
        predictor.close()


if __name__ == "__main__":
    main()
