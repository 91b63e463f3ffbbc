"""`mlprod score` on one large batch against doing the same by hand (goal: scoring at most 1.2x reading the
file, predict_proba and writing key + score to Parquet by hand, in the same run; medians of --repeats,
alternating). The gates and the no-op run (every batch
already committed) are timed separately. The model is a scikit-learn pipeline on the demo's features, saved
with mlprod.save_model; the batch is ROWS demo-stream leads.

    python benchmarks/score_batches.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import io
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import os

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.data.stream_demo import StreamSpec, make_week
    from mlprod.monitoring.inbox import score_inbox
    from mlprod.monitoring.scoring import load_scoring_model
    from test_score_batches import _train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        folder = _train(root, "model", 1.0)
        batch = make_week(StreamSpec(n_weeks=1, rows_per_week=args.rows), 1).drop(columns="converted")
        (root / "inbox").mkdir()
        batch.to_parquet(root / "inbox" / "big.parquet", index=False)
        model = load_scoring_model(folder)
        inputs = [c.name for c in model.manifest.inputs]

        def by_hand_once() -> float:
            start = time.perf_counter()
            frame = pd.read_parquet(root / "inbox" / "big.parquet")
            out = pd.DataFrame({"lead_id": frame["lead_id"],
                                "score": model.model.predict_proba(frame[inputs])[:, 1]})
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pandas(out, preserve_index=False), buffer)
            (root / "by_hand.parquet").write_bytes(buffer.getvalue())
            return time.perf_counter() - start

        def mlprod_once(i: int) -> float:
            start = time.perf_counter()
            run = score_inbox(model, root / "inbox", root / f"predictions{i}", key="lead_id",
                              date_column="created_at")
            assert run.counts["scored"] == 1
            return time.perf_counter() - start

        hand, ours = [], []
        for i in range(args.repeats):  # alternating, so neither side gets the warm caches
            hand.append(by_hand_once())
            ours.append(mlprod_once(i))
        by_hand, scored = statistics.median(hand), statistics.median(ours)

        start = time.perf_counter()
        gated = score_inbox(model, root / "inbox", root / "gated", schema=REPO / "schema.yaml", target="converted",
                            key="lead_id", date_column="created_at")
        with_gates = time.perf_counter() - start
        start = time.perf_counter()
        score_inbox(folder, root / "inbox", root / "predictions0")
        noop = time.perf_counter() - start
        print(f"{args.rows:,} rows: by hand {by_hand:.2f} s; mlprod score (no gates) {scored:.2f} s = "
              f"{scored / by_hand:.2f}x; with the gates {with_gates:.2f} s (gates {gated.gate_seconds:.2f} s); "
              f"no-op run {noop * 1000:.0f} ms")


if __name__ == "__main__":
    main()
