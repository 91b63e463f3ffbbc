"""Connecting to a Dask scheduler, and the order-preserving pairwise tree reduction of partition summaries."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ScaleError

INSTALL = "install the dask extra: pip install 'mlprod[dask]'"
CONNECT_SECONDS = 10
LOCAL = "local"  # --dask local: a LocalCluster on this machine, one single-threaded worker process per core


@contextlib.contextmanager
def client_for(dask: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for ``dask`` (a scheduler address such as ``tcp://host:8786``, ``local`` for a
    ``LocalCluster`` on this machine for the duration, or a client, used as is); a client made here is closed
    afterwards."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ScaleError(f"a Dask scheduler was given ({dask!r}) but Dask is not installed; {INSTALL}") from exc
    if isinstance(dask, Client):
        yield dask
        return
    if isinstance(dask, str) and dask.strip().lower() == LOCAL:
        with _local_client() as client:
            yield client
        return
    if not isinstance(dask, str) or not dask.strip():
        raise ScaleError(f"the Dask scheduler address must be text such as 'tcp://127.0.0.1:8786', got {dask!r}")
    try:
        client = Client(dask.strip(), timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ScaleError(f"cannot reach the Dask scheduler at {dask!r} within {CONNECT_SECONDS} s ({exc}); start "
                         f"one (dask scheduler; dask worker ADDRESS) or check the address (--dask / params.yaml "
                         f"dask.address)") from exc
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def _local_client() -> Iterator[Any]:
    import os

    from distributed import Client, LocalCluster

    workers = max(1, min(os.cpu_count() or 1, 8))
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ScaleError(f"cannot start a local Dask cluster ({exc}); start a scheduler yourself (dask scheduler; "
                         f"dask worker ADDRESS) and pass its address") from exc
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


def tree_reduce(client: Any, futures: list, merge: Callable[[Any, Any], Any]) -> Any:
    """``merge`` the summaries pairwise, neighbours first (left before right: the row order is kept), on the
    workers; returns the one future left. Depth log2(partitions); no summary passes through the driver."""
    if not futures:
        raise ScaleError("nothing to reduce: the dataset has no partitions")
    while len(futures) > 1:
        merged = [client.submit(merge, futures[i], futures[i + 1], pure=False) for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            merged.append(futures[-1])
        futures = merged
    return futures[0]


def worker_peak_rss(client: Any) -> dict[str, int]:
    """Each worker's peak resident memory in bytes (VmHWM of its process)."""
    return client.run(peak_rss)


def peak_rss() -> int:
    """This process's peak resident memory in bytes (``VmHWM``; ru_maxrss where /proc is absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
