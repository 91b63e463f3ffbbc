"""Memory stays flat as a Parquet file grows: the peak RSS of checking a 4M-row file against a saved
profile (``detect_drift``) and validating it (``validate``) stays close to that of a 0.5M-row file.

Each measurement runs in a fresh process and reads its own peak (VmHWM), which includes Arrow's
buffers (tracemalloc does not see them). Both files are ONE row group, the hard case for a reader
that buffers a row group. No timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SMALL, LARGE = 500_000, 4_000_000
RATIO, ALLOWANCE = 1.3, 20e6  # measured: about 1.0x for both

SCHEMA = """\
schema_version: 1
columns:
  id: {type: int, unique: true, statistics: false}
  amount: {type: float, min: 0, nullable: true}
  score: {type: float}
  visits: {type: int, min: 0}
  region: {type: str, categories: [north, south, east, west]}
  channel: {type: str, nullable: true}
  x0: {type: float}
  x1: {type: float}
  x2: {type: float}
  x3: {type: float}
rules:
  - {name: amount_positive, expr: "amount >= 0"}
"""

CHILD = textwrap.dedent("""
    import json, sys
    task, data, profile, schema = sys.argv[1:]
    if task == "drift":
        from mlprod.drift import DriftSettings, detect_drift
        rows = detect_drift(profile, data, settings=DriftSettings(prediction=None)).current["rows"]
    else:
        from mlprod.validation import validate
        result = validate(data, schema, reference=profile)
        assert result.datasets[0].n_rows > 0 and not result.failures, result.failure_message()
        rows = result.datasets[0].n_rows
    peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"rows": rows, "peak": peak}))
""")


def write_file(path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(rows)
    amount = rng.lognormal(5, 1, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    regions = np.array(["north", "south", "east", "west"], dtype=object)
    channels = np.array(["web", "email", "partner", "ads", "events"], dtype=object)
    table = pa.table({
        "id": np.arange(rows, dtype=np.int64),
        "amount": pa.array(amount, from_pandas=True),
        "score": rng.normal(0, 1, rows),
        "visits": rng.poisson(5, rows).astype(np.int64),
        "region": pa.array(regions[rng.integers(0, 4, rows)], type=pa.string()),
        "channel": pa.array(channels[rng.integers(0, 5, rows)], mask=rng.random(rows) < 0.1, type=pa.string()),
        **{f"x{k}": rng.normal(k, 1, rows) for k in range(4)},  # incompressible: the file grows by 32 B a row
    })
    pq.write_table(table, path, row_group_size=rows)


def peak(task: str, data, profile, schema) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, task, str(data), str(profile), str(schema)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])["peak"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import pandas as pd

    from mlprod.profile import build_profile

    folder = tmp_path_factory.mktemp("streaming")
    small, large = folder / "small.parquet", folder / "large.parquet"
    write_file(small, SMALL)
    write_file(large, LARGE)
    profile = build_profile(pd.read_parquet(small).iloc[:100_000]).save(folder / "profile.json")
    schema = folder / "schema.yaml"
    schema.write_text(SCHEMA, encoding="utf-8")
    return small, large, profile, schema


@pytest.mark.parametrize("task", ["drift", "validate"])
def test_peak_memory_stays_flat_as_the_file_grows(files, task):
    small, large, profile, schema = files
    low, high = peak(task, small, profile, schema), peak(task, large, profile, schema)
    assert high <= low * RATIO + ALLOWANCE, (
        f"{task}: peak RSS {high / 1e6:.0f} MB for {LARGE:,} rows vs {low / 1e6:.0f} MB for {SMALL:,} rows "
        f"({high / low:.2f}x; allowed {RATIO}x + {ALLOWANCE / 1e6:.0f} MB)")
