"""One run of a stage at a time: a per-stage lock that the operating system releases when its holder dies.

Two runs of the same stage would write the same ``reports/running/<stage>`` folder and the same declared
outputs, so the second one waits or stops before touching anything. The lock is ``fcntl.flock`` on
``.mlprod/locks/<stage>.lock`` in the project root: not a DVC output, git-ignored (the folder carries its
own ``.gitignore``), and released by the kernel when the process holding it exits, however it exits
(SIGKILL included), so a stale lock never needs cleaning up. Lock files are never deleted: deleting a
locked file would let a third run lock a new file of the same name.

The file holds its holder's pid, start time and command, read only to say who holds the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError, ParamsError, StageBusyError
from .runrecord import display_path

LOCK_DIR = Path(".mlprod") / "locks"
POLL_SECONDS = 0.1


def lock_path(root: str | Path, stage: str) -> Path:
    """Where the lock of ``stage`` lives in the project ``root``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stage).lstrip(".") or "_"
    if name != stage:  # keep distinct stage names distinct after replacing characters
        name = f"{name}-{hashlib.sha256(stage.encode('utf-8')).hexdigest()[:8]}"
    return Path(root) / LOCK_DIR / f"{name}.lock"


@contextlib.contextmanager
def stage_lock(root: str | Path, stage: str, *, wait: float = 0, on_wait=None) -> Iterator[Path]:
    """Hold the lock of ``stage`` in project ``root`` for the ``with`` block.

    ``wait`` is how long to wait for another run of the stage to finish (0: fail at once, ``math.inf``:
    wait as long as it takes); ``on_wait(holder)`` is called once if waiting starts. Raises
    :class:`StageBusyError` naming the holder when the lock is still held after ``wait`` seconds.
    """
    path = lock_path(root, stage)
    fd = _open(path)
    try:
        if not _try_lock(fd):
            holder = _holder(fd)
            if wait <= 0:
                raise StageBusyError(_busy_message(stage, path, holder, None))
            if on_wait is not None:
                on_wait(holder)
            deadline = time.monotonic() + wait
            while not _try_lock(fd):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StageBusyError(_busy_message(stage, path, _holder(fd), wait))
                time.sleep(min(POLL_SECONDS, left))
        command = _command()
        info = json.dumps({"pid": os.getpid(), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "command": command}, sort_keys=True).encode("utf-8")
        os.pwrite(fd, info, 0)  # overwrite, then cut: a reader sees the old holder's text or this one's
        os.ftruncate(fd, len(info))
        yield path
    finally:
        os.close(fd)  # releases the lock


def describe_holder(holder: dict) -> str:
    """``pid 123, started 2024-01-01T00:00:00+00:00 by `mlprod run ...``` (what is known of it)."""
    parts = [f"pid {holder['pid']}" if holder.get("pid") else "pid unknown"]
    if holder.get("started_at"):
        parts.append(f"started {holder['started_at']}")
    if holder.get("command"):
        parts.append(f"by `{holder['command']}`")
    return ", ".join(parts)


def _busy_message(stage: str, path: Path, holder: dict, waited: float | None) -> str:
    who = describe_holder(holder)
    pid = holder.get("pid")
    state = (f"is still running after waiting {waited:g} s" if waited is not None else "is already running")
    stop = f"stop it (kill {pid})" if pid else "stop it"
    return (f"stage {stage!r} {state} ({who}); a second run at the same time would mix its outputs with that "
            f"run's, so nothing was run. Wait for it to finish or {stop}, or pass --wait SECONDS (Python: "
            f"wait=SECONDS) to wait for it. Lock file: {display_path(path)}")


def _open(path: Path) -> int:
    try:
        _make_lock_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise ConfigError(f"{display_path(path)}: cannot create the stage's lock file ({exc.strerror or exc}); "
                          f"{LOCK_DIR.parts[0]}/ in the project root must be a writable folder") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{display_path(path)}: expected a regular file for the stage's lock, found something else; "
                          "remove it")
    return fd


def _make_lock_dir(folder: Path) -> None:
    top = folder.parent
    if not top.is_dir():
        top.mkdir(parents=True, exist_ok=True)
        # like .pytest_cache: the folder ignores itself, whatever the project's .gitignore says
        (top / ".gitignore").write_text("# created by mlprod: run-time state, never committed\n*\n",
                                        encoding="utf-8")
    folder.mkdir(exist_ok=True)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(fd: int) -> dict:
    """What the lock file says of its holder; {} when unknown (just taken, not yet written, or stale)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return {}
    try:
        os.kill(data["pid"], 0)
    except ProcessLookupError:  # an earlier holder's text, not yet overwritten by the new holder
        return {}
    except OSError:
        pass
    return data


def _command() -> str:
    """This process's command line, for the message another run shows (``python -m mlprod`` reads as mlprod)."""
    if not sys.argv or not sys.argv[0]:
        return ""
    program = Path(sys.argv[0])
    command = " ".join([program.parent.name if program.name == "__main__.py" else program.name, *sys.argv[1:]])
    return command if len(command) <= 200 else command[:199] + "…"


def check_wait(value: float | None) -> float:
    """``wait`` as seconds: a number >= 0 (``math.inf`` waits as long as it takes); None means 0."""
    if value is None:
        return 0.0
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value) or value < 0:
        raise ParamsError(f"the wait for another run of the stage must be a number of seconds >= 0, got {value!r}")
    return float(value)
