"""One CPU per worker process (``mlprod serve --cpu-affinity auto``, the default on Linux).

Why: a worker answers a request with two threads, the event loop and a model tier's thread (the time budget
needs the second: a call running on the loop could not be abandoned). Each hand-off wakes the other thread and
passes it the GIL. On two CPUs that wake-up crosses cores (an inter-processor interrupt, slow on virtual
machines); on one CPU it is a plain context switch. Measured on 2 vCPUs, 1-row requests: about 1.7x the requests/s
pinned (``benchmarks/serve_throughput.py``; ``mlflow models serve`` gains as much under ``taskset``). A worker
cannot use more than one core anyway (the GIL; model calls use one OpenMP thread), so ``--workers`` about the
number of cores, one per core, is the layout.

How: one claims folder per user on the machine (in the temporary folder), shared by every ``mlprod serve`` of
that user, so two servers with one worker each do not both take the first CPU; each worker, at start, takes a lock on it, reads the claims (one file per
CPU holding the claiming worker's process id), and claims the allowed CPU with the fewest live claims (lowest
number first), so workers spread one per CPU and a replacement for a dead worker takes the CPU it left. Then it
pins its own thread; the threads it starts afterwards (the model tiers', the poller) inherit the CPU.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

log = logging.getLogger(__name__)
ENV = "MLPROD_SERVE_CPU_CLAIMS"  # the claims folder, set by the parent for its workers
MODES = ("auto", "none")


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def claims_folder() -> Path:
    """The user's claims folder, created private (0700); a folder another user owns, or a link, is never used:
    then a private folder of this run's."""
    import stat
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"mlprod-serve-cpus-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022:
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="mlprod-serve-cpus-"))


def choose_cpu(allowed: Iterable[int], claims: Mapping[int, Iterable[int]], alive: Callable[[int], bool]) -> int:
    """The allowed CPU with the fewest live claims (the lowest number on a tie); ``claims``: CPU -> process ids."""
    load = {cpu: sum(1 for pid in claims.get(cpu, ()) if alive(pid)) for cpu in sorted(allowed)}
    return min(load, key=lambda cpu: (load[cpu], cpu))


def pin_worker(folder: str | Path, *, alive: Callable[[int], bool]) -> int | None:
    """Claim a CPU in ``folder`` and pin the calling thread (and the threads it starts later) to it. Returns the
    CPU, or None when pinning is not possible here (then the OS schedules the worker, as without the option)."""
    import fcntl

    if not supported():
        return None
    folder = Path(folder)
    allowed = os.sched_getaffinity(0)
    try:
        with open(folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            claims = _read_claims(folder)
            cpu = choose_cpu(allowed, claims, alive)
            live = [pid for pid in claims.get(cpu, ()) if alive(pid)] + [os.getpid()]
            (folder / f"cpu-{cpu}").write_text(" ".join(map(str, live)) + "\n")
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:  # the folder vanished, a CPU went offline ...: run unpinned rather than not at all
        log.warning("could not pin this worker to a CPU (%s); the OS schedules it", exc)
        return None
    return cpu


def _read_claims(folder: Path) -> dict[int, list[int]]:
    claims: dict[int, list[int]] = {}
    for path in folder.glob("cpu-*"):
        try:
            cpu = int(path.name.removeprefix("cpu-"))
            claims[cpu] = [int(p) for p in path.read_text().split()]
        except (OSError, ValueError):
            continue  # a file we did not write completely: ignored, rewritten by the next claim of that CPU
    return claims
