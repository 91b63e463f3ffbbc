"""mlprod: notebooks to production ML.

The public API is imported lazily, so ``import mlprod`` is instant and has no side effects.
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

_API = {
    "init_stage": "mlprod.stages.interactive",
    "params_key": "mlprod.stages.origin",
    "save_params": "mlprod.stages.saveparams",
    "run_notebook": "mlprod.stages.runner",
    "run_file": "mlprod.stages.runfiles",
    "MlprodError": "mlprod.errors",
    "save_model": "mlprod.manifest.store",
    "load_model": "mlprod.manifest.store",
    "add_evaluation": "mlprod.manifest.store",
    "read_manifest": "mlprod.manifest.schema",
}

__all__ = sorted(_API) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _API)
