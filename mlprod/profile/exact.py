"""Exact, mergeable sums of floats: the mean and the sum of squared deviations of a column come out the
same however its rows are split into batches (numpy's pairwise sums depend on the split).

Each float is ``m * 2**e`` with an integer ``m`` of at most 53 bits; ``m`` is cut into two pieces of at
most 27 bits, and the pieces are summed per exponent with ``np.bincount`` (float sums of such pieces are
exact while fewer than 2**25 values are added at once). The squares are split exactly into two floats
first (Dekker's product). The result is a :class:`fractions.Fraction`; mean and variance are rounded
once, at the end. Squares are exact for magnitudes in [``SQUARE_MIN``, ``SQUARE_MAX``]; a column with
values outside has no exact state and uses the float formulas.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

SQUARE_MAX = 1e150
SQUARE_MIN = 1e-140
_CHUNK = 1 << 24
_SPLIT = 134217729.0  # 2**27 + 1


def exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of finite float64 ``values``."""
    total = Fraction(0)
    for start in range(0, values.size, _CHUNK):
        total += _chunk_sum(values[start:start + _CHUNK])
    return total


def exact_moments(values: np.ndarray) -> tuple[Fraction, Fraction] | None:
    """(sum, sum of squares) of finite ``values``, exactly; ``None`` when a square is not exact."""
    if values.size == 0:
        return Fraction(0), Fraction(0)
    magnitude = np.abs(values)
    if magnitude.max() > SQUARE_MAX or magnitude[magnitude > 0].min(initial=1.0) < SQUARE_MIN:
        return None
    square = values * values
    with np.errstate(over="ignore", invalid="ignore"):
        c = _SPLIT * values
        high = c - (c - values)
        low = values - high
        error = ((high * high - square) + 2.0 * high * low) + low * low
    return exact_sum(values), exact_sum(square) + exact_sum(error)


def mean_and_m2(count: int, total: Fraction, squares: Fraction) -> tuple[float, float]:
    """The mean and the sum of squared deviations, each rounded once from the exact sums."""
    mean = total / count
    m2 = squares - total * mean
    return _float(mean), _float(m2)


def _float(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _chunk_sum(values: np.ndarray) -> Fraction:
    if values.size == 0:
        return Fraction(0)
    mantissa, exponent = np.frexp(values)
    mantissa *= 134217728.0  # 2**27: the top 27 bits are the whole part, the other 26 the fraction
    high = np.floor(mantissa)
    mantissa -= high
    mantissa *= 67108864.0  # 2**26: now a whole number too
    base = int(exponent.min())
    index = exponent.astype(np.intp)
    index -= base
    highs = np.bincount(index, weights=high)
    lows = np.bincount(index, weights=mantissa)
    numerator = 0
    for shift in range(highs.size):
        h, lo = int(highs[shift]), int(lows[shift])
        if h or lo:
            numerator += ((h << 26) + lo) << shift
    scale = base - 53
    return Fraction(numerator * (1 << scale)) if scale >= 0 else Fraction(numerator, 1 << -scale)
