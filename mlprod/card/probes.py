"""Failure modes, measured: what the model does with missing values, out-of-range input and large batches.

Each probe takes a sample of evaluation rows, breaks one input the same way in every row, scores
the result and records what happened: ``ok`` (valid probabilities, with how far scores moved),
``invalid`` (the model answered, but not with probabilities in [0, 1]) or ``error`` (it raised; the
exception is recorded). Probes are a registry by name (:data:`PROBES`), each applying to numeric or
categorical inputs. The large-batch test scores ``batch_rows`` rows in one call and records the
throughput (on one thread) and whether every output is a valid probability that matches the
small-batch score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .info import CardSettings

UNSEEN_CATEGORY = "__unseen__"
SCORE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ProbeResult:
    feature: str
    probe: str
    value: str  # what was put in, as text
    status: str  # "ok" | "invalid" | "error"
    mean_abs_change: float | None = None  # mean |score - baseline score| over the sample
    max_abs_change: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class BatchResult:
    rows: int
    seconds: float
    rows_per_second: float
    valid: bool
    max_diff_vs_small_batch: float | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class FailureModes:
    sample_rows: int
    range_source: str  # which data the observed min/max come from
    probes: tuple[ProbeResult, ...]
    batch: BatchResult | None

    @property
    def failing(self) -> list[ProbeResult]:
        return [p for p in self.probes if p.status != "ok"]


@dataclass(frozen=True)
class Probe:
    name: str
    kinds: tuple[str, ...]  # input kinds it applies to
    description: str
    value: Callable[[dict[str, Any], CardSettings], tuple[Any, str]]  # (value to set, text) from the input's range


def _high(r, s):
    v = r["max"] + s.out_of_range_factor * _span(r)
    return v, f"{_num(v)} ({s.out_of_range_factor:g} ranges above the max {_num(r['max'])})"


def _low(r, s):
    v = r["min"] - s.out_of_range_factor * _span(r)
    return v, f"{_num(v)} ({s.out_of_range_factor:g} ranges below the min {_num(r['min'])})"


def _span(r: dict[str, Any]) -> float:
    return (r["max"] - r["min"]) or max(abs(r["max"]), 1.0)


PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe("missing", ("numeric", "categorical"), "the value is missing (NaN / None)",
          lambda r, s: (r["missing"], "missing")),
    Probe("above_range", ("numeric",), "far above the largest value seen", _high),
    Probe("below_range", ("numeric",), "far below the smallest value seen", _low),
    Probe("unseen_category", ("categorical",), "a category never seen in training",
          lambda r, s: (UNSEEN_CATEGORY, repr(UNSEEN_CATEGORY))),
    Probe("wrong_type", ("numeric", "categorical"), "a value of the wrong type (text for a number, a number for text)",
          lambda r, s: ("n/a", "'n/a' (text)") if r["kind"] == "numeric" else (0, "0 (a number)")),
)}


def measure_failure_modes(model: Any, frame: Any, features: Sequence[tuple[str, str]], settings: CardSettings,
                          ranges: dict[str, dict[str, Any]] | None = None, range_source: str = "evaluation data",
                          predict: Callable[[Any, Any], Any] | None = None) -> FailureModes:
    """Run every probe on a sample of ``frame`` (the model's input columns) and the large-batch test."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    predict = predict or positive_scores
    columns = [name for name, _ in features]
    sample = frame[columns].sample(n=min(settings.probe_rows, len(frame)), random_state=settings.seed)
    sample = sample.sort_index().reset_index(drop=True)
    ranges = ranges or observed_ranges(frame, features)
    results: list[ProbeResult] = []
    # One thread: for probe-sized batches threads cost more than they save (10x slower on 2 busy cores), and
    # the large-batch figure is per core, so it does not depend on what else runs on the machine.
    with threadpool_limits(limits=1):
        baseline = np.asarray(predict(model, sample), dtype=float)
        for name, kind in features:
            info = {**ranges.get(name, {}), "kind": kind, "missing": np.nan if kind == "numeric" else None}
            for probe in PROBES.values():
                if kind not in probe.kinds or (probe.value in (_high, _low) and "min" not in info):
                    continue
                value, text = probe.value(info, settings)
                broken = sample.copy()
                broken[name] = value  # the same broken value in every row
                results.append(_run(name, probe.name, text, predict, model, broken, baseline))
        results.append(_run("(all inputs)", "empty_batch", "0 rows", predict, model, sample.iloc[:0], baseline[:0]))
        batch = large_batch(model, sample, baseline, settings.batch_rows, predict)
    return FailureModes(sample_rows=len(sample), range_source=range_source, probes=tuple(results), batch=batch)


def _run(feature: str, probe: str, text: str, predict: Callable[[Any, Any], Any], model: Any, X: Any,
         baseline: Any) -> ProbeResult:
    import numpy as np

    try:
        scores = np.asarray(predict(model, X), dtype=float)
    except Exception as exc:  # noqa: BLE001 - the failure mode being measured
        return ProbeResult(feature, probe, text, "error", error=_short_error(exc))
    problems = validity_problems(scores, len(baseline))
    if problems:
        return ProbeResult(feature, probe, text, "invalid", error="; ".join(problems))
    if len(scores) == 0:
        return ProbeResult(feature, probe, text, "ok", 0.0, 0.0)
    change = np.abs(scores - baseline)
    return ProbeResult(feature, probe, text, "ok", float(change.mean()), float(change.max()))


def large_batch(model: Any, sample: Any, baseline: Any, rows: int,
                predict: Callable[[Any, Any], Any]) -> BatchResult:
    """Score ``rows`` rows (the sample repeated) in one call."""
    import numpy as np

    big = sample.iloc[np.resize(np.arange(len(sample)), rows)].reset_index(drop=True)
    start = time.perf_counter()
    try:
        scores = np.asarray(predict(model, big), dtype=float)
    except Exception as exc:  # noqa: BLE001 - the failure mode being measured
        seconds = time.perf_counter() - start
        return BatchResult(rows, seconds, 0.0, False, None, (f"raised {_short_error(exc)}",))
    seconds = time.perf_counter() - start
    problems = validity_problems(scores, rows)
    diff = None
    if not problems:
        diff = float(np.max(np.abs(scores - np.resize(baseline, rows)))) if rows else 0.0
        if diff > SCORE_TOLERANCE:
            problems.append(f"scores differ from the same rows scored in a small batch by up to {diff:.2g}")
    return BatchResult(rows=rows, seconds=seconds, rows_per_second=rows / seconds if seconds > 0 else float("inf"),
                       valid=not problems, max_diff_vs_small_batch=diff, problems=tuple(problems))


def validity_problems(scores: Any, expected_rows: int) -> list[str]:
    """What is wrong with ``scores`` as one probability per row (empty list: nothing)."""
    import numpy as np

    problems = []
    if scores.shape != (expected_rows,):
        problems.append(f"expected {expected_rows} scores, got shape {scores.shape}")
        return problems
    bad = int(np.sum(~np.isfinite(scores)))
    if bad:
        problems.append(f"{bad} of {expected_rows} scores are NaN or infinite")
    outside = int(np.sum((scores < 0) | (scores > 1)))
    if outside:
        problems.append(f"{outside} of {expected_rows} scores are outside [0, 1]")
    return problems


def positive_scores(model: Any, X: Any) -> Any:
    """The probability of the positive (last) class; checks that class probabilities sum to 1."""
    import numpy as np

    proba = np.asarray(model.predict_proba(X), dtype=float)
    if proba.ndim != 2 or proba.shape[0] != len(X):
        raise ValueError(f"predict_proba returned shape {proba.shape} for {len(X)} rows")
    if len(proba) and not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6, equal_nan=False):
        return np.full(len(X), np.nan)  # reported as invalid
    return proba[:, -1]


def observed_ranges(frame: Any, features: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Min and max of each numeric input in ``frame``."""
    import pandas as pd

    out = {}
    for name, kind in features:
        if kind == "numeric" and name in frame:
            values = pd.to_numeric(frame[name], errors="coerce").dropna()
            if len(values):
                out[name] = {"min": float(values.min()), "max": float(values.max())}
    return out


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _num(value: float) -> str:
    from .slices import format_number

    return format_number(value)
