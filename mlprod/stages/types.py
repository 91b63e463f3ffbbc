"""The small type language of notebook parameters and how values are checked against it.

Parameter values come from YAML, so the types are YAML's: ``bool``, ``int``, ``float``, ``str``,
``list[...]``, ``dict[str, ...]``, ``None`` and unions of them (``float | None``, ``Optional[int]``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from ..errors import NotebookError

_SCALARS = {"bool": bool, "int": int, "float": float, "str": str}
_ALIASES = {"List": "list", "Dict": "dict", "Sequence": "list", "Mapping": "dict", "tuple": "list",
            "Tuple": "list"}


@dataclass(frozen=True)
class TypeSpec:
    """A parameter type: ``kind`` is any/none/bool/int/float/str/list/dict/union."""

    kind: str
    args: tuple[TypeSpec, ...] = ()

    def __str__(self) -> str:
        if self.kind == "union":
            return " | ".join(str(a) for a in self.args)
        if self.kind == "none":
            return "None"
        if self.args and not all(a.kind == "any" for a in self.args):
            return f"{self.kind}[{', '.join(str(a) for a in self.args)}]"
        return self.kind


ANY = TypeSpec("any")


def spec_from_value(value: Any) -> TypeSpec:
    """Type implied by a default value (``None`` accepts anything)."""
    if value is None:
        return ANY
    for name, py_type in _SCALARS.items():
        if type(value) is py_type:
            return TypeSpec(name)
    if isinstance(value, (list, tuple)):
        return TypeSpec("list", (ANY,))
    if isinstance(value, dict):
        return TypeSpec("dict", (ANY, ANY))
    return ANY


def spec_from_annotation(node: ast.expr, *, where: str) -> TypeSpec:
    """Translate an annotation AST into a :class:`TypeSpec`; unknown names are an error."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "int" written as a string
        node = ast.parse(node.value, mode="eval").body
    if isinstance(node, ast.Constant) and node.value is None:
        return TypeSpec("none")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([spec_from_annotation(node.left, where=where), spec_from_annotation(node.right, where=where)])
    name = _name(node.value if isinstance(node, ast.Subscript) else node)
    name = _ALIASES.get(name, name)
    if isinstance(node, ast.Subscript):
        if name in ("Optional", "Union", "list", "dict"):  # else the error names the whole annotation
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            args = [spec_from_annotation(e, where=where) for e in elts if not _is_ellipsis(e)]
            if name == "Optional" and len(args) == 1:
                return _union([args[0], TypeSpec("none")])
            if name == "Union":
                return _union(args)
            if name == "list":
                return TypeSpec("list", (_union(args) if len(args) > 1 else args[0],) if args else (ANY,))
            if name == "dict" and len(args) == 2:
                return TypeSpec("dict", tuple(args))
    elif name in _SCALARS or name in ("list", "dict"):
        return TypeSpec(name, {"list": (ANY,), "dict": (ANY, ANY)}.get(name, ()))
    elif name == "Any":
        return ANY
    raise NotebookError(f"{where}: unsupported type annotation {ast.unparse(node)!r}; use bool, int, float, "
                        "str, list[...], dict[str, ...], None or a union of them")


def check_value(value: Any, spec: TypeSpec) -> tuple[bool, Any]:
    """Return ``(ok, value)``; an ``int`` given for a ``float`` is converted."""
    kind = spec.kind
    if kind == "any":
        return True, value
    if kind == "none":
        return value is None, value
    if kind == "union":
        for option in spec.args:
            ok, converted = check_value(value, option)
            if ok:
                return True, converted
        return False, value
    if kind == "float" and type(value) is int:
        return True, float(value)
    if kind in _SCALARS:
        return type(value) is _SCALARS[kind], value
    if kind == "list":
        if not isinstance(value, list):
            return False, value
        converted = []
        for item in value:
            ok, item = check_value(item, spec.args[0])
            if not ok:
                return False, value
            converted.append(item)
        return True, converted
    if kind == "dict":
        if not isinstance(value, dict):
            return False, value
        converted_dict = {}
        for key, item in value.items():
            ok_key, key = check_value(key, spec.args[0])
            ok_item, item = check_value(item, spec.args[1])
            if not (ok_key and ok_item):
                return False, value
            converted_dict[key] = item
        return True, converted_dict
    return False, value


def yaml_type_name(value: Any) -> str:
    """Name of a value's type as a YAML author would recognise it."""
    return "null" if value is None else type(value).__name__


def _union(options: list[TypeSpec]) -> TypeSpec:
    flat: list[TypeSpec] = []
    for option in options:
        for o in option.args if option.kind == "union" else (option,):
            if o not in flat:
                flat.append(o)
    return ANY if any(o.kind == "any" for o in flat) else TypeSpec("union", tuple(flat))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.Optional, t.Any
        return node.attr
    return ast.unparse(node)


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis
