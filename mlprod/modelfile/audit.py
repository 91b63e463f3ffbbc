"""Auditing a skops file's object tree against a :class:`TrustPolicy` before anything is built.

skops reads ``schema.json`` into a tree of nodes without importing or calling anything; each node
says how it will build its object (its loader) and which name it uses. The audit walks that tree and
refuses:

* a node that builds or calls a name (an object restored from attributes, a constructor call, a
  container or array type) unless the name is an allowed *class* and, imported, really is a class;
* a function reference unless the exact name is an allowed function;
* bound methods, ``operator`` callables and ``functools.partial`` (nothing a model needs);
* loaders mlprod does not know (a newer skops), and files that claim another skops protocol (a file
  chooses its loaders by the protocol it claims, so an old claim reaches older loaders).

The result lists every refusal, so one message names all of them.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from .trust import TrustPolicy, resolve

# loaders whose node builds an object of (or calls) the class it names
_CLASS_LOADERS = frozenset({
    "DictNode", "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "BytesNode", "BytearrayNode", "SliceNode",
    "ObjectNode", "ConstructorFromReduceNode", "NdArrayNode", "MaskedArrayNode", "DTypeNode", "RandomStateNode",
    "RandomGeneratorNode", "SparseMatrixNode", "ReduceNode", "TreeNode", "LossNode"})
_SKIPPED = frozenset({"JsonNode", "CachedNode"})  # JSON values; a reference to a node audited already
_REFUSED = {
    "MethodNode": "a bound method",
    "OperatorFuncNode": "an operator.attrgetter/itemgetter/methodcaller",
    "PartialNode": "a functools.partial (use FunctionTransformer's kw_args instead)",
}
MAX_SCHEMA_BYTES = 256 * 1024 * 1024  # a model's object tree; arrays are separate members
KNOWN_LOADERS = _CLASS_LOADERS | _SKIPPED | {"FunctionNode", "TypeNode"} | set(_REFUSED)


@dataclass(frozen=True)
class Refusal:
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


@dataclass(frozen=True)
class Audit:
    """What a file uses: ``refusals`` empty means it may be loaded with ``skops_trusted`` as skops' list."""

    protocol: int | None
    names: tuple[str, ...]  # every class and function name the file uses
    refusals: tuple[Refusal, ...]
    skops_trusted: tuple[str, ...]  # the names skops itself does not trust by default, all allowed here

    @property
    def passed(self) -> bool:
        return not self.refusals


def audit_bytes(data: bytes, policy: TrustPolicy) -> Audit:
    """Audit skops ``data``; raises ``ValueError`` for bytes that are not a readable skops file."""
    from skops.io._audit import get_tree
    from skops.io._protocol import PROTOCOL
    from skops.io._utils import LoadContext

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        size = archive.getinfo("schema.json").file_size
        if size > MAX_SCHEMA_BYTES:  # read nothing that large: a zip bomb looks the same from outside
            raise ValueError(f"schema.json unpacks to {size:,} bytes (at most {MAX_SCHEMA_BYTES:,} are read)")
        schema = json.loads(archive.read("schema.json"))
        if not isinstance(schema, dict):
            raise ValueError("schema.json is not an object")
        protocol = schema.get("protocol")
        if protocol != PROTOCOL or isinstance(protocol, bool):
            reason = (f"the file claims skops protocol {protocol!r}; mlprod loads only protocol {PROTOCOL}, the one "
                      "the installed skops writes. Save the model again with this version")
            return Audit(protocol=None, names=(), refusals=(Refusal("protocol", reason),), skops_trusted=())
        tree = get_tree(schema, LoadContext(src=archive, protocol=PROTOCOL), trusted=None)
        walker = _Walker(policy)
        walker.visit(tree)
        unsafe = tree.get_unsafe_set()
    refusals = list(walker.refusals.values())
    for name in sorted(unsafe - walker.allowed):  # belt and braces: skops' own view of the file
        if name not in walker.refusals:
            refusals.append(Refusal(name, "not an allowed class or function"))
    return Audit(protocol=protocol, names=tuple(sorted(walker.names)), refusals=tuple(refusals),
                 skops_trusted=tuple(sorted(unsafe)))


class _Walker:
    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy
        self.names: set[str] = set()
        self.allowed: set[str] = set()
        self.refusals: dict[str, Refusal] = {}
        self._seen: set[int] = set()

    def visit(self, node: Any) -> None:
        from skops.io._audit import Node

        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, Node) and id(item) not in self._seen:
                self._seen.add(id(item))
                self._check(item)
                stack.extend(item.children.values())

    def _check(self, node: Any) -> None:
        loader = type(node).__name__
        if loader in _SKIPPED:
            return
        name = f"{node.module_name}.{node.class_name}"
        if loader in _REFUSED:
            if loader == "MethodNode":
                name = f"{name}.{node.func}"
            self._refuse(name, f"{_REFUSED[loader]}: never loaded")
        elif loader == "FunctionNode":
            self._function(name)
        elif loader == "TypeNode":  # a reference to a type or builtin function: imported, never called
            if self.policy.allows_function(name):
                self._function(name)
            else:
                self._class(name)
        elif loader in _CLASS_LOADERS:
            self._class(name)
        else:
            self._refuse(name, f"built by the skops loader {loader}, which mlprod does not know")

    def _function(self, name: str) -> None:
        self.names.add(name)
        if self.policy.allows_function(name):
            self.allowed.add(name)
        else:
            self._refuse(name, "a function that is not allowed")

    def _class(self, name: str) -> None:
        self.names.add(name)
        if not self.policy.allows_class(name):
            self._refuse(name, "a class or callable that is not allowed")
            return
        if not isinstance(resolve(name), type):
            self._refuse(name, "named where a class is built, but it is not a class")
            return
        self.allowed.add(name)

    def _refuse(self, name: str, reason: str) -> None:
        self.names.add(name)
        self.refusals.setdefault(name, Refusal(name, reason))
