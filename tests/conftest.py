from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"
KERNEL_MARKER = "kernel_started.marker"  # written by the first code cell of some fixture notebooks


@dataclass
class Project:
    """A throwaway project folder (the working directory of the test)."""

    root: Path

    def notebook(self, name: str) -> Path:
        """Copy ``tests/notebooks/<name>.ipynb`` into the project; returns its path relative to the root."""
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", self.root / f"{name}.ipynb")
        return Path(f"{name}.ipynb")

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def params(self, text: str) -> Path:
        return self.write("params.yaml", text)

    def assert_no_kernel_started(self) -> None:
        assert not (self.root / KERNEL_MARKER).exists(), "a kernel ran the notebook"
        assert not (self.root / "reports").exists(), "reports/ was created"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    for var in ("MLPROD_STAGE", "MLPROD_PARAMS_FILE", "DVC_STAGE", "DVC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)


@pytest.fixture(autouse=True)
def _forget_interactive_stage():
    """``init_stage`` remembers the stage it applied for the session (a kernel); a test's run must not leak into
    the manifests of the next test in this process."""
    yield
    import sys

    module = sys.modules.get("mlprod.stages.interactive")
    if module is not None:
        module._applied.clear()


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker Dask LocalCluster (worker processes, one thread each) for a test module: (address, client)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local, \
            Client(local) as client:
        yield local.scheduler_address, client
