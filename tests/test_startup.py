"""``mlprod.stages.startup``: papermill imported without what ``mlprod run`` never uses, and nothing left broken.

Each check runs in a fresh interpreter: what is imported is per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run_python(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_lean_import_skips_format_checkers_plugin_scan_and_loads_requests_on_first_use() -> None:
    result = run_python("""
        import importlib.util, json, sys
        import entrypoints
        original = entrypoints.get_group_all
        from mlprod.stages.startup import papermill_imports
        with papermill_imports(lean=True):
            import papermill
            from papermill.engines import papermill_engines
            from papermill.iorw import papermill_io
        out = {
            "isoduration": "isoduration" in sys.modules,
            "requests_lazy": type(sys.modules["requests"]).__name__,
            "restored": entrypoints.get_group_all is original,
            "engines": sorted(k for k in papermill_engines._engines if k),
            "hidden_left": [n for n, m in sys.modules.items() if m is None and n != "rfc3987_syntax"],
        }
        import isoduration  # hidden only during the import: importable afterwards
        import requests
        out["requests_works"] = callable(requests.get) and type(sys.modules["requests"]).__name__
        import requests.adapters  # a submodule import works too
        print(json.dumps(out))
    """)
    assert result["isoduration"] is False
    assert result["requests_lazy"] == "_Deferred"
    assert result["restored"] is True
    assert result["engines"] == ["nbclient"]  # the built-in one; no third-party plug-ins scanned
    assert result["hidden_left"] == []
    assert result["requests_works"] == "module"  # first use executed the real module


def test_default_import_keeps_papermill_plugins_and_format_checkers() -> None:
    result = run_python("""
        import json, sys
        from mlprod.stages.startup import papermill_imports
        with papermill_imports():
            import papermill
        from jsonschema import FormatChecker
        print(json.dumps({"requests": type(sys.modules["requests"]).__name__,
                          "duration": "duration" in FormatChecker.checkers,
                          "hidden_left": [n for n, m in sys.modules.items() if m is None and n != "rfc3987_syntax"]}))
    """)
    assert result == {"requests": "module", "duration": True, "hidden_left": []}
