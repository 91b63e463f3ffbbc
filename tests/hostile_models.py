"""Hostile skops files: each tries to run code, write a file or crash the process when it is loaded or used.

Every payload writes ``marker`` (a path in the test's tmp_path) if it ever runs, so a test proves that
nothing ran by the marker's absence. The files are real skops archives: a fitted pipeline whose
``schema.json`` was edited the way an attacker would, so they pass skops' own parsing and differ from
a genuine model only in the node the attack needs.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, Callable

from mlprod.modelfile.skops_io import dumps_model


def json_node(value: Any) -> dict:
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def tuple_node(*items: dict) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def call(module: str, name: str, *args: dict) -> dict:
    """A node that calls ``module.name(*args)`` while the file is loaded (skops' constructor node)."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": tuple_node(*args)}


def function(module: str, name: str) -> dict:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _python(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def payloads(marker: Path) -> dict[str, Callable[[], dict]]:
    """Name -> a node to plant in a pipeline's state. Each runs (or would enable) code that writes ``marker``."""
    code = _python(marker)
    return {
        "builtins.eval": lambda: call("builtins", "eval", json_node(code)),
        "builtins.exec": lambda: call("builtins", "exec", json_node(code)),
        "builtins.open": lambda: call("builtins", "open", json_node(str(marker)), json_node("w")),
        "builtins.__import__": lambda: call("builtins", "__import__", json_node("os")),
        "builtins.getattr": lambda: call("builtins", "getattr", json_node(code), json_node("upper")),
        "numpy.save": lambda: call("numpy", "save", json_node(str(marker)), json_node([1, 2, 3])),
        "numpy.savetxt": lambda: call("numpy", "savetxt", json_node(str(marker)), json_node([1.0, 2.0])),
        "scipy.io.mmwrite": lambda: call("scipy.io", "mmwrite", json_node(str(marker)), json_node([[1.0]])),
        "sklearn.datasets.dump_svmlight_file": lambda: call(
            "sklearn.datasets", "dump_svmlight_file", json_node([[1.0]]), json_node([1]), json_node(str(marker))),
        # a function reference that a FunctionTransformer would call on every prediction
        "eval as a transformer function": lambda: function("builtins", "eval"),
        "exec as a type reference": lambda: {"__class__": "exec", "__module__": "builtins",
                                             "__loader__": "TypeNode"},
        "operator.methodcaller": lambda: {
            "__class__": "methodcaller", "__module__": "operator", "__loader__": "OperatorFuncNode",
            "attrs": tuple_node(json_node("system"), json_node(f"touch {marker}"))},
        "operator.attrgetter": lambda: {
            "__class__": "attrgetter", "__module__": "operator", "__loader__": "OperatorFuncNode",
            "attrs": tuple_node(json_node("__globals__"))},
        "functools.partial of exec": lambda: {
            "__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
            "content": {"func": {"__class__": "exec", "__module__": "builtins", "__loader__": "TypeNode"},
                        "args": tuple_node(json_node(code)),
                        "kwds": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                                 "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                              "__loader__": "ListNode", "content": []}},
                        "namespace": json_node(None)}},
        "a container whose type is a function": lambda: {
            "__class__": "breakpoint", "__module__": "builtins", "__loader__": "ListNode", "content": []},
    }


def hostile_bytes(model: Any, node: dict, *, protocol: int | None = None) -> bytes:
    """``model``'s skops bytes with ``node`` planted as the value of a new attribute of the root object."""
    with zipfile.ZipFile(io.BytesIO(dumps_model(model))) as src:
        members = {name: src.read(name) for name in src.namelist()}
    schema = json.loads(members["schema.json"])
    attributes = schema["content"]  # the root object's attribute dict; keys and their types go in pairs
    attributes["content"]["mlprod_payload"] = node
    attributes["key_types"]["content"].append({"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    if protocol is not None:
        schema["protocol"] = protocol
    members["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name, content in members.items():
            dst.writestr(name, content)
    return out.getvalue()


def hostile_files(model: Any, marker: Path) -> dict[str, bytes]:
    """Every payload as a file, plus an old-protocol claim that disguises ``eval`` as ``numpy.log1p``."""
    files = {name: hostile_bytes(model, make()) for name, make in payloads(marker).items()}
    # protocol 0's function loader takes the function from "content", not from the name it shows
    old_function = {**function("numpy", "log1p"), "content": {"module_path": "builtins", "function": "eval"}}
    files["old protocol claim"] = hostile_bytes(model, old_function, protocol=0)
    return files

