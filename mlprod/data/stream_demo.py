"""The demo stream: weekly batches of new leads after the demo's data, with a shift and late labels.

The demo dataset (:func:`mlprod.data.make_leads`) ends on 2024-12-31; the stream starts on the Monday
after it, :data:`STREAM_START` (2025-01-06, ISO week ``2025-W02``), one batch per ISO week. Each week is
drawn by the demo's own generator (:func:`mlprod.data.demo.draw_leads`) from its own random generator,
seeded with ``(seed, week number)``: a week does not depend on how long the stream is, so the first 12
weeks of a 52-week stream are the 12-week stream. The demo's logistic intercepts are reused, so
before the shift the leads behave exactly like the training period (same base rate and relations).

From week :data:`SHIFT_WEEK` (week 8, ``2025-W09``, starting 2025-02-24) on, the leads behave like the
demo's July-2024 behaviour shift: more paid search, ~25% higher incomes, less recent activity, and the
effect of ``activity_trend`` flips (concept drift). ``shift_week=None`` gives a stream without a shift.

Labels arrive ``label_delay`` weeks after their batch: at as-of week ``t`` the batches of weeks 1..t
have arrived, and the labels of weeks 1..t-label_delay. :func:`write_stream` writes that state:
``inbox/<week id>.parquet`` (key, date and features, no label) and ``labels/<week id>.parquet`` (key
and label). Lead ids start at :data:`FIRST_ID` so they never collide with the demo's ``1..n_rows``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlprod.errors import ConfigError

from .demo import LEADS_COLUMNS, LEADS_TARGET, _created_at, draw_leads

STREAM_START = "2025-01-06"  # the Monday after the demo data's last day (2024-12-31)
STREAM_SEED = 2025
SHIFT_WEEK = 8  # 1-based: weeks 1..7 behave like training, week 8 on like the demo's July-2024 shift
ROWS_PER_WEEK = 500
LABEL_DELAY = 4  # weeks until a batch's labels arrive
FIRST_ID = 10_000_001
KEY = "lead_id"
INBOX = "inbox"
LABELS = "labels"


@dataclass(frozen=True)
class StreamSpec:
    """What stream to draw; the defaults are the documented demo stream (12 weeks, shift at week 8)."""

    n_weeks: int = 12
    seed: int = STREAM_SEED
    rows_per_week: int = ROWS_PER_WEEK
    shift_week: int | None = SHIFT_WEEK
    label_delay: int = LABEL_DELAY

    def __post_init__(self) -> None:
        for name, low in (("n_weeks", 1), ("rows_per_week", 1), ("label_delay", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"demo stream: {name} must be an integer >= {low}, got {value!r}")
        if self.shift_week is not None and (isinstance(self.shift_week, bool) or not isinstance(
                self.shift_week, (int, np.integer)) or self.shift_week < 1):
            raise ConfigError(f"demo stream: shift_week must be a week number >= 1 or None (no shift), "
                              f"got {self.shift_week!r}")

    def week_id(self, week: int) -> str:
        """The ISO week id (e.g. ``2025-W02``) of the 1-based stream week ``week``; the batch id."""
        return week_start(week).strftime("%G-W%V")

    @property
    def week_ids(self) -> list[str]:
        return [self.week_id(week) for week in range(1, self.n_weeks + 1)]

    @property
    def shift_id(self) -> str | None:
        """The week id the shift starts in (``None``: no shift, or after the stream's end)."""
        if self.shift_week is None or self.shift_week > self.n_weeks:
            return None
        return self.week_id(self.shift_week)


@dataclass(frozen=True)
class StreamFiles:
    """What :func:`write_stream` wrote: the batch files and the label files, by week id."""

    folder: Path
    as_of: int
    inbox: dict[str, Path]
    labels: dict[str, Path]


def week_start(week: int) -> pd.Timestamp:
    return pd.Timestamp(STREAM_START) + pd.Timedelta(weeks=week - 1)


def make_week(spec: StreamSpec, week: int) -> pd.DataFrame:
    """The leads of 1-based stream week ``week`` with their label (the same rows for the same spec)."""
    if not 1 <= week <= spec.n_weeks:
        raise ConfigError(f"demo stream: week must be between 1 and {spec.n_weeks}, got {week!r}")
    rng = np.random.default_rng([spec.seed, week])
    first = week_start(week)
    created_at = _created_at(rng, spec.rows_per_week, first, first + pd.Timedelta(days=6)) \
        if spec.rows_per_week > 1 else np.array([first.to_datetime64()], dtype="datetime64[ns]")
    shifted = spec.shift_week is not None and week >= spec.shift_week
    shift = first if shifted else first + pd.Timedelta(days=7)  # every row after the shift, or none
    frame, _ = draw_leads(rng, created_at, shift, intercepts=_demo_intercepts(),
                          first_id=FIRST_ID + (week - 1) * spec.rows_per_week)
    return frame


def make_stream(spec: StreamSpec = StreamSpec()) -> pd.DataFrame:
    """The whole stream with labels and a ``week`` column (the week id), in time order."""
    frames = [make_week(spec, week).assign(week=spec.week_id(week)) for week in range(1, spec.n_weeks + 1)]
    return pd.concat(frames, ignore_index=True)


def write_stream(folder: str | Path, spec: StreamSpec = StreamSpec(), *, as_of: int | None = None) -> StreamFiles:
    """Write the stream's state at as-of week ``as_of`` (default: its last week) under ``folder``.

    ``inbox/<week id>.parquet`` for weeks 1..as_of and ``labels/<week id>.parquet`` for weeks
    1..as_of-label_delay. Files are written atomically and deterministically; rewriting gives the same bytes.
    """
    from .io import write_table

    as_of = spec.n_weeks if as_of is None else as_of
    if isinstance(as_of, bool) or not isinstance(as_of, (int, np.integer)) or not 0 <= as_of <= spec.n_weeks:
        raise ConfigError(f"demo stream: as_of must be a week between 0 and {spec.n_weeks}, got {as_of!r}")
    folder = Path(folder)
    inbox, labels = {}, {}
    features = [c for c in LEADS_COLUMNS if c != LEADS_TARGET]
    for week in range(1, as_of + 1):
        frame, week_id = make_week(spec, week), spec.week_id(week)
        inbox[week_id] = write_table(frame[features], folder / INBOX / f"{week_id}.parquet")
        if week + spec.label_delay <= as_of:
            labels[week_id] = write_table(frame[[KEY, LEADS_TARGET]], folder / LABELS / f"{week_id}.parquet")
    return StreamFiles(folder=folder, as_of=int(as_of), inbox=inbox, labels=labels)


@functools.lru_cache(maxsize=1)
def _demo_intercepts() -> tuple[float, float]:
    """The logistic intercepts of the default demo dataset, so the stream's base rate matches training."""
    from .demo import _check_dates

    first, last, shift = _check_dates("2023-01-01", "2024-12-31", "2024-07-01")
    rng = np.random.default_rng(42)
    created_at = _created_at(rng, 50_000, first, last)
    _, intercepts = draw_leads(rng, created_at, shift, positive_rate=0.15)
    return intercepts

