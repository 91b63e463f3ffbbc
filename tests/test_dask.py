"""Acceptance: drift, validation and batch scoring of a partitioned Parquet dataset on a 2-worker Dask
LocalCluster equal the single-process results (same JSON except timing fields)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_score_batches import FEATURES, PARAMS, REPO, _train

TIMING = {"scored_at", "seconds", "generated_at", "predictions_sha256"}  # the hash covers scored_at


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A model, its reference profile and a messy partitioned dataset: missing values, a key repeated across
    two partitions, a drifted column."""
    from mlprod.data import make_leads

    root = tmp_path_factory.mktemp("dask-world")
    (root / "params.yaml").write_text(PARAMS)
    shutil.copy(REPO / "schema.yaml", root / "schema.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        model = _train(root, "a", 1.0)
    current = make_leads(n_rows=2000, seed=9, end="2024-06-30", shift_date="2024-05-01")
    current["income"] = current["income"] * 1.6  # drifted
    current.loc[current.index[::37], "age"] = np.nan  # missing values
    current.loc[current.index[1500], "lead_id"] = current.loc[current.index[100], "lead_id"]  # across partitions
    folder = root / "current"
    folder.mkdir()
    for i, start in enumerate(range(0, 2000, 500)):
        current.iloc[start:start + 500].to_parquet(folder / f"part-{i}.parquet", index=False)
    return root, model, folder


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _close(a, b, where="") -> None:
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and not (np.isnan(a) and np.isnan(b)):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, where


def test_drift_on_dask_equals_one_process(world, cluster):
    from mlprod.drift import DriftSettings, detect_drift

    root, model, folder = world
    settings = DriftSettings.from_mapping({"target": "converted", "date_column": "created_at",
                                           "exclude": ["lead_id"]})
    reference = model / "reference_profile.json"
    one = detect_drift(reference, folder, settings=settings, batch_rows=300)
    many = detect_drift(reference, folder, settings=settings, batch_rows=300, dask=cluster[1])
    assert "income" in one.features.drifted
    assert [f.to_dict() for f in many.findings] == [f.to_dict() for f in one.findings]
    _close(_plain(one.to_dict()), _plain(many.to_dict()))


def test_validation_on_dask_equals_one_process_with_global_rows(world, cluster):
    from mlprod.validation import build_details, validate

    root, model, folder = world
    reference = model / "reference_profile.json"
    one = validate({"current": str(folder)}, root / "schema.yaml", reference=reference, batch_rows=200)
    many = validate({"current": str(folder)}, root / "schema.yaml", reference=reference, batch_rows=200,
                    dask=cluster[0])
    a, b = _plain(build_details(one)), _plain(build_details(many))
    _close(a, b)
    unique = next(r for r in many.datasets[0].results if r.check == "schema.unique:lead_id")
    assert unique.n_failed == 2 and [e["row"] for e in unique.examples] == [100, 1500]  # global row numbers


def test_scoring_on_dask_writes_the_same_files(world, cluster):
    from mlprod.monitoring import predictions as records
    from mlprod.monitoring.inbox import score_inbox

    root, model, folder = world
    runs = {}
    for name, dask in (("one", None), ("many", cluster[0])):
        out = root / f"predictions-{name}"
        runs[name] = score_inbox(model, folder, out, key="lead_id", date_column="created_at", target="converted",
                                 root=root, schema=None, quarantine=root / f"q-{name}", dask=dask)
    assert runs["many"].counts == runs["one"].counts == {"scored": 4, "skipped": 0, "quarantined": 0}
    assert runs["many"].model == runs["one"].model
    for batch in records.committed(root / "predictions-one"):
        a = records.read_predictions(root / "predictions-one", batch).drop(columns="scored_at")
        b = records.read_predictions(root / "predictions-many", batch).drop(columns="scored_at")
        assert a.equals(b), batch
        _close(_plain(records.read_marker(root / "predictions-one", batch)),
               _plain(records.read_marker(root / "predictions-many", batch)))


def test_the_single_process_path_imports_no_dask(world):
    root, model, folder = world
    code = ("import sys; from mlprod.cli import main; "
            f"main(['validate', {str(folder)!r}, '--schema', {str(root / 'schema.yaml')!r}]); ")
    check = code + "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]"
    done = subprocess.run([sys.executable, "-c", f"import sys\ntry:\n    {code}\nexcept SystemExit: pass\n"
                           "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], "
                           "'dask imported'"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_bad_scheduler_address_is_one_clear_error(world, capsys):
    from mlprod.cli import main

    root, model, folder = world
    code = main(["validate", str(folder), "--schema", str(root / "schema.yaml"), "--dask", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_the_params_dask_section_is_strict():
    from mlprod.errors import ParamsError
    from mlprod.project.scheduler import dask_address

    assert dask_address({"dask": {"address": None}}) is None
    assert dask_address({"dask": {"address": "tcp://h:1"}}) == "tcp://h:1"
    assert dask_address({"dask": {"address": None}}, given="tcp://x:2") == "tcp://x:2"
    with pytest.raises(ParamsError, match="unknown key"):
        dask_address({"dask": {"adress": "tcp://h:1"}})


def test_a_worker_refuses_a_model_or_fallback_other_than_the_pinned_version():
    from types import SimpleNamespace

    from mlprod.scale.score import _moved

    setup = {"model": "m@champion", "fallback": "m-fallback@champion", "registry": {"version": "2"},
             "fallback_registry": {"version": "1"}}
    same = SimpleNamespace(registry_version="2", fallback={"registry_version": "1"})
    assert _moved(same, setup) is None
    assert _moved(SimpleNamespace(registry_version="3", fallback={"registry_version": "1"}), setup) == (
        "m@champion", "2", "3")
    assert _moved(SimpleNamespace(registry_version="2", fallback={"registry_version": "4"}), setup) == (
        "m-fallback@champion", "1", "4")
    folder = {"model": "/abs/models/model", "fallback": None, "registry": None, "fallback_registry": None}
    assert _moved(SimpleNamespace(registry_version=None, fallback=None), folder) is None
