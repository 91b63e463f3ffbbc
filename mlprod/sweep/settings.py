"""The settings a sweep runs: a grid (``key=v1,v2``) or a YAML list, checked before anything is queued.

Every key must be a leaf of params.yaml and a parameter of a stage the sweep runs (the target and the stages
upstream of it in dvc.yaml): a key no running stage reads would give the same model in every experiment.
Values stay in DVC's ``-S key=value`` syntax (Hydra's override grammar, which DVC parses); values from a YAML
file are written in that syntax (strings quoted, so ``'0.5'`` stays a string).
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import yamlio
from ..errors import ConfigError, SweepError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")


@dataclass(frozen=True)
class Setting:
    """One experiment's parameter values: params.yaml key -> value in DVC's ``-S`` syntax (key order kept)."""

    values: tuple[tuple[str, str], ...]

    def overrides(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.values]

    def describe(self) -> str:
        return " ".join(self.overrides())


def split_values(text: str) -> list[str]:
    """``text`` split at commas outside brackets, braces and quotes: ``a,[1,2],'x,y'`` -> 3 values."""
    values, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    if quote or depth:
        raise SweepError(f"--grid {text!r}: unbalanced {'quote' if quote else 'brackets'}; expected KEY=V1,V2 with "
                         "each value a number, a word, a quoted string or a [list]")
    return values


def parse_grid(items: Iterable[str]) -> list[Setting]:
    """The cartesian product of ``KEY=V1,V2,...`` items, in the order given (the last key varies fastest)."""
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, rest = item.partition("=")
        key = key.strip()
        if not sep or not key or not rest.strip():
            raise SweepError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. train.learning_rate=0.05,0.1)")
        _check_key_form(key, f"--grid {item!r}")
        values = split_values(rest)
        if any(not v for v in values):
            raise SweepError(f"--grid {item!r}: an empty value (two commas in a row, or a comma at the end); "
                             "expected KEY=V1,V2,...")
        if len(set(values)) != len(values):
            raise SweepError(f"--grid {item!r}: a value is listed twice")
        if any(k == key for k, _ in axes):
            raise SweepError(f"--grid: {key} is given twice; list all its values in one KEY=V1,V2,...")
        axes.append((key, values))
    if not axes:
        raise SweepError("no settings: give --grid KEY=V1,V2,... or --settings FILE")
    keys = [k for k, _ in axes]
    return [Setting(tuple(zip(keys, combo))) for combo in itertools.product(*(v for _, v in axes))]


def read_settings_file(path: Path) -> list[Setting]:
    """A YAML file of settings: a list of mappings (or ``settings:`` holding one), each an experiment's values,
    keys dotted (``train.learning_rate: 0.05``) or nested (``train: {learning_rate: 0.05}``)."""
    try:
        data = yamlio.load_file(path)
    except ConfigError as exc:
        raise SweepError(str(exc)) from exc
    if isinstance(data, dict) and set(data) == {"settings"}:
        data = data["settings"]
    if not isinstance(data, list) or not data or not all(isinstance(item, dict) and item for item in data):
        raise SweepError(f"{path}: expected a non-empty list of settings, each a mapping of params.yaml keys to "
                         "values (e.g. `- {train.learning_rate: 0.05, train.max_iter: 100}`), optionally under "
                         "`settings:`")
    settings = []
    for n, item in enumerate(data, 1):
        flat = _flatten(item, "", f"{path} setting {n}")
        settings.append(Setting(tuple((key, to_override(value, f"{path} setting {n}: {key}"))
                                      for key, value in flat.items())))
    return settings


def _flatten(item: Mapping[str, Any], prefix: str, where: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        _check_key_form(name, where)
        if isinstance(value, dict):
            if not value:
                raise SweepError(f"{where}: {name} is an empty mapping; give the keys under it a value")
            flat.update(_flatten(value, f"{name}.", where))
        else:
            flat[name] = value
    return flat


def to_override(value: Any, where: str) -> str:
    """``value`` in DVC's ``-S`` (Hydra override) syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(to_override(v, where) for v in value) + "]"
    raise SweepError(f"{where}: a {type(value).__name__} value cannot be set from a sweep; give numbers, strings, "
                     "booleans, null or lists")


def _check_key_form(key: str, where: str) -> None:
    if ":" in key:
        raise SweepError(f"{where}: {key!r} names another params file; a sweep sets keys of params.yaml only")
    if not _KEY.fullmatch(key):
        raise SweepError(f"{where}: {key!r} is not a params.yaml key; expected dotted names such as "
                         "train.learning_rate")


def check_settings(settings: list[Setting], params: Mapping[str, Any], pipeline: Mapping[str, Any],
                   target: str) -> list[str]:
    """Refuse unknown keys, section keys, keys the stages that run never read, and repeated settings.
    Returns the stages the sweep runs (``target`` and its upstream stages, in dvc.yaml order)."""
    stages = stages_up_to(pipeline, target)
    declared = {name: _declared_params(pipeline["stages"][name]) for name in stages}
    leaves = sorted(_leaf_keys(params))
    for key in dict.fromkeys(k for s in settings for k, _ in s.values):
        value = _lookup(params, key)
        if value is _MISSING:
            close = difflib.get_close_matches(key, leaves, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise SweepError(f"{key} is not a key of params.yaml.{hint} A sweep only sets existing keys (add the key "
                             "to params.yaml and the notebook's parameters cell first)")
        if isinstance(value, dict):
            raise SweepError(f"{key} is a section of params.yaml, not a value; set its keys, e.g. "
                             f"{key}.{next(iter(value), 'KEY')}")
        if not any(_overlaps(key, d) for names in declared.values() for d in names):
            readers = [s for s, spec in (pipeline.get("stages") or {}).items()
                       if isinstance(spec, dict) and any(_overlaps(key, d) for d in _declared_params(spec))]
            where = f" (read by {', '.join(readers)})" if readers else ""
            raise SweepError(f"{key}: no stage the sweep runs ({', '.join(stages)}) reads it{where}; every "
                             f"experiment would build the same model. Sweep the parameters of these stages, or "
                             f"choose another --target")
    seen: dict[tuple, int] = {}
    for n, setting in enumerate(settings, 1):
        canon = tuple(sorted(setting.values))
        if canon in seen:
            raise SweepError(f"settings {seen[canon]} and {n} are the same ({setting.describe()}); each experiment "
                             "needs its own values")
        seen[canon] = n
    return stages


def check_syntax(settings: list[Setting]) -> None:
    """Every value parses as DVC will parse it (Hydra's override grammar), before anything is queued."""
    from dvc.utils.hydra import to_hydra_overrides

    for setting in settings:
        for override in setting.overrides():
            try:
                parsed = to_hydra_overrides([override])
            except Exception as exc:  # hydra's OverrideParseException and friends
                raise SweepError(f"{override!r}: not a value DVC can set ({str(exc).splitlines()[0]}); quote "
                                 "strings with special characters, e.g. key='a b'") from exc
            if any(p.is_sweep_override() for p in parsed):
                raise SweepError(f"{override!r}: a range or choice sweep inside one value; list the values with "
                                 "--grid KEY=V1,V2 instead")


def stages_up_to(pipeline: Mapping[str, Any], target: str) -> list[str]:
    """``target`` and every stage it depends on (through deps under another stage's outputs), in file order."""
    stages = pipeline.get("stages") if isinstance(pipeline, Mapping) else None
    if not isinstance(stages, dict) or target not in stages:
        names = ", ".join(stages or ()) if isinstance(stages, dict) else "none"
        raise SweepError(f"dvc.yaml has no stage {target!r} (stages: {names}); choose --target among them")
    outs = {name: _paths(spec, ("outs", "metrics", "plots")) for name, spec in stages.items() if isinstance(spec, dict)}
    wanted, todo = {target}, [target]
    while todo:
        deps = _paths(stages[todo.pop()], ("deps",))
        for name, produced in outs.items():
            if name not in wanted and any(_under(d, o) or _under(o, d) for d in deps for o in produced):
                wanted.add(name)
                todo.append(name)
    return [name for name in stages if name in wanted]


def _paths(spec: Any, keys: tuple[str, ...]) -> list[str]:
    found = []
    wdir = spec.get("wdir", ".") if isinstance(spec, dict) else "."
    for key in keys:
        for entry in (spec.get(key) or ()) if isinstance(spec, dict) else ():
            name = entry if isinstance(entry, str) else next(iter(entry), "") if isinstance(entry, dict) else ""
            if name:
                found.append(os.path.normpath(os.path.join(wdir, name)).replace(os.sep, "/"))
    return found


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _declared_params(spec: Any) -> list[str]:
    names = []
    for entry in (spec.get("params") or ()) if isinstance(spec, dict) else ():
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):  # {params.yaml: [keys]} or {other.yaml: ...}
            for file, keys in entry.items():
                if Path(str(file)).name == "params.yaml" and str(file) in ("params.yaml", "./params.yaml"):
                    names.extend(str(k) for k in keys or ())
    return names


def _overlaps(key: str, declared: str) -> bool:
    return key == declared or key.startswith(declared + ".") or declared.startswith(key + ".")


_MISSING = object()


def _lookup(params: Mapping[str, Any], key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _leaf_keys(node: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_keys(value, f"{prefix}{key}.")
    elif prefix:
        yield prefix[:-1]
