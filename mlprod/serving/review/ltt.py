"""Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021) for the review band.

A band ``[low, high]`` around the decision threshold sends the rows whose score is inside it to people; the other
rows are decided automatically. The risk controlled is the error rate among automatically decided rows,
``P(decision != label | score outside the band)``. For each candidate band the null hypothesis is "its risk is above
``alpha``"; rejecting it at level ``delta`` certifies the band.

Order of work (and why):
1. the candidate bands are nested and ordered from narrow to wide (:func:`symmetric_bands`, at most
   ``threshold +- 0.4`` by default); a wider band sends the hardest rows to people, so its risk is lower and its
   null the easiest to reject (as long as it leaves enough rows decided automatically: hence the cap);
2. per band, the errors among the holdout's auto-decided rows and the p-value: the binomial tail
   ``P(Binomial(n, alpha) <= errors)``. Given that ``n`` holdout rows fell outside the band, those rows are i.i.d.
   draws of the auto-decided population, so the error count is Binomial(n, risk): the tail is a valid p-value for a
   0/1 loss, and never larger than the Hoeffding bound (the Hoeffding-Bentkus p-value of the paper for a binary
   loss, as MAPIE's ``compute_hoeffding_bentkus_p_value(binary=True)``);
3. fixed-sequence testing from the widest band towards narrower ones, each at level ``delta``, stopping at the first
   band not rejected: the family-wise error is at most ``delta`` because the order is fixed before the labels are
   seen; the narrowest band rejected is chosen (the fewest rows to people).

A band with no auto-decided holdout row says nothing about the risk: it is never certified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BandTest:
    """One candidate band's evidence on the holdout."""

    band: tuple[float, float]
    auto_rows: int  # holdout rows outside the band (decided automatically)
    errors: int  # of those, the wrongly decided ones
    p_value: float

    @property
    def empirical_error(self) -> float | None:
        return self.errors / self.auto_rows if self.auto_rows else None


@dataclass(frozen=True)
class LTTResult:
    """The outcome of :func:`learn_then_test`; ``band`` is None when no candidate band is certified."""

    alpha: float
    delta: float
    threshold: float
    rows: int
    tests: tuple[BandTest, ...]  # in testing order (widest first) up to and including the first non-rejection
    chosen: BandTest | None

    @property
    def band(self) -> tuple[float, float] | None:
        return self.chosen.band if self.chosen is not None else None

    @property
    def certified(self) -> bool:
        return self.chosen is not None


MAX_WIDTH = 0.4


def symmetric_bands(threshold: float, step: float = 0.01, max_width: float = MAX_WIDTH) -> list[tuple[float, float]]:
    """Bands ``[threshold - w, threshold + w]`` clipped to [0, 1], ``w`` = step, 2*step, ... up to ``max_width`` (and
    never all of [0, 1]); narrow to wide.

    Why a cap: testing starts at the widest band, and a band that leaves only a few dozen holdout rows to decide
    automatically cannot show that their error is below alpha, which would stop the sequence at once. The cap
    is fixed before the labels are seen, so the guarantee holds; a wider grid can be passed as ``bands``."""
    if not 0 < step < 1:
        raise ValueError(f"step must be in (0, 1), got {step!r}")
    reach = min(max(threshold, 1 - threshold), max_width)
    bands = []
    for i in range(1, int(np.floor(reach / step + 1e-9)) + 1):
        w = round(i * step, 10)
        low, high = round(max(0.0, threshold - w), 10), round(min(1.0, threshold + w), 10)
        if (low, high) == (0.0, 1.0):
            break
        bands.append((low, high))
    return bands


def check_nested(bands: list[tuple[float, float]]) -> None:
    """Refuse a grid that is not ordered from narrow to wide with each band inside the next."""
    for i, (low, high) in enumerate(bands):
        if not 0 <= low <= high <= 1:
            raise ValueError(f"band {i} {[low, high]}: expected 0 <= low <= high <= 1")
        if i and not (low <= bands[i - 1][0] and high >= bands[i - 1][1]):
            raise ValueError(f"band {i} {[low, high]} does not contain band {i - 1} {list(bands[i - 1])}: give the "
                             "bands nested, from narrow to wide")


def band_evidence(scores: np.ndarray, labels: np.ndarray, threshold: float, band: tuple[float, float],
                  alpha: float) -> BandTest:
    from scipy.stats import binom

    auto = (scores < band[0]) | (scores > band[1])  # inside [low, high] (inclusive) goes to review, as the predictor
    n = int(auto.sum())
    errors = int(((scores[auto] >= threshold).astype(np.int64) != labels[auto]).sum())
    p = float(binom.cdf(errors, n, alpha)) if n else 1.0
    return BandTest(band=(float(band[0]), float(band[1])), auto_rows=n, errors=errors, p_value=p)


def learn_then_test(scores, labels, *, threshold: float, alpha: float, delta: float,
                    bands: list[tuple[float, float]] | None = None) -> LTTResult:
    """Certify the narrowest band of ``bands`` (default :func:`symmetric_bands`) whose risk is at most ``alpha`` with
    probability at least ``1 - delta`` over the holdout draw (see the module docstring)."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels).astype(np.int64)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores and labels must be 1-d and of one length, got {scores.shape} and {labels.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    if not (0 < alpha < 1 and 0 < delta < 1):
        raise ValueError(f"alpha and delta must be in (0, 1), got alpha={alpha!r}, delta={delta!r}")
    bands = symmetric_bands(threshold) if bands is None else [tuple(map(float, b)) for b in bands]
    check_nested(bands)
    tests, chosen = [], None
    for band in reversed(bands):  # widest first
        test = band_evidence(scores, labels, threshold, band, alpha)
        tests.append(test)
        if test.p_value > delta:
            break
        chosen = test
    return LTTResult(alpha=float(alpha), delta=float(delta), threshold=float(threshold), rows=len(scores),
                     tests=tuple(tests), chosen=chosen)
