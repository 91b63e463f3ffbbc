"""What only people know about a model (the ``card:`` section of params.yaml) and the card's analysis settings.

Both are parsed strictly: an unknown key is an error that lists the allowed keys (with a "did you
mean"), and a value of the wrong type names the key, what was expected and what was found.

``card:`` keys (all optional; the card says "not stated" for what is left out)::

    card:
      title: Lead scoring                  # default: the model's name
      purpose: Rank inbound leads ...      # one paragraph: what the model is for
      intended_users: [Sales development team]
      intended_use: [Order the daily call list]
      out_of_scope_use: [Credit or pricing decisions]
      factors: [Region: ...]               # groups/conditions people know to matter
      training_data: text                  # how the data was collected / what it represents
      evaluation_data: text
      ethical_considerations: [...]
      caveats: [...]                       # caveats and recommendations people add
      owners: [Jane Doe <jane@example.com>]
      contact: ml-team@example.com
      license: Apache-2.0
      citation: text
      references: [https://...]

A list key also accepts a single string.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import CardError

CARD_SECTION = "card"

_TEXT = ("title", "purpose", "training_data", "evaluation_data", "contact", "license", "citation")
_LISTS = ("intended_users", "intended_use", "out_of_scope_use", "factors", "ethical_considerations", "caveats",
          "owners", "references")


@dataclass(frozen=True)
class CardInfo:
    """The human-written parts of a model card (``card:`` in params.yaml)."""

    title: str = ""
    purpose: str = ""
    intended_users: tuple[str, ...] = ()
    intended_use: tuple[str, ...] = ()
    out_of_scope_use: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()
    training_data: str = ""
    evaluation_data: str = ""
    ethical_considerations: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    contact: str = ""
    license: str = ""
    citation: str = ""
    references: tuple[str, ...] = ()

    def unstated(self) -> list[str]:
        """Keys left empty, in declaration order."""
        return [f.name for f in fields(self) if f.name != "title" and not getattr(self, f.name)]


def parse_card_info(data: Any, *, source: str = f"params.yaml [{CARD_SECTION}]") -> CardInfo:
    """Build :class:`CardInfo` from a mapping; raises :class:`CardError` naming the bad key."""
    if data is None:
        return CardInfo()
    if not isinstance(data, dict):
        raise CardError(f"{source}: expected a mapping of card fields (e.g. 'purpose: ...'), "
                        f"got {type(data).__name__} {data!r}")
    _reject_unknown(data, _TEXT + _LISTS, source)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key in _TEXT:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise CardError(f"{source}: {key}: expected text, got {type(value).__name__} {value!r}")
            values[key] = str(value).strip()
        else:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                      for v in items):
                raise CardError(f"{source}: {key}: expected a list of texts (or one text), "
                                f"got {type(value).__name__} {value!r}")
            values[key] = tuple(str(v).strip() for v in items if str(v).strip())
    return CardInfo(**values)


def load_card_info(params_file: str | Path | None) -> tuple[CardInfo, bool]:
    """The ``card:`` section of ``params_file``; ``(CardInfo(), False)`` when the file or section is absent."""
    from ..stages.params import load_params_file

    if params_file is None or not Path(params_file).is_file():
        return CardInfo(), False
    params = load_params_file(params_file)
    if CARD_SECTION not in params:
        return CardInfo(), False
    return parse_card_info(params[CARD_SECTION], source=f"{params_file} [{CARD_SECTION}]"), True


@dataclass(frozen=True)
class CardSettings:
    """How the card measures the model; every value is written into the card."""

    target: str | None = None  # label column; None: the ``target`` parameter recorded in the manifest
    threshold: float | None = None  # decision threshold; None: from the evaluation metrics, else 0.5
    slice_metric: str = "roc_auc"  # metric compared across segments (see mlprod.card.metrics)
    slice_columns: tuple[str, ...] = ()  # inputs to slice by; empty: every model input
    numeric_bins: int = 4  # quantile bins per numeric input
    min_slice_rows: int = 100  # segments with fewer rows are shown, never flagged
    min_slice_class_rows: int = 10  # ranking metrics: at least this many positives and negatives
    min_gap: float = 0.05  # flag a segment whose metric is this much worse than overall ...
    z: float = 1.96  # ... and worse by more than z standard errors of the segment's metric
    probe_rows: int = 500  # evaluation rows used by the failure-mode probes
    batch_rows: int = 100_000  # rows in the large-batch test
    out_of_range_factor: float = 10.0  # out-of-range probe: this many ranges beyond the observed min/max
    seed: int = 0  # row sampling for the probes
    intersection_columns: tuple[str, ...] = ()  # inputs whose pairs are sliced together; empty: the categorical ones
    max_intersections: int = 3  # at most this many pairs (in input order)
    min_intersection_rows: int = 100  # an intersection cell with fewer rows is left out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


_POSITIVE_INTS = ("numeric_bins", "probe_rows", "batch_rows")
_NON_NEGATIVE_INTS = ("min_slice_rows", "min_slice_class_rows", "seed", "max_intersections", "min_intersection_rows")
_NON_NEGATIVE_FLOATS = ("min_gap", "z", "out_of_range_factor")


def parse_settings(data: dict[str, Any] | None = None, *, source: str = "card settings") -> CardSettings:
    """Build :class:`CardSettings`; unknown keys and bad values raise :class:`CardError`."""
    data = dict(data or {})
    allowed = tuple(f.name for f in fields(CardSettings))
    _reject_unknown(data, allowed, source)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None and key in ("target", "threshold"):
            continue
        if key == "target":
            _expect(isinstance(value, str) and value, source, key, "a column name", value)
        elif key == "threshold":
            _expect(_is_number(value) and 0 <= value <= 1, source, key, "a number between 0 and 1", value)
            value = float(value)
        elif key == "slice_metric":
            from .metrics import get_metric

            get_metric(value)  # unknown names raise with the available ones
        elif key in ("slice_columns", "intersection_columns"):
            value = [value] if isinstance(value, str) else value
            _expect(isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value), source, key,
                    "a list of column names", value)
            value = tuple(value)
        elif key in _POSITIVE_INTS:
            _expect(type(value) is int and value > 0, source, key, "a positive integer", value)
        elif key in _NON_NEGATIVE_INTS:
            _expect(type(value) is int and value >= 0, source, key, "an integer >= 0", value)
        elif key in _NON_NEGATIVE_FLOATS:
            _expect(_is_number(value) and value >= 0, source, key, "a number >= 0", value)
            value = float(value)
        values[key] = value
    return CardSettings(**values)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expect(ok: Any, source: str, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise CardError(f"{source}: {key}: expected {expected}, got {type(value).__name__} {value!r}")


def _reject_unknown(data: dict, allowed: tuple[str, ...], source: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if not unknown:
        return
    hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, allowed, n=1)) else repr(k)
             for k in unknown]
    raise CardError(f"{source}: unknown key(s) {', '.join(hints)}; allowed: {', '.join(sorted(allowed))}")
