"""Which names a model file may use: an exact allow-list of classes and functions, never a prefix.

A skops file names every object it builds by module and class. Loading builds classes (an estimator
restored from its attributes) and references functions (``FunctionTransformer(np.log1p)``); a name
that is a function where a class is expected would be *called* with arguments from the file. So the
policy keeps classes and functions apart, and both are exact names:

* classes: skops' own defaults (scikit-learn estimators, NumPy dtypes, containers, ...) plus the few
  internal classes fitted scikit-learn models hold (``TreePredictor``, ``Tree``, calibration parts);
* functions: NumPy and SciPy ufuncs (pure element-wise maths), skops' default;
* a project adds what its own models need in ``params.yaml``::

      model_files:
        trusted_types: [numpy.clip, mypackage.transformers.Winsorizer]

  Each entry is an exact, importable name; prefixes, wildcards and names from modules that run code
  or touch files (``builtins``, ``os``, ``subprocess``, ``operator``, ...) are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError

SECTION = "model_files"
_SETTINGS = ("trusted_types",)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
# Modules whose members can run code, import modules, or read and write files and processes. Nothing
# from them is ever trusted, whatever params.yaml says.
NEVER_TRUSTED_MODULES = frozenset({
    "builtins", "os", "posix", "nt", "sys", "subprocess", "shutil", "socket", "io", "pathlib", "importlib",
    "operator", "functools", "pickle", "marshal", "shelve", "runpy", "code", "codeop", "pty", "ctypes",
    "types", "inspect", "gc", "tempfile", "webbrowser", "urllib", "http", "ftplib", "smtplib", "asyncio",
    "threading", "multiprocessing", "signal", "pdb", "bdb", "timeit", "trace", "cProfile", "profile",
    "zipimport", "pkgutil", "joblib", "cloudpickle", "dill", "numpy.lib.npyio", "numpy.ctypeslib"})

# Classes that fitted scikit-learn models hold but skops does not trust by default. Tree structures
# are checked after loading (see structure.py): skops leaves them out because their node indices are
# used without bounds checks.
MODEL_INTERNAL_CLASSES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)
# Classes the skops node loaders trust by default (they are not in skops' exported name lists).
_NODE_DEFAULT_CLASSES = (
    "builtins.dict", "builtins.list", "builtins.set", "builtins.tuple", "builtins.bytes", "builtins.bytearray",
    "builtins.slice", "builtins.str", "builtins.int", "builtins.float", "builtins.bool",
    "collections.OrderedDict", "collections.defaultdict",
    "numpy.ndarray", "numpy.ma.core.MaskedArray", "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
)


@dataclass(frozen=True)
class TrustPolicy:
    """Exact names a model file may build (``classes``) or reference (``functions``)."""

    classes: frozenset[str]
    functions: frozenset[str]
    extra: tuple[str, ...] = field(default=())  # what the project added, as written (for messages)

    def allows_class(self, name: str) -> bool:
        return name in self.classes

    def allows_function(self, name: str) -> bool:
        return name in self.functions


@lru_cache(maxsize=1)
def _defaults() -> tuple[frozenset[str], frozenset[str]]:
    from skops.io import _trusted_types as skops_defaults
    from skops.io._sklearn import ALLOWED_LOSSES

    classes = {
        *skops_defaults.PRIMITIVE_TYPE_NAMES, *skops_defaults.NUMPY_DTYPE_TYPE_NAMES,
        *skops_defaults.SKLEARN_ESTIMATOR_TYPE_NAMES, *skops_defaults.SKLEARN_INTERNAL_TYPE_NAMES,
        *getattr(skops_defaults, "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES", ()),
        *(f"{loss.__module__}.{loss.__name__}" for loss in ALLOWED_LOSSES),
        *_NODE_DEFAULT_CLASSES, *MODEL_INTERNAL_CLASSES, *_sparse_classes(),
    }
    classes.discard("builtins.map")  # a lazy call of any function: never needed by a model
    functions = {*skops_defaults.NUMPY_UFUNC_TYPE_NAMES, *skops_defaults.SCIPY_UFUNC_TYPE_NAMES}
    return frozenset(classes), frozenset(functions)


def _sparse_classes() -> list[str]:
    import scipy.sparse as sp

    names = ("csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array")
    return [f"{getattr(sp, n).__module__}.{n}" for n in names if hasattr(sp, n)]


def default_policy() -> TrustPolicy:
    classes, functions = _defaults()
    return TrustPolicy(classes=classes, functions=functions)


def policy(extra: Iterable[str] = (), *, source: str = "trusted_types") -> TrustPolicy:
    """The default policy plus ``extra`` exact names, each checked (see the module docstring)."""
    names = tuple(check_names(extra, source=source))
    classes, functions = _defaults()
    if not names:
        return TrustPolicy(classes=classes, functions=functions)
    # an extra name may stand for a class or a function: which one is decided when the file uses it
    # (a class must resolve to a type before anything is built)
    return TrustPolicy(classes=classes | set(names), functions=functions | set(names), extra=names)


def check_names(names: Iterable[str], *, source: str) -> list[str]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ConfigError(f"{source}: expected a list of exact names such as [numpy.clip, mypkg.MyTransformer], "
                          f"got {names!r}")
    checked = []
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"{source}: {name!r} is not an exact importable name (module.Name, e.g. numpy.clip); "
                              "prefixes and wildcards are not accepted")
        module = name.rsplit(".", 1)[0]
        blocked = next((m for m in NEVER_TRUSTED_MODULES if module == m or module.startswith(m + ".")), None)
        if blocked is not None:
            raise ConfigError(f"{source}: {name} is never trusted: members of {blocked!r} can run code or touch "
                              "files when a model file names them. Remove it; wrap what your model needs in a "
                              "class of your own package and trust that class by name.")
        checked.append(name)
    return checked


def project_policy(params_file: str | Path | None = None) -> TrustPolicy:
    """The policy of the project: defaults plus ``model_files.trusted_types`` from its params.yaml."""
    from ..stages.params import find_params_file, load_params_file

    path = Path(params_file) if params_file is not None else find_params_file()
    if path is None:
        return default_policy()
    section = load_params_file(path).get(SECTION)
    if section is None:
        return default_policy()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {SECTION} must be a mapping (trusted_types: [...]), got {section!r}")
    unknown = sorted(set(section) - set(_SETTINGS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(map(str, unknown))} in {SECTION}; "
                          f"allowed: {', '.join(_SETTINGS)}")
    return policy(section.get("trusted_types") or (), source=f"{path}: {SECTION}.trusted_types")


def resolve(name: str) -> Any:
    """Import an allowed name (module, then attributes); only ever called for names the policy lists."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None
