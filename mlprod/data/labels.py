"""The label column as 0/1: mapping a text label with ``positive_label``, dropping (or refusing) rows without one.

The pipeline trains a binary classifier. A label that already holds 0/1 (or booleans) is used as it is
(``positive_label: null``); a text label needs ``positive_label`` (the value that means positive, mapped
to 1; the other value to 0). More than two classes, one class only, or a ``positive_label`` that is not
among the values is an error naming the params.yaml key to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import DataError
from .columns import require_columns

# YAML 1.1 reads an unquoted yes/no/on/off as a boolean: positive_label: yes is True, and should still
# match a text label "yes".
_TRUE_WORDS = {"true", "yes", "y", "on"}
_FALSE_WORDS = {"false", "no", "n", "off"}


@dataclass(frozen=True)
class LabelSummary:
    """What :func:`binary_target` did, for the stage's metrics."""

    rows: int  # rows read
    unlabelled: int  # rows without a label (dropped)
    positive: Any  # the value mapped to 1 (1 or True when the label was 0/1 already)
    negative: Any  # the value mapped to 0 (None when absent)
    mapped: bool  # the column's values were replaced by 0/1

    def to_dict(self) -> dict[str, Any]:
        return {"rows_read": self.rows, "unlabelled_dropped": self.unlabelled,
                "positive_label": _plain(self.positive), "negative_label": _plain(self.negative)}


def binary_target(frame: Any, target: str, *, positive_label: Any = None, drop_unlabelled: bool = True,
                  source: str, keys: Callable[[str], str] | None = None,
                  one_class_ok: bool = False) -> tuple[Any, LabelSummary]:
    """``frame`` with its ``target`` column as 0/1 (int64) and without unlabelled rows, and what was done.

    ``one_class_ok``: a file of labels that arrive later (monitoring, reviewers' decisions) may hold one class
    only; with a text ``positive_label``, a single other value is then the negative class.

    A frame that needs no change is returned as it is (same object). ``keys`` turns a parameter name
    (``target``, ``positive_label``, ``drop_unlabelled``) into the params.yaml key shown in messages
    (default: :func:`mlprod.params_key`).
    """
    import numpy as np
    import pandas as pd

    key = keys or _params_key
    require_columns(frame, {key("target"): target}, source=source)
    labels = frame[target]
    missing = labels.isna()
    unlabelled = int(missing.sum())
    if unlabelled:
        if not drop_unlabelled:
            rows = np.flatnonzero(missing.to_numpy()) + 1
            first = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
            raise DataError(f"{source}: {unlabelled:,} of {len(frame):,} rows have no label in target column "
                            f"{target!r} (row{'s' if len(rows) > 1 else ''} {first}); fill them in, or set "
                            f"{key('drop_unlabelled')}: true to leave them out")
        frame = frame.loc[~missing].reset_index(drop=True)
        labels = frame[target]
    values = _sorted(pd.unique(labels).tolist())
    if len(values) > 2:
        shown = ", ".join(map(repr, values[:10])) + (", ..." if len(values) > 10 else "")
        raise DataError(f"{source}: target column {target!r} has {len(values)} classes ({shown}); the pipeline "
                        f"trains a binary classifier: set {key('target')} to a column with two classes, or "
                        "derive one (e.g. 'churned' from a status column) before ingest")
    if positive_label is None:
        if not all(_is_zero_one(v) for v in values):
            raise DataError(f"{source}: target column {target!r} holds {', '.join(map(repr, values))}, not 0/1 "
                            f"labels; set {key('positive_label')} in params.yaml to the value that means "
                            f"positive (one of {', '.join(map(repr, values))}); it becomes 1, the other 0")
        positive, negative = _present(values, 1), _present(values, 0)
        mapped = not pd.api.types.is_integer_dtype(labels)
        encoded = labels.astype(np.int64) if mapped else labels
    else:
        matches = [v for v in values if _same_label(v, positive_label)]
        if not matches and not (one_class_ok and len(values) == 1):
            raise DataError(f"{source}: {key('positive_label')} {positive_label!r} is not a value of target column "
                            f"{target!r} (values: {', '.join(map(repr, values)) or 'none'}); set it to the value "
                            "that means positive")
        positive = matches[0] if matches else positive_label
        others = [v for v in values if not matches or v is not positive]
        negative = others[0] if others else None
        encoded = labels.map(lambda v: 1 if _same_label(v, positive_label) else 0).astype(np.int64)
        mapped = True
    if len(values) < 2 and not (one_class_ok and values):
        raise DataError(f"{source}: target column {target!r} has one class only ({', '.join(map(repr, values))}"
                        f"{' after dropping unlabelled rows' if unlabelled else ''}); a model needs rows of both "
                        f"classes: check {key('target')} and the data")
    if mapped:
        frame = frame.assign(**{target: encoded.to_numpy()})
    return frame, LabelSummary(rows=len(labels) + unlabelled, unlabelled=unlabelled, positive=positive,
                               negative=negative, mapped=mapped)


def _params_key(name: str) -> str:
    from ..stages.origin import params_key

    return params_key(name)


def _is_zero_one(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) and value in (0, 1)


def _present(values: list, wanted: int) -> Any:
    return next((v for v in values if v == wanted), None)


def _same_label(value: Any, positive: Any) -> bool:
    if isinstance(value, str) and isinstance(positive, bool):  # positive_label: yes (YAML true) and "yes"
        return value.strip().lower() in (_TRUE_WORDS if positive else _FALSE_WORDS)
    if isinstance(value, str) != isinstance(positive, str):  # positive_label: 1 and "1" read as text
        return str(value).strip() == str(positive).strip()
    return bool(value == positive)


def _sorted(values: list) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
