"""The Jupyter server config file that enables :mod:`mlprod.jupyter` in an environment."""

from __future__ import annotations

import sys
from pathlib import Path

CONFIG_NAME = "mlprod.json"
SOURCE = Path(__file__).parent / "config" / CONFIG_NAME  # the file pyproject installs as data


def server_config_path(prefix: str | Path | None = None) -> Path:
    """``{prefix}/etc/jupyter/jupyter_server_config.d/mlprod.json`` (prefix: this environment's ``sys.prefix``)."""
    return Path(prefix or sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / CONFIG_NAME


def install_server_config(prefix: str | Path | None = None) -> Path:
    """Write the config that enables the save hook into ``prefix``'s Jupyter config path; returns its path."""
    from ..atomic import write_bytes

    return write_bytes(server_config_path(prefix), SOURCE.read_bytes())
