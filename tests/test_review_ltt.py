"""Learn-then-Test for the review band: the guarantee on synthetic scores with a known error structure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from mlprod.serving.review.ltt import learn_then_test, symmetric_bands


def draw(rng, n):
    """Calibrated scores: label ~ Bernoulli(score). At threshold 0.5 a row's error chance is min(s, 1 - s), so the
    risk of band [0.5 - w, 0.5 + w] is (0.5 - w) / 2 (uniform scores)."""
    scores = rng.uniform(0, 1, n)
    return scores, (rng.uniform(0, 1, n) < scores).astype(int)


def true_risk(band):
    """The exact error among auto-decided rows of ``draw``'s distribution for a band [a, b] around 0.5:
    (a^2 + (1 - b)^2) / (2 (a + 1 - b)). Used instead of a fresh sample, whose own noise would blur bands whose risk
    is within 0.001 of alpha."""
    a, b = band
    return (a * a + (1 - b) ** 2) / (2 * (a + 1 - b))


def test_certified_band_keeps_fresh_error_below_alpha_in_most_repetitions():
    rng = np.random.default_rng(7)
    alpha, delta, runs = 0.1, 0.1, 200
    ok, widths = 0, []
    for _ in range(runs):
        scores, labels = draw(rng, 2_000)
        result = learn_then_test(scores, labels, threshold=0.5, alpha=alpha, delta=delta)
        if not result.certified:  # nothing certified: no row is decided automatically, the guarantee holds
            ok += 1
            continue
        ok += true_risk(result.band) <= alpha
        widths.append(result.band[1] - result.band[0])
    assert ok >= (1 - delta) * runs
    assert len(widths) >= 0.8 * runs  # and it is not vacuous: most runs certify a band
    # the oracle band is [0.3, 0.7] (risk exactly 0.1); with 2,000 rows LTT certifies about [0.16, 0.84]
    assert 0.4 <= np.median(widths) <= 0.75


def test_tighter_alpha_gives_a_wider_band():
    scores, labels = draw(np.random.default_rng(1), 5_000)
    loose = learn_then_test(scores, labels, threshold=0.5, alpha=0.15, delta=0.1)
    tight = learn_then_test(scores, labels, threshold=0.5, alpha=0.08, delta=0.1)
    assert tight.band[0] < loose.band[0] and tight.band[1] > loose.band[1]


def test_no_certifiable_band_is_a_clear_result():
    rng = np.random.default_rng(2)
    scores = rng.uniform(0, 1, 500)
    labels = rng.integers(0, 2, 500)  # coin flips: every auto-decided row is wrong half the time
    result = learn_then_test(scores, labels, threshold=0.5, alpha=0.05, delta=0.1)
    assert not result.certified and result.band is None
    assert len(result.tests) == 1 and result.tests[0].p_value > 0.1  # stopped at the widest band


def test_p_value_is_the_binomial_tail_and_fixed_sequence_stops_at_the_first_non_rejection():
    scores = np.array([0.05] * 10 + [0.95] * 10 + [0.45, 0.55] * 5)
    labels = np.array([0] * 10 + [1] * 10 + [1, 0] * 5)  # the rows near the threshold are all wrong
    result = learn_then_test(scores, labels, threshold=0.5, alpha=0.2, delta=0.1,
                             bands=[(0.5, 0.5), (0.4, 0.6), (0.1, 0.9)])
    assert [t.band for t in result.tests] == [(0.1, 0.9), (0.4, 0.6), (0.5, 0.5)]
    widest, middle, narrow = result.tests
    assert widest.auto_rows == 20 and widest.errors == 0 and widest.p_value == pytest.approx(binom.cdf(0, 20, 0.2))
    assert middle.errors == 0 and narrow.errors == 10 and narrow.p_value == pytest.approx(binom.cdf(10, 30, 0.2))
    assert result.band == (0.4, 0.6)


def test_bands_must_be_nested_from_narrow_to_wide():
    with pytest.raises(ValueError, match="does not contain band 0"):
        learn_then_test([0.1, 0.9], [0, 1], threshold=0.5, alpha=0.1, delta=0.1, bands=[(0.3, 0.7), (0.4, 0.6)])


def test_symmetric_bands_grow_and_never_cover_everything():
    bands = symmetric_bands(0.3, step=0.1, max_width=1.0)
    assert bands[0] == (0.2, 0.4) and bands[-1] == (0.0, 0.9) and (0.0, 1.0) not in bands
    assert symmetric_bands(0.5)[-1] == (0.1, 0.9) and len(symmetric_bands(0.5)) == 40
