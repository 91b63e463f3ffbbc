"""`mlprod score` on one large batch against doing the same by hand (goal: scoring at most 1.2x reading the
file, predict_proba and writing Parquet by hand, in the same run).

Both sides write the same columns: the predictions record's key, date, score, decision, model name, version
and sha256, batch id and scored_at. The by-hand side is the quickest obvious code: ``pd.read_parquet``, one
``predict_proba`` on the whole frame, an Arrow table built from NumPy arrays and ``pa.repeat`` for the
constant columns, one ``pq.write_table`` to a file. mlprod does more on top, which the figure includes: the
inbox listing and the lock, the md5 of the source, the model's input checks, an atomic write (temporary file,
fsync, rename), the sha256 of the predictions and the commit marker. The two sides alternate (ABBA, after
one warm-up run of each) and the figures are medians of --repeats. The data gates, the alias resolution
(``NAME@alias`` in a local MLflow registry, download and hash check) and the no-op run (every batch already
committed) are timed separately. The model is a scikit-learn pipeline on the demo's features, saved with
mlprod.save_model; the batch is ROWS demo-stream leads.

    python benchmarks/score_batches.py [--rows 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
SCORED_AT = "2025-01-06T00:00:00Z"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.data.stream_demo import StreamSpec, make_week
    from mlprod.monitoring import predictions as records
    from mlprod.monitoring.inbox import score_inbox
    from mlprod.monitoring.scoring import load_scoring_model
    from test_score_batches import _train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        folder = _train(root, "model", 1.0)
        batch = make_week(StreamSpec(n_weeks=1, rows_per_week=args.rows), 1).drop(columns="converted")
        (root / "inbox").mkdir()
        source = root / "inbox" / "big.parquet"
        batch.to_parquet(source, index=False)
        model = load_scoring_model(folder)
        inputs = [c.name for c in model.manifest.inputs]
        threshold = model.default_threshold

        def by_hand_once(target: Path) -> float:
            start = time.perf_counter()
            frame = pd.read_parquet(source)
            score = model.model.predict_proba(frame[inputs])[:, 1]
            n = len(frame)
            table = pa.table({
                "lead_id": frame["lead_id"].to_numpy(), "created_at": frame["created_at"].to_numpy(),
                "score": score, "decision": (score >= threshold).astype("int8"),
                "model_name": pa.repeat(model.name, n), "model_version": pa.repeat(model.version, n),
                "model_sha256": pa.repeat(model.sha256, n), "batch_id": pa.repeat(source.stem, n),
                "scored_at": pa.repeat(SCORED_AT, n)})
            pq.write_table(table, target)
            return time.perf_counter() - start

        def mlprod_once(target: Path) -> float:
            start = time.perf_counter()
            run = score_inbox(model, root / "inbox", target, key="lead_id", date_column="created_at")
            assert run.counts["scored"] == 1
            return time.perf_counter() - start

        by_hand_once(root / "warm.parquet")
        mlprod_once(root / "warm")
        hand, ours = [], []
        for i in range(args.repeats):  # ABBA: neither side always runs first
            if i % 2 == 0:
                hand.append(by_hand_once(root / f"by_hand{i}.parquet"))
                ours.append(mlprod_once(root / f"predictions{i}"))
            else:
                ours.append(mlprod_once(root / f"predictions{i}"))
                hand.append(by_hand_once(root / f"by_hand{i}.parquet"))
        by_hand, scored = statistics.median(hand), statistics.median(ours)

        written = records.read_predictions(root / "predictions0", "big")
        manual = pd.read_parquet(root / "by_hand0.parquet")
        assert list(written.columns) == list(manual.columns), (list(written.columns), list(manual.columns))
        pd.testing.assert_frame_equal(written.drop(columns="scored_at"), manual.drop(columns="scored_at"))

        start = time.perf_counter()
        gated = score_inbox(model, root / "inbox", root / "gated", schema=REPO / "schema.yaml", target="converted",
                            key="lead_id", date_column="created_at")
        with_gates = time.perf_counter() - start

        alias = _alias_seconds(folder, root)
        start = time.perf_counter()
        score_inbox(folder, root / "inbox", root / "predictions0")
        noop = time.perf_counter() - start

        print(f"{args.rows:,} rows, both sides writing {len(written.columns)} columns ({', '.join(written.columns)}); "
              f"medians of {args.repeats} alternating runs")
        print(f"  by hand (read, predict_proba, write Parquet)  {by_hand:6.2f} s   "
              f"[{', '.join(f'{s:.2f}' for s in hand)}]")
        print(f"  mlprod score (no gates)                       {scored:6.2f} s   "
              f"[{', '.join(f'{s:.2f}' for s in ours)}]  = {scored / by_hand:.2f}x (goal 1.2x)")
        print(f"  with the data gates                           {with_gates:6.2f} s   "
              f"(gates {gated.gate_seconds:.2f} s)")
        print(f"  NAME@alias resolution (registry, download, hash check, load)  {alias:.2f} s")
        print(f"  no-op run (batch already committed)           {noop * 1000:6.0f} ms")


def _alias_seconds(folder: Path, root: Path) -> float:
    """Seconds to resolve ``lead-scoring@champion`` in a local registry and load the verified model."""
    from mlprod.monitoring.scoring import load_scoring_model
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry

    registry = Registry.open(root)
    version = register_model(folder, registry=registry)
    registry.client.set_registered_model_alias("lead-scoring", "champion", str(version.version))
    start = time.perf_counter()
    load_scoring_model("lead-scoring@champion", root=root)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
