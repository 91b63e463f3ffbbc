"""How much writing the manifest adds to saving the example model (goal: at most 0.2 s).

Builds a temporary copy of the project, runs `dvc repro train` (so dvc.lock knows the data hashes),
then, in one process with the trained model loaded, times

* baseline: ``mlprod.modelfile.skops_io.save_model`` - the skops artifact alone, as the train stage did before;
* manifest: ``mlprod.save_model`` - artifact + manifest with full lineage (git, DVC hashes, packages);

and prints medians, the difference, and where the data hash came from (``dvc.lock`` means the data
file was not re-read). Usage: ``python benchmarks/manifest_overhead.py [--rows 50000] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-bench-") as tmp:
        project = Path(tmp) / "project"
        prepare(project, args.rows)
        os.chdir(project)
        measure(args.repeats)


def prepare(project: Path, rows: int) -> None:
    project.mkdir()
    for name in ("params.yaml", "dvc.yaml", "notebooks", "schema.yaml", ".dvc/config", ".dvcignore"):
        source, target = REPO / name, project / name
        if not source.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("n_rows: 50000", f"n_rows: {rows}", 1))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "bench"],
                [str(BIN / "dvc"), "repro", "-q", "train"]):
        subprocess.run(cmd, cwd=project, env=env, check=True, capture_output=True)


def measure(repeats: int) -> None:
    import mlprod
    from mlprod.data import read_table
    from mlprod.modelfile.skops_io import save_model as save_artifact

    model = mlprod.load_model("models/trained")
    manifest = mlprod.read_manifest("models/trained")
    X = read_table("data/prepared/train.parquet", columns=[c.name for c in manifest.inputs])
    kwargs = dict(name=manifest.name, X=X, training_data="data/prepared/train.parquet",
                  metrics={"training": manifest.metrics.get("training", {})})
    save_artifact(model, "bench/warm.skops")
    mlprod.save_model(model, "bench/warm", **kwargs)  # warm imports and the distribution cache

    def timed(fn) -> float:
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    baseline = timed(lambda: save_artifact(model, "bench/plain/model.skops"))
    with_manifest = timed(lambda: mlprod.save_model(model, "bench/model", **kwargs))
    saved = mlprod.read_manifest("bench/model")
    print(f"model: {manifest.artifact.class_name}, {manifest.artifact.size:,} bytes; "
          f"{saved.data[0].rows:,} training rows; median of {repeats}")
    print(f"  artifact only (baseline)   {baseline * 1000:7.1f} ms")
    print(f"  artifact + manifest        {with_manifest * 1000:7.1f} ms")
    print(f"  manifest overhead          {(with_manifest - baseline) * 1000:7.1f} ms  (goal <= 200 ms)")
    print(f"  training data hash source: {saved.data[0].hash_source} "
          f"({'not re-read' if saved.data[0].hash_source == 'dvc.lock' else 're-read'}); "
          f"{len(saved.environment.packages)} imported distributions recorded")


if __name__ == "__main__":
    main()
