"""mlprod inside the Jupyter server: stage notebooks are saved in their normal form (docs/jupyterlab.md).

A Jupyter server extension: ``{sys.prefix}/etc/jupyter/jupyter_server_config.d/mlprod.json`` (installed with
the package) enables it; ``jupyter server extension disable mlprod.jupyter`` turns it off. Loading it registers
:func:`mlprod.jupyter.save_hook.pre_save_hook` with the server's contents manager, beside any hook of the user's.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlprod.jupyter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .save_hook import pre_save_hook

    serverapp.contents_manager.register_pre_save_hook(pre_save_hook)  # jupyter_server >= 2 (JupyterLab 4)
    serverapp.log.info("mlprod: stage notebooks are saved without outputs; executed copies go to reports/interactive/")
