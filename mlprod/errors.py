"""Exceptions raised by mlprod.

Every error a user can cause derives from :class:`MlprodError`. Messages say what failed, what was
expected, what was found and how to fix it, so the CLI can print them without a traceback.
"""

from __future__ import annotations


class MlprodError(Exception):
    """Root of all mlprod errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class ConfigError(MlprodError):
    """A configuration file (params.yaml, dvc.yaml, ...) is missing, unreadable or invalid."""


class ParamsError(ConfigError):
    """Stage parameters do not match the notebook's ``parameters`` cell."""


class NotebookError(MlprodError):
    """A notebook file cannot be read or is not a runnable Python notebook."""


class DataError(MlprodError):
    """A data file is missing, unreadable or does not have the expected columns or types."""


class ExecutionError(MlprodError):
    """A notebook started but did not finish: a cell raised, the kernel died or a cell timed out."""

    exit_code = 1

    def __init__(self, message: str, *, record=None):
        super().__init__(message)
        self.record = record


class CellError(ExecutionError):
    """A cell raised an exception."""


class KernelDiedError(ExecutionError):
    """The kernel process exited or was killed while the notebook ran."""


class CellTimeoutError(ExecutionError):
    """A cell ran longer than the configured timeout."""
