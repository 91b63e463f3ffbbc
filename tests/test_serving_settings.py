"""ServingSettings parsed strictly; the input plan's fill values; the project's own serving section."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlprod.errors import ConfigError
from mlprod.profile import build_profile
from mlprod.serving import InputPlan, ServingSettings

REPO = Path(__file__).resolve().parents[1]


class Col:
    def __init__(self, name: str, dtype: str) -> None:
        self.name, self.dtype = name, dtype


def test_defaults():
    s = ServingSettings.from_mapping(None)
    assert (s.time_budget_ms, s.max_workers, s.breaker.failures, s.breaker.reset_seconds) == (200, 4, 5, 30)
    assert s.out_of_range == "clip" and s.rules == () and s.review_band is None and s.default_score == 0.0


@pytest.mark.parametrize("data, message", [
    ({"time_budget": 100}, r"unknown key\(s\) 'time_budget'; allowed: time_budget_ms, max_workers, breaker"),
    ({"breaker": {"failure": 3}}, r"serving\.breaker: unknown key\(s\) 'failure'; allowed: failures, reset_seconds"),
    ({"rules": [{"when": "age > 1", "score": 0.2, "then": 1}]}, r"serving\.rules\[0\]: unknown key"),
    ({"rules": [{"when": "age > 1", "score": 1.5}]}, r"serving\.rules\[0\]\.score: expected a number >= 0 and <= 1"),
    ({"rules": [{"when": "age > 1"}]}, r"serving\.rules\[0\]: score is missing"),
    ({"default_score": 2}, r"serving\.default_score: expected a number >= 0 and <= 1, got 2"),
    ({"default_score": True}, r"serving\.default_score"),
    ({"review_band": [0.7, 0.3]}, r"serving\.review_band: low 0\.7 is above high 0\.3"),
    ({"review_band": 0.5}, r"serving\.review_band: expected \[low, high\]"),
    ({"out_of_range": "drop"}, r"serving\.out_of_range: expected clip or route, got 'drop'"),
    ({"max_workers": 0}, r"serving\.max_workers: expected a whole number >= 1, got 0"),
    ({"time_budget_ms": 0}, r"serving\.time_budget_ms: expected a number > 0"),
    ({"fill": {"income": [1]}}, r"serving\.fill\.income: expected a number or a text"),
])
def test_mistakes_are_config_errors_that_say_what_is_allowed(data, message):
    with pytest.raises(ConfigError, match=message):
        ServingSettings.from_mapping(data)


def test_fill_values_come_from_the_profile_unless_configured():
    import pandas as pd

    frame = pd.DataFrame({"age": [20, 30, 40, 50, 60], "region": ["a", "b", "b", "c", "b"]})
    profile = build_profile(frame)
    plan = InputPlan.from_model([Col("age", "int64"), Col("region", "object")], profile)
    assert plan.features[0].fill == pytest.approx(40, abs=1) and plan.features[1].fill == "b"
    assert (plan.features[0].low, plan.features[0].high) == (20, 60)
    plan = InputPlan.from_model([Col("age", "int64"), Col("region", "object")], profile, fill={"age": 0})
    assert plan.features[0].fill == 0


def test_a_feature_without_a_fill_value_is_named():
    import pandas as pd

    profile = build_profile(pd.DataFrame({"age": [1.0, 2.0]}))
    with pytest.raises(ConfigError, match=r"input 'region' has no fill value.*serving\.fill"):
        InputPlan.from_model([Col("age", "float64"), Col("region", "object")], profile)
    with pytest.raises(ConfigError, match=r"serving\.fill: 'agee' is not an input"):
        InputPlan.from_model([Col("age", "float64")], profile, fill={"agee": 1})
    with pytest.raises(ConfigError, match=r"serving\.fill\.age: age is numeric; expected a number, got 'old'"):
        InputPlan.from_model([Col("age", "float64")], profile, fill={"age": "old"})


def test_the_projects_serving_section_parses_and_its_rules_compile_against_the_demo_features():
    from mlprod.serving.tiers import RuleTier
    from mlprod.stages.params import load_params_file

    for params in (REPO / "params.yaml", REPO / "mlprod" / "project" / "template" / "params.yaml"):
        s = ServingSettings.from_mapping(load_params_file(params)["serving"])
        assert s.rules and s.review_band is not None
        types = {"region": "str", "channel": "str", "age": "float", "income": "float",
                 "days_since_last_activity": "float", "activity_trend": "float", "n_interactions": "float"}
        RuleTier(s.rules, types, default_score=s.default_score)
