"""Importing papermill's stack without the parts ``mlprod run`` never uses.

Most of the time ``mlprod run`` spends on itself is importing papermill, nbformat and jupyter_client, and
a good part of that goes to optional packages and plug-in discovery a local run does not need. Two
levels:

* always (:func:`papermill_imports`): jsonschema's probe of ``rfc3987_syntax`` (it builds a parser
  grammar at import, over 1 s; nbformat's schema never uses its "iri" format) is skipped for the whole
  process, and papermill's probes of pyarrow, gcsfs and PyGithub (HDFS, GCS and GitHub notebook
  handlers) are hidden during the import.
* ``lean=True``, for the short-lived ``mlprod run`` process (~0.1 s less per stage): jsonschema's other
  optional format checkers (host names, URIs, date-times, colours, JSON pointers, URI templates,
  durations; nbformat validates notebooks with fastjsonschema and checks no formats) are not loaded,
  papermill's scan of every installed distribution for third-party engines and I/O handlers is
  skipped (the run uses mlprod's engine and local files), and ``requests`` (papermill's HTTP handler)
  is imported on first use instead of at import. These choices last for the rest of the process, so the
  library API leaves them off by default.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator

_PAPERMILL_HANDLERS = ("pyarrow.fs", "gcsfs", "github")
_FORMAT_CHECKERS = ("fqdn", "rfc3987", "rfc3986_validator", "rfc3339_validator", "webcolors", "jsonpointer",
                    "uri_template", "isoduration")
_PLUGIN_GROUPS = frozenset({"papermill.engine", "papermill.io"})


@contextlib.contextmanager
def papermill_imports(lean: bool = False) -> Iterator[None]:
    """Import papermill (and what it imports) inside this block."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    hide = _PAPERMILL_HANDLERS + (_FORMAT_CHECKERS if lean else ())
    with _hidden(hide), (_without_plugin_scan() if lean else contextlib.nullcontext()):
        if lean:
            _load_lazily("requests")
        yield


@contextlib.contextmanager
def _hidden(names: tuple[str, ...]) -> Iterator[None]:
    """Make ``import name`` fail with ImportError inside the block (for names not yet imported)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


@contextlib.contextmanager
def _without_plugin_scan() -> Iterator[None]:
    """papermill registers entry-point plug-ins at import; report none for its two groups."""
    try:
        import entrypoints  # what papermill 2.x uses for its plug-in registries
    except ImportError:
        yield
        return

    original = entrypoints.get_group_all

    def get_group_all(group: str, path: list[str] | None = None) -> list:
        return [] if group in _PLUGIN_GROUPS else original(group, path)

    entrypoints.get_group_all = get_group_all
    try:
        yield
    finally:
        entrypoints.get_group_all = original


def _load_lazily(name: str) -> None:
    """Put a stand-in for module ``name`` in sys.modules that imports the real one on first use.

    (importlib's LazyLoader does not help here: on Python 3.11 the ``import`` statement itself reads
    ``__spec__`` and so triggers the load.)
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return  # not installed: the real import reports it
    sys.modules[name] = _Deferred(name, spec)


class _Deferred(types.ModuleType):
    """A module whose attributes come from the real module, imported when the first one is read."""

    def __init__(self, name: str, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec

    def __getattr__(self, attr: str):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        module = importlib.import_module(name)
        return getattr(module, attr)
