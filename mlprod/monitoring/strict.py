"""Strict settings for the monitoring modules: an unknown key is an error naming the allowed ones."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

from ..errors import MonitoringError


def reject_unknown(data: Mapping[str, Any], cls: type, where: str) -> None:
    """Raise :class:`MonitoringError` for keys of ``data`` that are not fields of the dataclass ``cls``."""
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MonitoringError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}.{hint}")
