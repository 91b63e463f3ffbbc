"""The dataset's facts that every stage must agree on: one place, the ``project:`` section of params.yaml.

::

    project:
      model_name: lead-scoring          # the model's name in manifests and the registry
      target: converted                 # the label column
      positive_label: null              # the value that means "positive"; null: the label is 0/1 or boolean
      date_column: created_at           # orders rows in time (splits, drift windows); null: none
      key: lead_id                      # identifies a row (never a feature); null: none
      categorical_features: [region, channel]
      numeric_features: [age, income]
      slice_columns: [region]           # segments reported separately (evaluation, model card)

``mlprod run`` (and ``init_stage`` in JupyterLab) gives each stage the facts its notebook declares as
parameters of the same name; a stage's own section and ``-p`` override them, in that order, and
``mlprod check`` warns about every such override. Parsing is strict: an unknown key is an error that
lists the allowed ones, and every value must have its type.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError

SECTION = "project"
_LISTS = ("categorical_features", "numeric_features", "slice_columns")
COLUMN_FACTS = ("target", "date_column", "key", "categorical_features", "numeric_features", "slice_columns")


@dataclass(frozen=True)
class ProjectFacts:
    model_name: str | None = None
    target: str | None = None
    positive_label: str | int | bool | None = None
    date_column: str | None = None
    key: str | None = None
    categorical_features: tuple[str, ...] | None = None
    numeric_features: tuple[str, ...] | None = None
    slice_columns: tuple[str, ...] | None = None
    given: tuple[str, ...] = ()  # the keys written in the section, in its order (null values count)

    @property
    def features(self) -> tuple[str, ...]:
        return (*(self.categorical_features or ()), *(self.numeric_features or ()))

    def as_params(self) -> dict[str, Any]:
        """The facts written in the section, as parameter values (lists for the column lists)."""
        values = {}
        for name in self.given:
            value = getattr(self, name)
            values[name] = list(value) if name in _LISTS and value is not None else value
        return values


ALLOWED = tuple(f.name for f in fields(ProjectFacts) if f.name != "given")


def parse_facts(section: Any, *, where: str) -> ProjectFacts:
    """The ``project:`` mapping as :class:`ProjectFacts`; raises :class:`ConfigError` naming the key."""
    if section is None:
        return ProjectFacts()
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a mapping of the dataset's facts ({', '.join(ALLOWED)}), "
                          f"got {type(section).__name__} {section!r}")
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in ALLOWED:
            close = difflib.get_close_matches(str(key), ALLOWED, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(ALLOWED)})")
        here = f"{where}.{key}"
        if key in _LISTS:
            if value is None:
                values[key] = None
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{here}: expected a list of column names, e.g. [region, channel], got {value!r}")
            duplicated = sorted({v for v in value if value.count(v) > 1})
            if duplicated:
                raise ConfigError(f"{here}: {', '.join(map(repr, duplicated))} listed twice")
            values[key] = tuple(value)
        elif key == "positive_label":
            if value is not None and not isinstance(value, (str, int, bool)):
                raise ConfigError(f"{here}: expected the label value that means positive (text, a number, true), "
                                  f"or null when the label is 0/1; got {value!r}")
            values[key] = value
        else:
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{here}: expected a column or model name, got {value!r}")
            values[key] = value
    both = set(values.get("categorical_features") or ()) & set(values.get("numeric_features") or ())
    if both:
        raise ConfigError(f"{where}: {', '.join(sorted(map(repr, both)))} listed as both categorical and numeric "
                          "features; keep each column in one list")
    for key in ("target", "key", "date_column"):
        column = values.get(key)
        if column and column in set(values.get("categorical_features") or ()) | set(values.get("numeric_features")
                                                                                   or ()):
            raise ConfigError(f"{where}.{key}: {column!r} is also listed as a feature; a {key.replace('_', ' ')} "
                              "is never a model input. Remove it from the feature lists")
    return ProjectFacts(**values, given=tuple(values))


def read_facts(params: Mapping[str, Any], path: str | Path) -> ProjectFacts:
    """The facts in a loaded params file (empty facts when there is no ``project:`` section)."""
    return parse_facts(params.get(SECTION), where=f"{path} [{SECTION}]")
