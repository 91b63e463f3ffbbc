"""Stable assignment of units to arms: GrowthBook's hashing (version 2) and bucket ranges, vectorised with numpy.

Any GrowthBook SDK reproduces every assignment from :meth:`Experiment.to_growthbook` (the experiment definition
its ``run`` takes) and the unit's id. The order of work for one unit, as in the SDK's ``run_experiment``:

1. an empty or missing id is not in the experiment;
2. the **coverage gate**: ``hash(coverage_seed, id, 2)`` must fall in ``[0, coverage)``. This is a GrowthBook
   *filter* with its own seed, so the gate and the arm split use separate salts (GrowthBook's own ``coverage``
   field shares the split's hash; it is left at 1);
3. the **arm split**: ``hash(seed, id, 2)`` picks the first arm whose bucket range ``[start, end)`` holds it;
   the ranges are GrowthBook's ``getBucketRanges(len(arms), 1, weights)``.

``hash(seed, value, 2) = (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000`` over the text's UTF-16 code
units (as the JavaScript SDK's ``charCodeAt`` loop and the Python SDK 4). Python's ``hash()`` is never used, so
results do not depend on PYTHONHASHSEED, the process, the machine or the Python version.

Stickiness: growing ``coverage`` only adds units (a unit's arm does not depend on coverage); growing the
*last* arm's weight (a canary's share) only moves units into it. Shrinking coverage drops units; any other
reweighting moves units between arms (docs/traffic.md, "Assignment").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

HASH_VERSION = 2
_OFFSET = 0x811C9DC5
_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
_POW10 = [10 ** k for k in range(10)]


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float  # relative: an experiment's weights are normalised to sum to 1


@dataclass(frozen=True)
class Experiment:
    """One experiment: its key, arms (index 0 is the control), coverage in [0, 1] and the salts.

    ``salt`` seeds the arm split (GrowthBook's ``seed``; default: the key); ``coverage_salt`` seeds the coverage
    gate (default: ``<salt>:coverage``). ``hash_attribute`` names the unit id's column or request field.
    """

    key: str
    arms: tuple[Arm, ...]
    coverage: float = 1.0
    salt: str | None = None
    coverage_salt: str | None = None
    hash_attribute: str = "id"

    def __post_init__(self) -> None:
        where = f"experiment {self.key!r}"
        if not isinstance(self.key, str) or not self.key:
            raise ConfigError(f"experiment: expected a non-empty text key, got {self.key!r}")
        arms = tuple(self.arms)
        object.__setattr__(self, "arms", arms)
        if len(arms) < 2 or not all(isinstance(a, Arm) for a in arms):
            raise ConfigError(f"{where}: expected at least two Arm(name, weight), got {self.arms!r}; "
                              "GrowthBook experiments need two variations or more")
        names = [a.name for a in arms]
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise ConfigError(f"{where}: expected distinct non-empty arm names, got {names!r}")
        for arm in arms:
            if not _finite(arm.weight) or arm.weight < 0:
                raise ConfigError(f"{where}: arm {arm.name!r} weight must be a number >= 0, got {arm.weight!r}")
        if sum(a.weight for a in arms) <= 0:
            raise ConfigError(f"{where}: the arms' weights sum to 0; give at least one arm a positive weight")
        if not _finite(self.coverage) or not 0 <= self.coverage <= 1:
            raise ConfigError(f"{where}: coverage must be a number in [0, 1], got {self.coverage!r}")
        for name in ("salt", "coverage_salt"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{where}: {name} must be a text, got {value!r}")
        if not isinstance(self.hash_attribute, str) or not self.hash_attribute:
            raise ConfigError(f"{where}: hash_attribute must be a non-empty text, got {self.hash_attribute!r}")

    @property
    def seed(self) -> str:
        """The arm split's seed (GrowthBook's ``seed or key``)."""
        return self.salt if self.salt else self.key

    @property
    def coverage_seed(self) -> str:
        return self.coverage_salt if self.coverage_salt else f"{self.seed}:coverage"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def weights(self) -> tuple[float, ...]:
        total = math.fsum(a.weight for a in self.arms)
        return tuple(a.weight / total for a in self.arms)

    @property
    def ranges(self) -> tuple[tuple[float, float], ...]:
        return bucket_ranges(len(self.arms), 1.0, self.weights)

    def to_growthbook(self) -> dict[str, Any]:
        """The experiment as any GrowthBook SDK's ``run`` takes it (variations are the arm names)."""
        definition: dict[str, Any] = {
            "key": self.key, "variations": list(self.names), "weights": list(self.weights),
            "seed": self.seed, "hashVersion": HASH_VERSION, "hashAttribute": self.hash_attribute}
        if self.coverage < 1:
            definition["filters"] = [{"seed": self.coverage_seed, "ranges": [[0, self.coverage]],
                                      "hashVersion": HASH_VERSION, "attribute": self.hash_attribute}]
        return definition


def bucket_ranges(count: int, coverage: float = 1.0,
                  weights: Iterable[float] | None = None) -> tuple[tuple[float, float], ...]:
    """GrowthBook's ``getBucketRanges``: same float arithmetic, same fallback to equal weights when the weights
    are not one non-negative finite number per arm summing to 1 +- 0.01."""
    coverage = min(max(coverage, 0), 1)
    weights = None if weights is None else list(weights)
    valid = (weights is not None and len(weights) == count and all(_finite(w) and w >= 0 for w in weights)
             and 0.99 <= sum(weights) <= 1.01)
    if not valid:
        weights = [1 / count for _ in range(count)] if count >= 1 else []
    cumulative: float = 0
    out = []
    for w in weights:
        start = cumulative
        cumulative += w
        out.append((start, start + coverage * w))
    return tuple(out)


def choose(buckets: np.ndarray, ranges: Iterable[tuple[float, float]]) -> np.ndarray:
    """GrowthBook's ``chooseVariation`` for many buckets: the first range ``[start, end)`` holding each, else -1."""
    buckets = np.asarray(buckets, dtype=np.float64)
    out = np.full(buckets.shape, -1, dtype=np.int16)
    for index, (start, end) in reversed(list(enumerate(ranges))):
        out[(buckets >= start) & (buckets < end)] = index
    return out


def hash_ids(seed: str, unit_ids: Any, version: int = HASH_VERSION) -> np.ndarray:
    """GrowthBook's ``hash(seed, id, version)`` for each id: floats in [0, 1); NaN for an empty or missing id."""
    texts, present = _texts(unit_ids)
    return _hash_texts(seed, texts, present, version)


def assign_indices(experiment: Experiment, unit_ids: Any) -> np.ndarray:
    """Each unit's arm index (int16; -1 = not in the experiment)."""
    texts, present = _texts(unit_ids)
    arm = choose(_hash_texts(experiment.seed, texts, present, HASH_VERSION), experiment.ranges)
    if experiment.coverage < 1:
        gate = _hash_texts(experiment.coverage_seed, texts, present, HASH_VERSION)
        arm[~((gate >= 0) & (gate < experiment.coverage))] = -1  # NaN (no id) fails the comparison too
    return arm


def assign(experiment: Experiment, unit_ids: Any) -> Any:
    """The arm name for one id (None: not in the experiment), or an object array of them for a batch."""
    if _is_scalar(unit_ids):
        index = _assign_one(experiment, _text(unit_ids))
        return experiment.names[index] if index >= 0 else None
    names = np.array([*experiment.names, None], dtype=object)
    return names[assign_indices(experiment, unit_ids)]  # index -1 picks the trailing None


def column_ids(column: Any) -> Any:
    """A table's unit id column (a pandas Series or array) as :func:`assign` takes it, the same for ``mlprod serve``
    (a request) and ``mlprod score`` (a batch): integers as they are; a missing value (None, NaN, NA, NaT) as None,
    in no arm; a whole float (``12.0``: an integer column with a gap, or JSON numbers) as the integer, so a unit
    keeps its arm whichever way its id was read. Anything else goes to :func:`assign`, which takes texts and whole
    numbers only."""
    values = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
    if values.dtype.kind in "iuU":
        return values
    out = []
    for v in values.tolist():
        if isinstance(v, float):
            out.append(None if v != v else int(v) if v.is_integer() else v)
        elif v is None or type(v).__name__ in ("NAType", "NaTType"):
            out.append(None)
        else:
            out.append(v)
    return out


def _hash_one(seed: str, text: str) -> float:
    return (_fnv1a_py(str(_fnv1a_py(seed + text))) % 10000) / 10000


def _assign_one(experiment: Experiment, text: str) -> int:
    """One id without numpy (a request at a time): the same steps as :func:`assign_indices`."""
    if not text:
        return -1
    if experiment.coverage < 1 and not _hash_one(experiment.coverage_seed, text) < experiment.coverage:
        return -1
    n = _hash_one(experiment.seed, text)
    for index, (start, end) in enumerate(experiment.ranges):
        if start <= n < end:
            return index
    return -1


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, np.integer, np.floating, np.str_, np.bool_))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _texts(unit_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    """The ids as a numpy unicode array (as ``str(id)``) and a mask of the ones present (not None, not empty)."""
    if _is_scalar(unit_ids):
        unit_ids = [unit_ids]
    if isinstance(unit_ids, (list, tuple)):  # element by element: numpy would turn [True, "a"] into texts
        values = np.empty(len(unit_ids), dtype=object)
        try:
            values[:] = unit_ids
        except ValueError as exc:
            raise DataError("unit ids: expected one id or a flat sequence of ids, got nested sequences") from exc
    else:
        values = np.asarray(unit_ids)
    if values.ndim != 1:
        raise DataError(f"unit ids: expected one id or a flat sequence of ids, got an array of shape {values.shape}")
    kind = values.dtype.kind
    if kind == "U":
        texts = values
    elif kind in "iu":
        texts = values.astype(str)
    elif kind == "O" or len(values) == 0:
        texts = np.array([_text(v) for v in values.tolist()], dtype=str) if len(values) else np.array([], dtype="U1")
    else:
        raise DataError(f"unit ids: expected texts or whole numbers, got {values.dtype} values such as "
                        f"{values[:3].tolist()!r}; store ids as text or integers (a float id like 12.0 hashes as "
                        "'12.0', not '12')")
    return texts, np.char.str_len(texts) > 0


def _text(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    raise DataError(f"unit ids: expected texts or whole numbers, got {type(value).__name__} {value!r}; store ids "
                    "as text or integers")


def _hash_texts(seed: str, texts: np.ndarray, present: np.ndarray, version: int) -> np.ndarray:
    if version == 2:
        first = _fnv1a(texts, prefix=seed)
        buckets = (_fnv1a_decimal(first) % 10000) / 10000.0
    elif version == 1:
        buckets = (_fnv1a(texts, suffix=seed) % 1000) / 1000.0
    else:
        raise ConfigError(f"hash version: expected 1 or 2 (GrowthBook's), got {version!r}")
    return np.where(present, buckets, np.nan)


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def _fnv1a_py(text: str, state: int = _OFFSET) -> int:
    for unit in _utf16_units(text):
        state = ((state ^ unit) * _PRIME) & _MASK
    return state


def _fnv1a(texts: np.ndarray, prefix: str = "", suffix: str = "") -> np.ndarray:
    """FNV-1a 32-bit of ``prefix + text + suffix`` over UTF-16 code units, one column at a time per length."""
    count = len(texts)
    state = np.full(count, _fnv1a_py(prefix), dtype=np.uint64)
    if count == 0:
        return state
    texts = np.ascontiguousarray(texts)
    width = texts.dtype.itemsize // 4
    codes = texts.view(np.uint32).reshape(count, width) if width else np.zeros((count, 0), np.uint32)
    lengths = np.char.str_len(texts)
    suffix_codes = [np.uint64(unit) for unit in _utf16_units(suffix)]
    for length in np.unique(lengths):
        rows = slice(None) if length == lengths[0] and (lengths == length).all() else np.flatnonzero(lengths == length)
        part = state[rows]
        sub = codes[rows, :length].astype(np.uint64)
        for column in range(int(length)):
            part ^= sub[:, column]
            part *= _PRIME
            part &= _MASK
        for code in suffix_codes:
            part ^= code
            part *= _PRIME
            part &= _MASK
        state[rows] = part
    for row in np.flatnonzero((codes > 0xFFFF).any(axis=1)):  # a surrogate pair in UTF-16: rare, done one by one
        state[row] = _fnv1a_py(prefix + str(texts[row]) + suffix)
    return state


def _fnv1a_decimal(values: np.ndarray) -> np.ndarray:
    """FNV-1a 32-bit of ``str(value)`` for each value in [0, 2**32): its decimal digits, most significant first."""
    state = np.full(len(values), _OFFSET, dtype=np.uint64)
    digits = np.ones(len(values), dtype=np.int8)
    for k in range(1, 10):
        digits += values >= _POW10[k]
    for position in range(10):  # position 0 is the 10**9 digit
        digit = (values // np.uint64(_POW10[9 - position])) % np.uint64(10)
        stepped = ((state ^ (digit + np.uint64(48))) * np.uint64(_PRIME)) & np.uint64(_MASK)
        state = np.where(digits >= 10 - position, stepped, state)
    return state
