"""The time budget, the bounded pool and the circuit breaker: hung models cost bounded threads and time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from mlprod.serving import BoundedCaller, Breaker, InputPlan, ResilientPredictor, ServingSettings
from mlprod.serving.budget import CLOSED, HALF_OPEN, OPEN
from tests.serving_models import Fixed, Hangs, Raises


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()  # lets every hung predict return, so the pool's threads end


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_n_failures_skips_then_half_opens_for_one_trial():
    clock = Clock()
    breaker = Breaker(failures=3, reset_seconds=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == CLOSED
    breaker.success()  # consecutive failures only
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial call at a time
    breaker.failure()  # the trial failed: open again for reset_seconds
    assert breaker.state == OPEN and not breaker.allow()
    clock.now = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


def test_the_predictor_skips_an_open_primary_and_tries_it_again_after_reset():
    plan = InputPlan.from_model([type("C", (), {"name": "x", "dtype": "float64"})()], None, fill={"x": 0.0})
    settings = ServingSettings.from_mapping({"breaker": {"failures": 2, "reset_seconds": 0.3}, "default_score": 0.1})
    primary = Raises()
    predictor = ResilientPredictor(primary, fallback=Fixed(0.6), settings=settings, plan=plan)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    reasons = [predictor.predict(frame)["fallback_reason"].iloc[0] for _ in range(4)]
    assert reasons == ["error:ValueError", "error:ValueError", "circuit_open", "circuit_open"]
    assert primary.calls == 2  # skipped while open
    time.sleep(0.35)
    assert predictor.predict(frame)["fallback_reason"].iloc[0] == "error:ValueError"  # the half-open trial
    assert primary.calls == 3
    assert predictor.predict(frame)["fallback_reason"].iloc[0] == "circuit_open"
    predictor.primary.model = Fixed(0.9)  # the model recovers
    time.sleep(0.35)
    out = predictor.predict(frame)
    assert (out["tier"] == "primary").all() and np.allclose(out["score"], 0.9)
    predictor.close()


def test_a_hundred_hung_calls_add_at_most_max_workers_threads_and_each_returns_within_the_budget(release):
    caller = BoundedCaller(max_workers=3, budget_seconds=0.3, breaker=Breaker(failures=10**6), name="hung")
    model = Hangs(release)

    def pool_threads() -> int:  # this caller's threads only: other tests' threads may end meanwhile
        return sum(1 for t in threading.enumerate() if t.name.startswith("mlprod-hung"))

    assert pool_threads() == 0
    durations, reasons = [], []
    for _ in range(100):
        started = time.monotonic()
        _, reason = caller.call(model.predict_proba, pd.DataFrame({"x": [1.0]}))
        durations.append(time.monotonic() - started)
        reasons.append(reason)
        assert pool_threads() <= 3
    assert pool_threads() == 3
    assert model.calls == 3  # the other 97 never reached a thread
    assert set(reasons) == {"timeout"} and max(durations) < 0.3 + 0.5  # nobody waits much past the budget
    assert sorted(durations)[50] < 0.15  # a full pool fails at once, without waiting for the budget
    assert caller.busy() == 3
    release.set()
    deadline = time.monotonic() + 5
    while caller.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert caller.busy() == 0  # the released calls gave their slots back
    _, reason = caller.call(Fixed(0.5).predict_proba, pd.DataFrame({"x": [1.0]}))
    assert reason is None
    caller.close()


def test_hung_calls_through_the_predictor_with_the_breaker_default(release):
    plan = InputPlan.from_model([type("C", (), {"name": "x", "dtype": "float64"})()], None, fill={"x": 0.0})
    settings = ServingSettings.from_mapping({"time_budget_ms": 30, "max_workers": 2, "default_score": 0.2})
    predictor = ResilientPredictor(Hangs(release), settings=settings, plan=plan)
    frame = pd.DataFrame({"x": [1.0]})
    outs = [predictor.predict(frame) for _ in range(100)]
    reasons = [o["fallback_reason"].iloc[0] for o in outs]
    assert reasons.count("circuit_open") >= 90  # the breaker opened: most calls never waited for the budget
    assert sum(1 for t in threading.enumerate() if t.name.startswith("mlprod-primary")) <= 2
    assert set(reasons) == {"timeout", "circuit_open"}
    assert all(o["tier"].iloc[0] == "default" for o in outs)
    predictor.close()
