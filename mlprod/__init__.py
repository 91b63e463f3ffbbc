"""mlprod: notebooks to production ML.

The public API is imported lazily, so ``import mlprod`` is instant and has no side effects.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "init_stage": "mlprod.interactive",
    "run_notebook": "mlprod.runner",
    "MlprodError": "mlprod.errors",
    "save_model": "mlprod.manifest.store",
    "load_model": "mlprod.manifest.store",
    "add_evaluation": "mlprod.manifest.store",
    "read_manifest": "mlprod.manifest.schema",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'mlprod' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
