"""The schema file (``schema.yaml``): one reviewed file declaring all three layers of checks.

::

    schema_version: 1
    table:   {min_rows: 100, extra_columns: error, unique: [lead_id]}
    columns:
      age:    {type: int, min: 18, max: 100}
      region: {type: str, categories: [north, south], nullable: true}
    rules:
      - {name: income_positive, expr: "income > 0", severity: error}
    statistics:                       # against a reference profile (omit the section for the defaults)
      mean_shift: {warning: 0.2, error: 2.0}
    policy: {error: fail, warning: warn, checks: {"stats.*": warn}}

Parsing is strict: unknown keys are errors that list the allowed ones, types are checked, and rule
expressions are compiled (and type-checked against the columns) when the file is loaded.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlprod import yamlio
from mlprod.errors import ConfigError

from .expressions import Expression, compile_expression
from .results import ACTIONS, SEVERITIES

SCHEMA_VERSION = 1
COLUMN_TYPES = ("int", "float", "bool", "str", "datetime")
EXTRA_COLUMNS = ("error", "warning", "allow")
_TOP_KEYS = ("schema_version", "description", "table", "columns", "rules", "statistics", "policy")
_COLUMN_KEYS = ("type", "nullable", "required", "unique", "min", "max", "categories", "allow_inf",
                "statistics", "description")
_TABLE_KEYS = ("min_rows", "max_rows", "extra_columns", "unique")
_RULE_KEYS = ("name", "expr", "severity", "description")
_POLICY_KEYS = ("error", "warning", "checks")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool = False
    required: bool = True
    unique: bool = False
    min: Any = None  # a number, or an ISO date text for datetime columns
    max: Any = None
    categories: tuple[Any, ...] | None = None
    allow_inf: bool = False
    statistics: bool = True  # compared with the reference profile
    description: str | None = None


@dataclass(frozen=True)
class TableSpec:
    min_rows: int = 1
    max_rows: int | None = None
    extra_columns: str = "error"  # columns the schema does not declare: error, warning or allow
    unique: tuple[str, ...] = ()  # columns whose combination must be unique


@dataclass(frozen=True)
class RuleSpec:
    name: str
    expr: str
    severity: str = "error"
    description: str | None = None
    expression: Expression | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StatisticSpec:
    """One statistical check (a name in :data:`mlprod.validation.statistical.STATISTICS`) and its thresholds."""

    name: str
    warning: Any
    error: Any


@dataclass(frozen=True)
class PolicySpec:
    """What a failed check does: by severity, overridden per check id (glob patterns, first match wins)."""

    error: str = "fail"
    warning: str = "warn"
    checks: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "warning": self.warning, "checks": dict(self.checks)}


@dataclass(frozen=True)
class Schema:
    columns: tuple[ColumnSpec, ...]
    table: TableSpec = TableSpec()
    rules: tuple[RuleSpec, ...] = ()
    statistics: tuple[StatisticSpec, ...] | None = None  # None: the defaults
    policy: PolicySpec = PolicySpec()
    description: str | None = None
    source: str = field(default="<schema>", compare=False)

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}


def load_schema(path: str | Path) -> Schema:
    """Read and check a schema file; a problem is a :class:`ConfigError` naming the file and the key."""
    path = Path(path)
    return parse_schema(yamlio.load_file(path), source=str(path))


def parse_schema(data: Any, *, source: str = "<schema>") -> Schema:
    top = _mapping(data, source, _TOP_KEYS, what="a schema (schema_version, columns, ...)")
    version = top.get("schema_version")
    if version is None:
        raise ConfigError(f"{source}: missing 'schema_version'; add 'schema_version: {SCHEMA_VERSION}' at the top")
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{source}: schema_version {version!r} is not supported (this mlprod reads version "
                          f"{SCHEMA_VERSION}); upgrade mlprod or rewrite the file with 'mlprod schema infer'")
    raw_columns = _mapping(top.get("columns"), f"{source} columns", None, what="a mapping of column names")
    if not raw_columns:
        raise ConfigError(f"{source}: 'columns' is empty; declare at least one column "
                          "(draft the file with 'mlprod schema infer DATA')")
    columns = tuple(_column(str(name), spec, f"{source} columns.{name}") for name, spec in raw_columns.items())
    types = {c.name: c.type for c in columns}
    table = _table(top.get("table"), f"{source} table", types)
    rules = _rules(top.get("rules"), f"{source} rules", types)
    statistics = _statistics(top.get("statistics"), f"{source} statistics") if "statistics" in top else None
    policy = _policy(top.get("policy"), f"{source} policy")
    return Schema(columns=columns, table=table, rules=rules, statistics=statistics, policy=policy,
                  description=_text(top.get("description"), f"{source} description"), source=source)


def _column(name: str, data: Any, where: str) -> ColumnSpec:
    spec = _mapping(data, where, _COLUMN_KEYS, what="a mapping such as {type: float, min: 0}")
    kind = spec.get("type")
    if kind not in COLUMN_TYPES:
        raise ConfigError(f"{where}.type: expected one of {', '.join(COLUMN_TYPES)}, got {kind!r}")
    flags = {key: _bool(spec.get(key), f"{where}.{key}", default)
             for key, default in (("nullable", False), ("required", True), ("unique", False),
                                  ("allow_inf", False), ("statistics", True))}
    if flags["allow_inf"] and kind != "float":
        raise ConfigError(f"{where}.allow_inf: only float columns can hold infinities; remove it for a {kind} column")
    low, high = (_bound(spec.get(key), kind, f"{where}.{key}") for key in ("min", "max"))
    if low is not None and high is not None and _order(low) > _order(high):
        raise ConfigError(f"{where}: min ({low!r}) is greater than max ({high!r}); swap them")
    categories = None
    if spec.get("categories") is not None:
        categories = _categories(spec["categories"], kind, f"{where}.categories")
    return ColumnSpec(name=name, type=kind, min=low, max=high, categories=categories,
                      description=_text(spec.get("description"), f"{where}.description"), **flags)


def _bound(value: Any, kind: str, where: str) -> Any:
    if value is None:
        return None
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ConfigError(f"{where}: expected a number for a {kind} column, got {type(value).__name__} {value!r}")
        return value
    if kind == "datetime":
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if isinstance(value, str):
            import pandas as pd

            try:
                pd.Timestamp(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: {value!r} is not a date; use the ISO form, e.g. 2024-07-01") from exc
            return value
        raise ConfigError(f"{where}: expected a date like 2024-07-01, got {type(value).__name__} {value!r}")
    raise ConfigError(f"{where}: min/max apply to int, float and datetime columns, not {kind}; "
                      "use 'categories' for allowed values")


def _order(value: Any) -> Any:
    if isinstance(value, str):
        import pandas as pd

        return pd.Timestamp(value)
    return value


def _categories(value: Any, kind: str, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of allowed values, got {value!r}")
    expected = {"int": (int,), "str": (str,), "bool": (bool,), "float": (int, float)}.get(kind)
    if expected is None:
        raise ConfigError(f"{where}: categories apply to str, int, bool and float columns, not {kind}")
    bad = [v for v in value if not isinstance(v, expected) or (kind != "bool" and isinstance(v, bool))]
    if bad:
        raise ConfigError(f"{where}: values must be {kind} like the column, got {bad[:5]!r}")
    if len(set(value)) != len(value):
        twice = sorted({str(v) for v in value if value.count(v) > 1})
        raise ConfigError(f"{where}: {twice} listed more than once; list each allowed value once")
    return tuple(value)


def _table(data: Any, where: str, types: Mapping[str, str]) -> TableSpec:
    if data is None:
        return TableSpec()
    spec = _mapping(data, where, _TABLE_KEYS, what="a mapping such as {min_rows: 1}")
    min_rows = _count(spec.get("min_rows", 1), f"{where}.min_rows")
    max_rows = None if spec.get("max_rows") is None else _count(spec["max_rows"], f"{where}.max_rows")
    if max_rows is not None and max_rows < min_rows:
        raise ConfigError(f"{where}: max_rows ({max_rows}) is below min_rows ({min_rows})")
    extra = spec.get("extra_columns", "error")
    if extra not in EXTRA_COLUMNS:
        raise ConfigError(f"{where}.extra_columns: expected one of {', '.join(EXTRA_COLUMNS)}, got {extra!r}")
    unique = spec.get("unique") or []
    if isinstance(unique, str):
        unique = [unique]
    if not isinstance(unique, list) or not all(isinstance(c, str) for c in unique):
        raise ConfigError(f"{where}.unique: expected a list of column names, got {unique!r}")
    unknown = [c for c in unique if c not in types]
    if unknown:
        raise ConfigError(f"{where}.unique: {unknown} are not declared under 'columns' ({', '.join(types)})")
    return TableSpec(min_rows=min_rows, max_rows=max_rows, extra_columns=extra, unique=tuple(unique))


def _rules(data: Any, where: str, types: Mapping[str, str]) -> tuple[RuleSpec, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of rules like "
                          f"'- {{name: income_positive, expr: \"income > 0\"}}', "
                          f"got {type(data).__name__}")
    rules: list[RuleSpec] = []
    for index, item in enumerate(data):
        at = f"{where}[{index}]"
        spec = _mapping(item, at, _RULE_KEYS, what="a rule {name, expr, severity}")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip() or any(ch.isspace() for ch in name):
            raise ConfigError(f"{at}.name: expected a short name without spaces (e.g. income_positive), got {name!r}")
        if any(r.name == name for r in rules):
            raise ConfigError(f"{at}.name: rule {name!r} is declared twice; give each rule its own name")
        severity = spec.get("severity", "error")
        if severity not in SEVERITIES:
            raise ConfigError(f"{at}.severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
        expression = compile_expression(spec.get("expr"), types, where=f"{at} ({name}).expr")
        rules.append(RuleSpec(name=name, expr=expression.text, severity=severity, expression=expression,
                              description=_text(spec.get("description"), f"{at}.description")))
    return tuple(rules)


def _statistics(data: Any, where: str) -> tuple[StatisticSpec, ...]:
    from .statistical import STATISTICS

    if data is None:
        return ()
    spec = _mapping(data, where, tuple(STATISTICS), what="a mapping of statistical checks")
    found = []
    for name, thresholds in spec.items():
        check = STATISTICS.get(name, where=where)
        if thresholds is False:
            continue
        found.append(check.parse(thresholds, f"{where}.{name}"))
    return tuple(found)


def default_statistics() -> tuple[StatisticSpec, ...]:
    from .statistical import STATISTICS

    return tuple(STATISTICS.get(name).parse(None, name) for name in STATISTICS)


def _policy(data: Any, where: str) -> PolicySpec:
    if data is None:
        return PolicySpec()
    spec = _mapping(data, where, _POLICY_KEYS, what="a mapping {error: fail, warning: warn, checks: {...}}")
    actions = {}
    for severity in SEVERITIES:
        action = spec.get(severity, PolicySpec.__dataclass_fields__[severity].default)
        if action not in ACTIONS:
            raise ConfigError(f"{where}.{severity}: expected one of {', '.join(ACTIONS)}, got {action!r}")
        actions[severity] = action
    checks = spec.get("checks") or {}
    if not isinstance(checks, dict):
        raise ConfigError(f"{where}.checks: expected a mapping of check ids (glob patterns) to "
                          f"{'/'.join(ACTIONS)}, e.g. {{'stats.*': warn}}, got {checks!r}")
    for pattern, action in checks.items():
        if action not in ACTIONS:
            raise ConfigError(f"{where}.checks.{pattern}: expected one of {', '.join(ACTIONS)}, got {action!r}")
    return PolicySpec(checks=tuple((str(k), v) for k, v in checks.items()), **actions)


def _mapping(data: Any, where: str, allowed: tuple[str, ...] | None, *, what: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected {what}, got {type(data).__name__} {data!r}"[:300])
    if allowed is not None:
        unknown = [str(k) for k in data if k not in allowed]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}.{hint}")
    return data


def _bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected a whole number >= 0, got {value!r}")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected text, got {type(value).__name__} {value!r}")
