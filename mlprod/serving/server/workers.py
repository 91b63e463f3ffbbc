"""Worker processes and their shared metrics folder (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


def prepare_metrics_folder(workers: int) -> tuple[Path | None, bool]:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` before any worker imports prometheus_client: with several workers a
    fresh temporary folder (unless the variable names one already, which is emptied). Returns (the folder or
    None, whether it is ours to remove at exit)."""
    given = os.environ.get(ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous run's values would be added to this one's
            stale.unlink()
        return folder, False
    if workers <= 1:
        return None, False
    folder = Path(tempfile.mkdtemp(prefix="mlprod-serve-metrics-"))
    os.environ[ENV] = str(folder)
    return folder, True


def remove_metrics_folder(folder: Path | None, ours: bool) -> None:
    if folder is not None and ours:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(ENV, None)


def reap_dead_workers() -> list[int]:
    """Mark workers that died without saying so (killed, crashed) as dead, so their live gauges stop counting;
    called before ``/metrics`` renders. Returns their process ids."""
    folder = os.environ.get(ENV)
    if not folder or not os.path.isdir(folder):
        return []
    from ..metrics import mark_process_dead

    dead = []
    for name in os.listdir(folder):
        match = _LIVE_FILE.fullmatch(name)
        if match and not alive(int(match[1])):
            dead.append(int(match[1]))
    for pid in sorted(set(dead)):
        mark_process_dead(pid)
    return sorted(set(dead))


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as alive until reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
