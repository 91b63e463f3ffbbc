"""Starting the Jupyter kernel a notebook runs in: always this very Python interpreter.

Whatever kernelspecs the user has installed (or the notebook's metadata names), the kernel is
this very interpreter running ipykernel (what ``python -m ipykernel_launcher`` runs), so a stage runs
with exactly the packages mlprod runs with. The kernel is started before jupyter_client and papermill
are imported so that the start-ups overlap.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

KERNEL_NAME = "mlprod-python"


@dataclass
class StartedKernel:
    """A kernel started for one run; call :meth:`shutdown` when done."""

    manager: object  # jupyter_client.AsyncKernelManager
    runtime_dir: Path

    def shutdown(self) -> None:
        """Stop the kernel process (immediately) and remove its connection files."""
        from jupyter_core.utils import run_sync

        km = self.manager
        try:
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)
            run_sync(km.cleanup_resources)()
        except RuntimeError:
            pass  # the kernel was already gone
        finally:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)


# ipykernel_launcher, plus: ipykernel's debugger support (debugpy, ~0.1 s to import) is not loaded while
# the kernel starts, as a batch run has no debugger front end; user code can still import debugpy.
_LAUNCHER = """import sys
from pathlib import Path
if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
    del sys.path[0]
sys.modules["debugpy"] = None
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize()
del sys.modules["debugpy"]
app.start()
"""


def start_kernel(cwd: Path, env: Mapping[str, str] | None = None,
                 on_launched: Callable[[int], None] | None = None) -> StartedKernel:
    """Launch an IPython kernel on this interpreter with ``cwd`` as its working directory.

    The process is started with the standard library before ``jupyter_client`` is imported (~0.1 s),
    so the kernel boots while the manager is being set up; the manager then adopts the process.
    ``on_launched(pid)`` is called once the process exists. Whatever interrupts the start (an error,
    Ctrl-C), the process is killed and the connection file (it holds the kernel's HMAC key) removed.
    """
    runtime_dir = Path(tempfile.mkdtemp(prefix="mlprod-kernel-"))
    connection_file = runtime_dir / "kernel.json"
    process = None
    try:
        process = _launch(connection_file, cwd, env)
        if on_launched is not None:
            on_launched(process.pid)
        km = _adopt(process, connection_file, cwd)
    except BaseException:
        if process is not None:
            process.kill()
            process.wait()
        shutil.rmtree(runtime_dir, ignore_errors=True)
        raise
    return StartedKernel(manager=km, runtime_dir=runtime_dir)


def _launch(connection_file: Path, cwd: Path, env: Mapping[str, str] | None) -> subprocess.Popen:
    """Write a connection file (IPC transport: Unix sockets in a private folder) and start the kernel."""
    ipc = os.name != "nt"  # Unix sockets: no TCP ports to race for, no unencrypted-TCP warning
    info = {"transport": "ipc" if ipc else "tcp", "ip": str(connection_file.parent / "k") if ipc else "127.0.0.1",
            "key": secrets.token_hex(32), "signature_scheme": "hmac-sha256", "kernel_name": KERNEL_NAME}
    ports = range(1, 6) if ipc else _free_tcp_ports(5)
    info.update(zip(("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"), ports))
    fd = os.open(connection_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(info, handle)
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["JPY_PARENT_PID"] = str(os.getpid())
    # a batch run keeps no IPython history (nbclient does the same when it starts kernels itself)
    argv = [sys.executable, "-c", _LAUNCHER, "-f", str(connection_file), "--HistoryManager.hist_file=:memory:"]
    return subprocess.Popen(argv, cwd=str(cwd), env=full_env, stdin=subprocess.DEVNULL,
                            start_new_session=os.name != "nt")


def _adopt(process: subprocess.Popen, connection_file: Path, cwd: Path):
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str, *args, **kwargs) -> KernelSpec:  # noqa: ARG002
            return KernelSpec(argv=[sys.executable, "-c", _LAUNCHER, "-f", "{connection_file}"],
                              display_name=f"Python {sys.version.split()[0]} ({sys.executable})",
                              language="python", resource_dir="", metadata={"debugger": False})

    class _AdoptingKernelManager(AsyncKernelManager):
        """Manages the kernel process started by :func:`_launch` instead of launching one."""

        async def _async_launch_kernel(self, kernel_cmd, **kw):  # noqa: ARG002
            provisioner = self.provisioner
            provisioner.process = process
            provisioner.pid = process.pid
            provisioner.pgid = os.getpgid(process.pid) if hasattr(os, "getpgid") else None
            provisioner.cwd = str(cwd)
            self._reconcile_connection_info(provisioner.connection_info)

        async def _async_wait(self, pollinterval: float = 0.1) -> None:  # noqa: ARG002
            # after a kill, jupyter_client checks every 0.1 s whether the process has gone; a killed
            # process is gone within milliseconds, and a stage's result waits on this
            await super()._async_wait(pollinterval=0.005)

    km = _AdoptingKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=_ThisPython(),
                                connection_file=str(connection_file), client_factory=_ready_client_class())
    km.load_connection_file()
    km._connection_file_written = True  # the kernel reads this file; never rewrite it
    run_sync(km.start_kernel)(cwd=str(cwd))
    return km


# how often a client socket retries connecting to a kernel that is still booting (ZeroMQ's default: 100 ms)
_RECONNECT_MS = 10


def _ready_client_class():
    """The kernel client nbclient uses: jupyter_client's, with a readiness check that does not idle.

    jupyter_client's ``wait_for_ready`` ends by draining IOPub until it has been silent for 0.2 s: a
    fixed 0.2 s before the first cell of every stage. nbclient matches every IOPub and shell message to
    the request it answers, so messages left over from the handshake are ignored anyway; only the check
    that IOPub is connected matters (a cell's output published before the subscription is live would be
    lost), and that is kept. Sockets also retry their connection every 10 ms instead of every 100 ms
    while the kernel is still starting.
    """
    import zmq
    from jupyter_client.asynchronous import AsyncKernelClient

    class _ReadyClient(AsyncKernelClient):
        def _context_default(self):
            context = super()._context_default()
            context.setsockopt(zmq.RECONNECT_IVL, _RECONNECT_MS)
            return context

        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                reply = await _get(self.shell_channel, min(1.0, max(deadline - time.monotonic(), 0.01)))
                # any IOPub message after the reply (its status, or ipykernel's welcome) proves the
                # subscription is live; otherwise ask again, as jupyter_client does
                if reply is not None and reply["msg_type"] == "kernel_info_reply" \
                        and await _get(self.iopub_channel, 0.2) is not None:
                    self._handle_kernel_info_reply(reply)
                    break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
            while await _get(self.iopub_channel, 0) is not None:
                pass  # drop what has already arrived, without waiting for more

        wait_for_ready = _async_wait_for_ready

    return _ReadyClient


async def _get(channel, timeout: float):
    """The next message on ``channel`` within ``timeout`` seconds, or None."""
    from queue import Empty

    try:
        return await channel.get_msg(timeout=timeout)
    except Empty:
        return None


def _free_tcp_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
