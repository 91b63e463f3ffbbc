"""The embedded demo dataset: synthetic, deterministic lead scoring with a weak region and a shift.

Every row is a sales lead; ``converted`` (0/1) is the target. The data is built so that the example
pipeline has something real to find:

- ``region == "central"``: the features carry little signal, so models score clearly worse there;
- from ``shift_date`` on: more leads come from paid search, incomes are ~25% higher, leads are less
  recently active and the effect of ``activity_trend`` on conversion weakens and flips (concept drift);
  ``age`` and ``region`` keep their distributions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlprod.errors import ConfigError

LEADS_TARGET = "converted"
LEADS_DATE = "created_at"
LEADS_COLUMNS = (
    "lead_id",
    "created_at",
    "age",
    "income",
    "region",
    "channel",
    "days_since_last_activity",
    "activity_trend",
    "n_interactions",
    "converted",
)

REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("web", "email", "referral", "event", "paid_search")

_REGION_SHARES = (0.23, 0.22, 0.20, 0.19, 0.16)
_CHANNEL_SHARES_BEFORE = (0.36, 0.24, 0.15, 0.10, 0.15)
_CHANNEL_SHARES_AFTER = (0.27, 0.17, 0.12, 0.08, 0.36)
_CHANNEL_EFFECT = np.array([0.0, -0.3, 1.1, 0.8, -0.4])
_TREND_EFFECT_BEFORE = 1.6
_TREND_EFFECT_AFTER = -0.6
_CENTRAL_SIGNAL = 0.12  # share of the feature signal left in the weak region
_MIN_ROWS = 100


def make_leads(
    n_rows: int = 50_000,
    seed: int = 42,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    shift_date: str = "2024-07-01",
    positive_rate: float = 0.15,
) -> pd.DataFrame:
    """Return ``n_rows`` synthetic leads created between ``start`` and ``end`` (inclusive).

    The same arguments always give the same frame. The logistic intercept is calibrated so that the
    expected share of ``converted == 1`` is ``positive_rate``.
    """
    n_rows = _check_n_rows(n_rows)
    first, last, shift = _check_dates(start, end, shift_date)
    positive_rate = _check_rate(positive_rate)
    rng = np.random.default_rng(seed)
    created_at = _created_at(rng, n_rows, first, last)
    frame, _ = draw_leads(rng, created_at, shift, positive_rate=positive_rate)
    return frame


def draw_leads(
    rng: np.random.Generator,
    created_at: np.ndarray,
    shift: pd.Timestamp,
    *,
    positive_rate: float = 0.15,
    intercepts: tuple[float, float] | None = None,
    first_id: int = 1,
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Leads created at ``created_at`` (rows on or after ``shift`` behave as after the shift).

    Returns the frame and the logistic intercepts used (weak region, other regions): calibrated to
    ``positive_rate`` on these rows unless ``intercepts`` are given (the demo stream reuses the demo's).
    The draws from ``rng`` are in a fixed order, so :func:`make_leads` stays byte-identical.
    """
    n_rows = len(created_at)
    after = created_at >= shift.to_datetime64()
    age = np.clip(np.rint(rng.normal(44.0, 12.0, n_rows)), 18, 80).astype(np.int64)
    region = rng.choice(len(REGIONS), size=n_rows, p=_REGION_SHARES)
    channel = np.where(
        after,
        rng.choice(len(CHANNELS), size=n_rows, p=_CHANNEL_SHARES_AFTER),
        rng.choice(len(CHANNELS), size=n_rows, p=_CHANNEL_SHARES_BEFORE),
    )
    income = np.round(rng.lognormal(np.log(52_000.0), 0.45, n_rows) * np.where(after, 1.25, 1.0), 2)
    income = np.maximum(income, 0.01)
    days = np.floor(rng.exponential(np.where(after, 24.0, 14.0), n_rows)).astype(np.int64)
    trend = np.tanh(rng.normal(0.0, 0.7, n_rows))
    channel_boost = np.isin(channel, [CHANNELS.index("referral"), CHANNELS.index("event")])
    interactions = rng.poisson(np.where(channel_boost, 4.0, 2.5)).astype(np.int64)

    signal = (
        0.45 * (interactions - 3.0)
        - 1.0 * (np.log1p(days) - np.log1p(14.0))
        + np.where(after, _TREND_EFFECT_AFTER, _TREND_EFFECT_BEFORE) * trend
        + _CHANNEL_EFFECT[channel]
        + 0.3 * np.log(income / 52_000.0)
        - 0.01 * (age - 44.0)
    )
    central = region == REGIONS.index("central")
    signal = np.where(central, _CENTRAL_SIGNAL, 1.0) * signal
    # One intercept per signal strength, so the weak region has the same base rate as the others.
    if intercepts is None:
        intercepts = (_calibrate_intercept(signal[central], positive_rate),
                      _calibrate_intercept(signal[~central], positive_rate))
    intercept = np.where(central, intercepts[0], intercepts[1])
    probability = _sigmoid(intercept + signal)
    converted = (rng.random(n_rows) < probability).astype(np.int64)

    frame = pd.DataFrame(
        {
            "lead_id": np.arange(first_id, first_id + n_rows, dtype=np.int64),
            "created_at": created_at,
            "age": age,
            "income": income,
            "region": np.array(REGIONS, dtype=object)[region],
            "channel": np.array(CHANNELS, dtype=object)[channel],
            "days_since_last_activity": days,
            "activity_trend": np.round(trend, 4),
            "n_interactions": interactions,
            "converted": converted,
        },
        columns=list(LEADS_COLUMNS),
    )
    return frame, (float(intercepts[0]), float(intercepts[1]))


def _created_at(rng: np.random.Generator, n_rows: int, first: pd.Timestamp, last: pd.Timestamp):
    """Sorted day-resolution timestamps that start on ``first`` and end on ``last``."""
    n_days = (last - first).days
    offsets = np.sort(rng.integers(0, n_days + 1, n_rows))
    offsets[0], offsets[-1] = 0, n_days
    days = first.to_datetime64().astype("datetime64[D]") + offsets
    return days.astype("datetime64[ns]")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrate_intercept(signal: np.ndarray, positive_rate: float) -> float:
    """Bisection for the intercept whose mean predicted probability is ``positive_rate``."""
    if signal.size == 0:
        return 0.0
    low, high = -30.0, 30.0
    for _ in range(60):
        middle = (low + high) / 2.0
        if _sigmoid(middle + signal).mean() < positive_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def _check_n_rows(n_rows: int) -> int:
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < _MIN_ROWS:
        raise ConfigError(
            f"make_leads: n_rows must be an integer >= {_MIN_ROWS}, got {n_rows!r}. "
            f"Pass a larger n_rows (the default is 50000)."
        )
    return int(n_rows)


def _check_rate(positive_rate: float) -> float:
    try:
        rate = float(positive_rate)
    except (TypeError, ValueError):
        rate = float("nan")
    if not 0.0 < rate < 1.0:
        raise ConfigError(
            f"make_leads: positive_rate must be a number strictly between 0 and 1, "
            f"got {positive_rate!r}. Pass e.g. positive_rate=0.15."
        )
    return rate


def _parse_day(name: str, value: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"make_leads: {name}={value!r} is not a date. Use the ISO form YYYY-MM-DD, e.g. '2024-07-01'."
        ) from exc
    if pd.isna(stamp):
        raise ConfigError(f"make_leads: {name} must be a date like '2024-07-01', got {value!r}.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def _check_dates(start: str, end: str, shift_date: str) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    first = _parse_day("start", start)
    last = _parse_day("end", end)
    shift = _parse_day("shift_date", shift_date)
    if not first < last:
        raise ConfigError(
            f"make_leads: start ({first.date()}) must be before end ({last.date()}). Swap them or widen the range."
        )
    if not first <= shift <= last:
        raise ConfigError(
            f"make_leads: shift_date ({shift.date()}) must lie between start ({first.date()}) and "
            f"end ({last.date()}). Move shift_date into that range."
        )
    return first, last, shift
