"""Lazily imported public names for a package: ``import mlprod.x`` stays instant, with no side effects."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, api: dict[str, str | tuple[str, str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose names in ``api`` live in the modules it maps them to.

    A value is the defining module's name, or ``(module, attribute)`` when the attribute is named differently.
    """

    def __getattr__(name: str) -> Any:
        target = api.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = target if isinstance(target, tuple) else (target, name)
        return getattr(importlib.import_module(module), attribute)

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(api))

    return __getattr__, __dir__
