"""``mlprod serve --cpu-affinity``: one CPU per worker process, a replacement worker takes the CPU a dead one left."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mlprod.serving.server.affinity import choose_cpu, pin_worker, supported
from serve_server import ROW, start
from serving_models import train_models


def test_workers_spread_one_per_cpu_and_dead_claims_are_free():
    alive = {10, 11, 12}.__contains__
    assert choose_cpu([0, 1], {}, alive) == 0
    assert choose_cpu([0, 1], {0: [10]}, alive) == 1
    assert choose_cpu([0, 1], {0: [10], 1: [11]}, alive) == 0  # more workers than CPUs: round robin
    assert choose_cpu([0, 1], {0: [10, 12], 1: [99]}, alive) == 1  # 99 is dead: its CPU is free
    assert choose_cpu([2, 3], {0: [10], 2: [11]}, alive) == 3  # only the allowed CPUs count


@pytest.mark.skipif(not supported(), reason="CPU affinity is Linux-only")
def test_pinning_claims_a_cpu_in_the_folder_and_pins_the_calling_thread(tmp_path):
    import threading

    got = {}

    def worker():  # a thread of its own: the test process's other threads keep their CPUs
        got["cpu"] = pin_worker(tmp_path, alive=lambda pid: pid == os.getpid())
        got["affinity"] = os.sched_getaffinity(0)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert got["affinity"] == {got["cpu"]} and got["cpu"] in os.sched_getaffinity(0)
    assert (tmp_path / f"cpu-{got['cpu']}").read_text().split() == [str(os.getpid())]


def _allowed(pid: int) -> set[int]:
    return os.sched_getaffinity(pid)


@pytest.mark.skipif(not supported() or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and 2 CPUs")
def test_two_workers_get_a_cpu_each_and_a_replacement_takes_the_dead_ones(tmp_path):
    primary, _, _ = train_models(tmp_path)
    (tmp_path / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log}\n")
    server = start(tmp_path, str(primary), "--workers", "2")
    try:
        workers = {}
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:
            ready = server.wait_ready()
            workers[ready["worker_pid"]] = ready["worker_cpu"]
        assert sorted(workers.values()) == sorted(os.sched_getaffinity(0))[:2], workers
        for pid, cpu in workers.items():
            assert _allowed(pid) == {cpu}
        victim, freed = next(iter(workers.items()))
        os.kill(victim, signal.SIGKILL)
        replacement = None
        deadline = time.monotonic() + 60
        while replacement is None and time.monotonic() < deadline:
            assert server.invoke({"dataframe_records": [ROW]})[0] == 200
            ready = server.wait_ready()
            if ready["worker_pid"] not in workers:
                replacement = ready
        assert replacement is not None and replacement["worker_cpu"] == freed
        assert _allowed(replacement["worker_pid"]) == {freed}
    finally:
        server.stop()


def test_cpu_affinity_none_leaves_the_worker_to_the_os(tmp_path):
    primary, _, _ = train_models(tmp_path)
    (tmp_path / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log}\n")
    server = start(tmp_path, str(primary), "--cpu-affinity", "none")
    try:
        ready = server.wait_ready()
        assert ready["worker_cpu"] is None
        if supported():
            assert _allowed(ready["worker_pid"]) == os.sched_getaffinity(0)
    finally:
        server.stop()


def test_two_servers_with_one_worker_each_take_different_cpus(tmp_path):
    """The claims folder is the user's, shared by every mlprod serve: a second server does not pile onto CPU 0."""
    if not supported() or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs Linux and 2 CPUs")
    primary, _, _ = train_models(tmp_path)
    (tmp_path / "params.yaml").write_text("project: {key: lead_id}\nprediction_log: {dir: log}\n")
    first = start(tmp_path, str(primary))
    try:
        second = start(tmp_path, str(primary))
        try:
            assert first.wait_ready()["worker_cpu"] != second.wait_ready()["worker_cpu"]
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_claims_folder_owned_by_someone_else_is_never_used(tmp_path, monkeypatch):
    from mlprod.serving.server import affinity

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / f"mlprod-serve-cpus-{os.getuid()}").symlink_to(target)
    folder = affinity.claims_folder()
    assert folder.parent == tmp_path and folder.name.startswith("mlprod-serve-cpus-") and not folder.is_symlink()
    assert folder != tmp_path / f"mlprod-serve-cpus-{os.getuid()}"
