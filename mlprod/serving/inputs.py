"""The input plan: what a model expects per feature (from its manifest) and how a request's rows are made scorable.

Built once per model from the manifest's input schema (names and dtypes) and the reference profile saved with
the model (``reference_profile.json``): per numeric feature the fill value (the profile's median) and range
(min, max); per text feature the fill value (the most frequent category) and the known categories. A fill value in
``serving.fill`` overrides the profile's; a feature neither has is a ConfigError at build time, never at request
time.

:meth:`InputPlan.prepare` works column by column on numpy arrays (no loop over rows in the common case) and copies
the frame only when it changes a value:

- a missing column is filled for every row, a missing value (None/NaN) in the row it is in;
- a value of the wrong type (text in a numeric column, a number in a text column) rejects that row only,
  with reason ``wrong_type:<feature>``; the other rows are scored;
- a number outside the profile's [min, max] is clipped (``out_of_range: clip``) or marks the row to be routed
  past the primary (``route``); either way the feature is named in the row's ``out_of_range``;
- a category the profile never saw passes through (the pipeline's OneHotEncoder ignores it) and is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

NUMERIC, TEXT, BOOL = "numeric", "text", "bool"
RULE_TYPES = {NUMERIC: "float", TEXT: "str", BOOL: "bool"}  # feature kind -> rule language column type
_NUMBER_KINDS = frozenset("iuf")
_NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"})


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # as the manifest records it
    kind: str  # numeric | text | bool
    fill: Any
    low: float | None = None  # numeric: the profile's min and max
    high: float | None = None
    known: frozenset[str] | None = None  # text: the profile's categories (None: not known)


@dataclass(frozen=True)
class Prepared:
    """What :meth:`InputPlan.prepare` made of a request: per row of the input, in order."""

    frame: pd.DataFrame  # the model's input columns, filled (and clipped); rejected rows left as they came
    filled: list[tuple[str, ...]]  # per row: features filled because missing or null
    out_of_range: list[tuple[str, ...]]  # per row: features clipped (clip) or to be routed (route)
    rejected: np.ndarray  # per row: "wrong_type:<feature>" or None
    routed: np.ndarray  # bool per row: out of range under ``route``
    counts: dict[str, dict[str, int]]  # filled / out_of_range / unseen_categories: feature -> rows

    @property
    def scorable(self) -> np.ndarray:
        return pd.isna(self.rejected) if len(self.rejected) else np.zeros(0, dtype=bool)


class InputPlan:
    """How to make a request's rows scorable for one model; see the module docstring."""

    def __init__(self, features: list[Feature], *, out_of_range: str = "clip") -> None:
        self.features = list(features)
        self.columns = [f.name for f in self.features]
        self.out_of_range = out_of_range

    @property
    def column_types(self) -> dict[str, str]:
        """Feature -> rule language type, for compiling ``serving.rules``."""
        return {f.name: RULE_TYPES[f.kind] for f in self.features}

    @classmethod
    def from_model(cls, inputs: list[Any], profile: Any, *, fill: Mapping[str, Any] | None = None,
                   out_of_range: str = "clip", where: str = "model") -> InputPlan:
        """The plan for a model with manifest ``inputs`` (``.name``, ``.dtype``) and reference ``profile``
        (a :class:`mlprod.profile.Profile`, or None: every fill value must then be configured)."""
        fill = dict(fill or {})
        names = [c.name for c in inputs]
        unknown = sorted(set(fill) - set(names))
        if unknown:
            raise ConfigError(f"params.yaml serving.fill: {', '.join(map(repr, unknown))} is not an input of {where}; "
                              f"its inputs are {', '.join(names)}")
        columns = getattr(profile, "columns", {}) if profile is not None else {}
        return cls([_feature(c.name, c.dtype, columns.get(c.name), fill, where) for c in inputs],
                   out_of_range=out_of_range)

    @classmethod
    def from_folder(cls, folder: Any, *, fill: Mapping[str, Any] | None = None, out_of_range: str = "clip",
                    manifest: Any = None) -> InputPlan:
        """The plan for the model saved in ``folder`` (its manifest and ``reference_profile.json``)."""
        from pathlib import Path

        from ..manifest.schema import read_manifest
        from ..profile.files import read_profile
        from ..training.fit import PROFILE_FILE

        folder = Path(folder)
        manifest = manifest or read_manifest(folder)
        path = folder / PROFILE_FILE
        profile = read_profile(path) if path.is_file() else None
        return cls.from_model(manifest.inputs, profile, fill=fill, out_of_range=out_of_range,
                              where=f"{manifest.name} {manifest.version} ({folder})")

    def prepare(self, frame: Any) -> Prepared:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame of rows to score, got {type(frame).__name__}")
        if frame.columns.has_duplicates:
            twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]} & set(self.columns))
            if twice:
                raise DataError(f"the rows to score have column(s) {', '.join(map(repr, twice))} more than once; "
                                "send each input column once")
        n = len(frame)
        any_wrong = False
        rejected = np.full(n, None, dtype=object)
        routed = np.zeros(n, dtype=bool)
        changed: dict[str, Any] = {}
        filled_masks: list[tuple[str, np.ndarray | None]] = []  # None: every row
        range_masks: list[tuple[str, np.ndarray]] = []
        counts: dict[str, dict[str, int]] = {"filled": {}, "out_of_range": {}, "unseen_categories": {}}
        for feature in self.features:
            if feature.name not in frame.columns:
                changed[feature.name] = np.full(n, feature.fill, dtype=object if feature.kind == TEXT else None)
                filled_masks.append((feature.name, None))
                if n:
                    counts["filled"][feature.name] = n
                continue
            series = frame[feature.name]
            if feature.kind == TEXT:
                new, missing, wrong, unseen = _text(series, feature)
                if unseen:
                    counts["unseen_categories"][feature.name] = unseen
            elif feature.kind == NUMERIC:
                values = series.to_numpy()
                new, missing, wrong, outside = _numeric(values, feature, clip=self.out_of_range == "clip")
                if outside is not None:
                    range_masks.append((feature.name, outside))
                    counts["out_of_range"][feature.name] = int(outside.sum())
                    if self.out_of_range == "route":
                        routed |= outside
            else:
                new, missing, wrong = _boolean(series.to_numpy(), feature)
            if wrong is not None:
                any_wrong = True
                first = wrong & pd.isna(rejected)
                rejected[first] = f"wrong_type:{feature.name}"
            if missing is not None:
                filled_masks.append((feature.name, missing))
                counts["filled"][feature.name] = int(missing.sum())
            if new is not None:
                changed[feature.name] = new
        if any_wrong:
            ok = pd.isna(rejected)
            routed &= ok
            counts["rejected"] = {"rows": int((~ok).sum())}
        out = _assemble(frame, self.columns, changed)
        return Prepared(out, _per_row(n, filled_masks), _per_row(n, range_masks), rejected, routed, counts)


def _feature(name: str, dtype: str, column: Any, fill: dict[str, Any], where: str) -> Feature:
    from ..registry.compatibility import dtype_kind

    text = str(dtype).lower()
    kind = BOOL if text.startswith("bool") else NUMERIC if dtype_kind(text) == "numeric" else TEXT \
        if dtype_kind(text) == "text" else None
    if kind is None:
        raise ConfigError(f"{where}: input {name!r} has dtype {dtype}; serving handles numbers, text and booleans")
    low = high = known = None
    value = fill.get(name)
    if column is not None and kind == NUMERIC and getattr(column, "kind", None) == "numeric" and column.count:
        low, high = column.min, column.max
        if value is None:
            value = column.quantiles([0.5])[0]
    elif column is not None and kind in (TEXT, BOOL) and column.frequencies:
        known = frozenset(column.frequencies)
        if value is None:
            value = min(column.frequencies.items(), key=lambda kv: (-kv[1], kv[0]))[0]  # the mode; ties by text
            if kind == BOOL:
                value = value.lower() == "true"
    if value is None:
        what = "median" if kind == NUMERIC else "most frequent value"
        source = "has no reference profile" if column is None else "'s reference profile has no values for it"
        raise ConfigError(f"{where}: input {name!r} has no fill value: the model {source} (expected its {what}). "
                          f"Set one in params.yaml serving.fill, e.g. fill: {{{name}: ...}}")
    if kind == NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"params.yaml serving.fill.{name}: {name} is numeric; expected a number, got {value!r}")
    if kind == TEXT and not isinstance(value, str):
        raise ConfigError(f"params.yaml serving.fill.{name}: {name} is text; expected a text, got {value!r}")
    return Feature(name, str(dtype), kind, value, low, high, known if kind == TEXT else None)


def _numeric(values: np.ndarray, feature: Feature, *, clip: bool):
    """(new values or None, missing mask or None, wrong-type mask or None, outside mask or None)."""
    kind = values.dtype.kind
    wrong = None
    if kind in _NUMBER_KINDS:
        numbers = values
    elif kind == "O" and pd.api.types.infer_dtype(values, skipna=True) in _NUMERIC_INFERRED:
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64")
    else:  # text, booleans or other objects among the numbers: those rows are rejected
        good = np.fromiter((_is_number(v) for v in values), dtype=bool, count=values.size)
        wrong = None if good.all() else ~good
        numbers = pd.to_numeric(pd.Series(np.where(good, values, None), dtype=object),
                                errors="coerce").to_numpy(dtype="float64")
    new = None
    missing = None
    if numbers.dtype.kind == "f":
        missing = ~np.isfinite(numbers)
        if wrong is not None:
            missing &= ~wrong
        if missing.any():
            new = np.where(missing, float(feature.fill), numbers)
        else:
            missing = None
    if wrong is not None:
        new = np.where(wrong, float(feature.fill), numbers if new is None else new)
    current = numbers if new is None else new
    outside = None
    if feature.low is not None:
        outside = (current < feature.low) | (current > feature.high)
        if wrong is not None:
            outside &= ~wrong
        if not outside.any():
            outside = None
        elif clip:
            new = np.clip(current, feature.low, feature.high)
    if new is None and kind not in _NUMBER_KINDS:
        new = numbers  # numbers that came as objects: hand the model floats
    return new, missing, wrong, outside


def _is_number(value: Any) -> bool:
    """A number or a missing value (a boolean is not a number here)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (int, float, np.integer, np.floating))


def _text(series: pd.Series, feature: Feature):
    """(new values or None, missing mask or None, wrong-type mask or None, unseen rows).

    A column of pandas' string dtype holds only text (or missing values): nothing to check per value, and it is
    passed on as it is unless a value is missing.
    """
    wrong = None
    if isinstance(series.dtype, pd.StringDtype):
        missing = series.isna().to_numpy()
        values = None
    else:
        values = series.to_numpy()
        if values.dtype.kind != "O" or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            good = np.fromiter((v is None or isinstance(v, str) or (isinstance(v, float) and v != v) or v is pd.NA
                                for v in values), dtype=bool, count=values.size)
            wrong = None if good.all() else ~good
            values = values.astype(object)
        missing = pd.isna(values)
        if wrong is not None:
            missing &= ~wrong
            values = np.where(wrong, feature.fill, values)
    new = values if wrong is not None else None
    if missing.any():
        base = series.to_numpy(dtype=object) if values is None else values
        new = np.where(missing, feature.fill, base)
    else:
        missing = None
    unseen = 0
    if feature.known is not None:
        if new is None and len(series) > 32:
            unseen = int((~series.isin(feature.known)).sum())
        else:
            current = series.to_numpy() if new is None else new
            unseen = sum(1 for v in current if v not in feature.known)
            if wrong is not None:
                unseen -= int(wrong.sum())  # the fill value stands in for them; they are rejected anyway
        unseen = max(unseen, 0)
    return new, missing, wrong, unseen


def _boolean(values: np.ndarray, feature: Feature):
    if values.dtype.kind == "b":
        return None, None, None
    good = np.fromiter((v is None or isinstance(v, (bool, np.bool_)) or (isinstance(v, float) and v != v)
                        for v in values), dtype=bool, count=values.size)
    wrong = None if good.all() else ~good
    missing = pd.isna(values)
    new = np.where(missing | (~good), feature.fill, values).astype(bool)
    return new, (missing if missing.any() else None), wrong


def _assemble(frame: pd.DataFrame, columns: list[str], changed: dict[str, Any]) -> pd.DataFrame:
    """``frame``'s model columns with ``changed`` ones replaced; ``frame`` itself when nothing changes."""
    if not changed:
        if list(frame.columns) == columns:
            return frame
        return frame[columns]
    data = {c: (changed[c] if c in changed else frame[c].to_numpy()) for c in columns}
    return pd.DataFrame(data, index=frame.index, columns=columns)


def _per_row(n: int, masks: list[tuple[str, np.ndarray | None]]) -> list[tuple[str, ...]]:
    """Per row, the names whose mask is true there (None: true everywhere), in the plan's column order; the
    same empty tuple for every row without any (no per-row allocation in the common case)."""
    if not masks:
        return [()] * n
    if all(mask is None for _, mask in masks):
        return [tuple(name for name, _ in masks)] * n
    rows: list[list[str] | tuple[()]] = [()] * n
    for name, mask in masks:
        where = range(n) if mask is None else np.flatnonzero(mask).tolist()
        for i in where:
            row = rows[i]
            if row == ():
                rows[i] = [name]
            else:
                row.append(name)
    return [tuple(row) for row in rows]
