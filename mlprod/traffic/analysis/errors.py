"""The error of experiment planning and analysis (exit code 2: bad input, nothing written)."""

from __future__ import annotations

from ...errors import MlprodError


class ExperimentError(MlprodError):
    """An experiment cannot be planned or analysed: invalid settings, missing columns, unknown arms."""
