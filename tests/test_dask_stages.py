"""End to end: the pipeline's data stages (validate, drift_report, the monitoring score stage) read params.yaml's
``dask.address`` and process a partitioned dataset on the scheduler's workers, with the outputs of one process."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from pipeline import BIN, copy_project, repro, set_param, sh
from tests.test_dask import TIMING, _close

pytestmark = pytest.mark.e2e
PARTS = "data/current_parts"
DATASETS = "-p", f"datasets={{train: data/prepared/train.parquet, holdout: data/prepared/holdout.parquet, current: {PARTS}}}"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The trained example project (champion registered), the current data as 3 Parquet partitions, and 3 weeks of
    the demo stream in the inbox."""
    project = copy_project(tmp_path_factory.mktemp("dask-stages") / "project", n_rows=6000)
    repro(project)
    current = pd.read_parquet(project / "data/prepared/current.parquet")
    (project / PARTS).mkdir()
    for i, rows in enumerate((slice(0, 300), slice(300, 800), slice(800, None))):
        current.iloc[rows].to_parquet(project / PARTS / f"part-{i}.parquet", index=False)
    sh([str(BIN / "mlprod"), "demo-stream", "--weeks", "3", "--as-of", "2025-W04", "data/stream"], project)
    return project


def run(project, notebook: str, *params: str) -> None:
    sh([str(BIN / "mlprod"), "run", notebook, *params], project)


def tasks_done(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)


def on_dask(project, address: str):
    """params.yaml with ``dask.address`` set (and back to null afterwards)."""
    set_param(project, "  address: null", f"  address: {address}")
    return _Restore(project, address)


class _Restore:
    def __init__(self, project, address):
        self.project, self.address = project, address

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        set_param(self.project, f"  address: {self.address}", "  address: null")


def _json(path):
    return json.loads(path.read_text())


def test_drift_report_stage_on_dask_equals_one_process(project, cluster):
    address, client = cluster
    run(project, "notebooks/drift_report.ipynb", "-p", f"current_path={PARTS}")
    single = _json(project / "metrics/drift.json")
    single_csv = (project / "plots/drift_features.csv").read_text()
    before = tasks_done(client)
    with on_dask(project, address):
        run(project, "notebooks/drift_report.ipynb", "-p", f"current_path={PARTS}")
    assert tasks_done(client) > before  # the partitions went to the workers
    _close(_json(project / "metrics/drift.json"), single)
    assert (project / "plots/drift_features.csv").read_text() == single_csv
    page = (project / "reports/drift/drift.html").read_text()
    assert "data up to 2024-" in page  # the newest date, read from the partitions


def test_validate_stage_on_dask_equals_one_process(project, cluster):
    address, client = cluster
    run(project, "notebooks/validate.ipynb", *DATASETS)
    single = _json(project / "metrics/validation.json")
    details = _json(project / "reports/validation/results.json")
    before = tasks_done(client)
    with on_dask(project, address):
        run(project, "notebooks/validate.ipynb", *DATASETS)
    assert tasks_done(client) > before
    assert _json(project / "metrics/validation.json") == single
    on_workers = _json(project / "reports/validation/results.json")
    assert [d.pop("source") for d in on_workers["datasets"]][-1] == PARTS  # read from the files, not data frames
    _close({k: v for k, v in on_workers.items() if k not in TIMING}, {k: v for k, v in details.items() if k not in TIMING})


def test_monitoring_score_stage_on_dask_writes_the_same_predictions(project, cluster):
    address, client = cluster
    score = "pipelines/monitoring/notebooks/score.ipynb"
    run(project, score, "-p", "predictions_dir=out/single")
    before = tasks_done(client)
    with on_dask(project, address):
        run(project, score, "-p", "predictions_dir=out/dask")
    assert tasks_done(client) > before
    single = sorted((project / "out/single").glob("*.parquet"))
    assert len(single) == 3
    for path in single:
        pd.testing.assert_frame_equal(pd.read_parquet(project / "out/dask" / path.name).drop(columns="scored_at"),
                                      pd.read_parquet(path).drop(columns="scored_at"))


def test_a_bad_dask_address_in_params_names_the_section(project):
    shutil.copy(project / "params.yaml", project / "params.yaml.bak")
    try:
        set_param(project, "  address: null", "  address: 8786")
        done = sh([str(BIN / "mlprod"), "run", "notebooks/drift_report.ipynb"], project, check=False)
    finally:
        shutil.move(project / "params.yaml.bak", project / "params.yaml")
    assert done.returncode == 2, done.stderr
    assert "[dask] address" in done.stderr and "tcp://127.0.0.1:8786" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
