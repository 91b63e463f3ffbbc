"""Writing a :class:`~mlprod.validation.spec.Schema` as readable YAML (one line per column and rule).

The text reads back to an equal schema (``parse_schema(yaml(schema)) == schema``); column order is the
schema's order, keys within an entry have a fixed order, and optional per-column notes are written as
trailing comments for the reviewer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from mlprod.atomic import write_text
from mlprod.errors import ConfigError

from .spec import SCHEMA_VERSION, ColumnSpec, Schema, TableSpec


def schema_to_yaml(schema: Schema, *, header: str = "", notes: Mapping[str, str] | None = None) -> str:
    notes = notes or {}
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    lines.append(f"schema_version: {SCHEMA_VERSION}")
    if schema.description:
        lines.append(f"description: {_flow(schema.description)}")
    lines.append(f"table: {_flow(_table(schema.table))}")
    lines.append("columns:")
    entries = [(_entry(c.name, _column(c)), notes.get(c.name)) for c in schema.columns]
    width = max(len(text.rsplit("\n", 1)[-1]) for text, _ in entries)
    for text, note in entries:
        lines.append(f"{text.ljust(width)}  # {_comment(note)}" if note else text)
    if schema.rules:
        lines.append("rules:")
        for rule in schema.rules:
            entry = {"name": rule.name, "expr": rule.expr, "severity": rule.severity}
            if rule.description:
                entry["description"] = rule.description
            lines.append(f"  - {_flow(entry)}")
    else:
        lines += ["rules: []  # business rules, e.g.:", f"#  - {_flow(_example_rule(schema))}"]
    if schema.statistics is not None:
        lines.append("statistics:  # compared with a reference profile (--reference); false switches a check off")
        for spec in schema.statistics:
            lines.append(f"  {spec.name}: {_flow({'warning': spec.warning, 'error': spec.error})}")
    policy = schema.policy
    lines.append("policy:  # what a failed check does: fail, warn or ignore (per severity, or per check id glob)")
    lines.append(f"  error: {policy.error}")
    lines.append(f"  warning: {policy.warning}")
    lines.append(f"  checks: {_flow(dict(policy.checks))}")
    return "\n".join(lines) + "\n"


def _example_rule(schema: Schema) -> dict[str, str]:
    """A commented-out rule on the schema's first numeric column, quoted as rules quote names (else on income)."""
    from .expressions import quote_column

    column = next((c.name for c in schema.columns if c.type in ("int", "float")), "income")
    slug = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_") or "value"
    return {"name": f"{slug}_not_negative", "expr": f"{quote_column(column)} >= 0", "severity": "error"}


def write_schema(schema: Schema, path: str | Path, *, overwrite: bool = False, **kwargs: Any) -> Path:
    """Write the schema file atomically; an existing file (a reviewed one) is kept unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists (it may hold reviewed changes); write the draft elsewhere, "
                          "or pass --force to replace it")
    return write_text(path, schema_to_yaml(schema, **kwargs))


def _table(table: TableSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"min_rows": table.min_rows}
    if table.max_rows is not None:
        out["max_rows"] = table.max_rows
    out["extra_columns"] = table.extra_columns
    if table.unique:
        out["unique"] = list(table.unique)
    return out


def _column(column: ColumnSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": column.type}
    for key, default in (("nullable", False), ("required", True), ("unique", False), ("min", None),
                         ("max", None), ("categories", None), ("allow_inf", False), ("statistics", True),
                         ("description", None)):
        value = getattr(column, key)
        if value != default or (key in ("min", "max") and value is not None):
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


_MAX_SIMPLE_KEY = 1000  # YAML allows an implicit key of at most 1024 characters


def _entry(name: str, value: Any) -> str:
    """One column's line ``  name: {...}`` (an explicit ``? name`` line first for a very long name)."""
    key = _flow(name)
    if len(key) > _MAX_SIMPLE_KEY:
        return f"  ? {key}\n  : {_flow(value)}"
    return f"  {key}: {_flow(value)}"


def _flow(value: Any) -> str:
    """``value`` as YAML flow text on one line, whatever its strings hold (line breaks, quotes, controls)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str) and not value.isprintable():  # line breaks, tabs, controls: escaped, double-quoted
        return _quoted(value)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=2**30, allow_unicode=True).strip()
    text = text[:-4].rstrip() if text.endswith("\n...") else text
    return _quoted(value) if "\n" in text and isinstance(value, str) else text


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _escape(ch: str) -> str:
    """One character as YAML double-quoted text: itself if printable, else an escape YAML reads back."""
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _quoted(text: str) -> str:
    return '"' + "".join(_escape(ch) for ch in text) + '"'


def _comment(note: str) -> str:
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in note)
