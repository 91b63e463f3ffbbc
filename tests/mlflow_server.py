"""A real ``mlflow server`` process on a free loopback port for tests, stopped (with its workers) afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

BIN = Path(sys.executable).parent


@contextlib.contextmanager
def mlflow_server(root: Path, *args: str, env: dict[str, str], meanwhile: Callable[[], object] | None = None,
                  stop_timeout: float = 30) -> Iterator[str]:
    """Start ``mlflow server`` (SQLite backend in ``root``, one worker, extra ``args``), yield its URL once
    ``/health`` answers; ``meanwhile`` runs while the server creates its tables. The log is ``root/server.log``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed in the finally block
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}", *args],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if meanwhile is not None:
            meanwhile()
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers, started in their own session
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
