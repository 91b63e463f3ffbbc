"""Starting the Jupyter kernel a notebook runs in: always this very Python interpreter.

Whatever kernelspecs the user has installed (or the notebook's metadata names), the kernel is
``sys.executable -m ipykernel_launcher``, so a stage runs with exactly the packages mlprod runs with.
The kernel is started before papermill is imported so that the two start-ups overlap.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

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


def start_kernel(cwd: Path, env: Mapping[str, str] | None = None) -> StartedKernel:
    """Launch an IPython kernel on this interpreter with ``cwd`` as its working directory."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str, *args, **kwargs) -> KernelSpec:  # noqa: ARG002
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python {sys.version.split()[0]} ({sys.executable})",
                language="python",
                resource_dir="",
                metadata={"debugger": False},
            )

    runtime_dir = Path(tempfile.mkdtemp(prefix="mlprod-kernel-"))
    ipc = os.name != "nt"  # Unix sockets: no TCP ports to race for, no unencrypted-TCP warning
    km = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=_ThisPython(),
        transport="ipc" if ipc else "tcp",
        ip=str(runtime_dir / "k") if ipc else "127.0.0.1",
        connection_file=str(runtime_dir / "kernel.json"),
    )
    full_env = dict(os.environ)
    full_env.update(env or {})
    # a batch run keeps no IPython history (nbclient does the same when it starts kernels itself)
    extra = ["--HistoryManager.hist_file=:memory:"]
    try:
        run_sync(km.start_kernel)(extra_arguments=extra, cwd=str(cwd), env=full_env)
    except Exception:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        raise
    return StartedKernel(manager=km, runtime_dir=runtime_dir)
