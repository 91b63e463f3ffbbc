"""Gate arithmetic, gate parsing, the policy, upstream (validation/drift) gates and the decision table.

Pure functions: no MLflow, no models. Expected numbers are worked out by hand in each test.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from mlprod.errors import ConfigError
from mlprod.registry.decision import Decision, metrics_summary, render
from mlprod.registry.gates import (
    GatePolicy,
    MetricGate,
    blocking,
    evaluate_gate,
    improvement,
    parse_gates,
    relative_improvement,
)
from mlprod.registry.settings import parse_settings
from mlprod.registry.upstream import drift_gate, validation_gate

HIGHER = dict(metric="roc_auc", greater_is_better=True)
LOWER = dict(metric="log_loss", greater_is_better=False)


def rule(result, name):
    (found,) = [r for r in result.rules if r.rule == name]
    return found


# -- threshold ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, passed", [(0.71, True), (0.70, True), (0.69, False)])
def test_threshold_when_greater_is_better_requires_at_least_the_threshold(value, passed):
    result = evaluate_gate(MetricGate(**HIGHER, threshold=0.70), value, None)
    assert rule(result, "threshold").passed is passed
    assert result.passed is passed


@pytest.mark.parametrize("value, passed", [(0.39, True), (0.40, True), (0.41, False)])
def test_threshold_when_lower_is_better_requires_at_most_the_threshold(value, passed):
    result = evaluate_gate(MetricGate(**LOWER, threshold=0.40), value, None)
    assert rule(result, "threshold").passed is passed


def test_threshold_tolerates_floating_point_noise_only():
    assert evaluate_gate(MetricGate(**HIGHER, threshold=0.3), 0.1 + 0.2 - 1e-15, None).passed is True
    assert evaluate_gate(MetricGate(**HIGHER, threshold=0.3), 0.3 - 1e-9, None).passed is False


# -- min_change --------------------------------------------------------------------------------------------

def test_improvement_is_signed_by_direction():
    assert improvement(0.80, 0.75, True) == pytest.approx(0.05)
    assert improvement(0.70, 0.75, True) == pytest.approx(-0.05)
    assert improvement(0.30, 0.35, False) == pytest.approx(0.05)  # lower loss is an improvement
    assert improvement(0.40, 0.35, False) == pytest.approx(-0.05)


@pytest.mark.parametrize("challenger, champion, required, passed", [
    (0.80, 0.75, 0.01, True),     # +0.05 >= +0.01
    (0.755, 0.75, 0.01, False),   # +0.005 < +0.01
    (0.748, 0.75, -0.005, True),  # -0.002 >= -0.005: a tolerated loss
    (0.74, 0.75, -0.005, False),  # -0.01 < -0.005
    (0.75, 0.75, 0.0, True),      # no change meets "at least 0"
])
def test_min_change_when_greater_is_better(challenger, champion, required, passed):
    result = evaluate_gate(MetricGate(**HIGHER, min_change=required), challenger, champion)
    found = rule(result, "min_change")
    assert found.passed is passed
    assert found.observed == pytest.approx(challenger - champion)


@pytest.mark.parametrize("challenger, champion, required, passed", [
    (0.30, 0.35, 0.01, True),     # loss fell by 0.05
    (0.345, 0.35, 0.01, False),   # fell by 0.005 only
    (0.36, 0.35, -0.02, True),    # rose by 0.01, tolerated up to 0.02
    (0.40, 0.35, -0.02, False),   # rose by 0.05
])
def test_min_change_when_lower_is_better(challenger, champion, required, passed):
    found = rule(evaluate_gate(MetricGate(**LOWER, min_change=required), challenger, champion), "min_change")
    assert found.passed is passed
    assert found.observed == pytest.approx(champion - challenger)


# -- min_relative_change -----------------------------------------------------------------------------------

@pytest.mark.parametrize("gate, challenger, champion, expected", [
    (HIGHER, 0.88, 0.80, 0.10),     # (0.88 - 0.80) / 0.80
    (HIGHER, 0.72, 0.80, -0.10),
    (LOWER, 0.27, 0.30, 0.10),      # (0.30 - 0.27) / 0.30
    (LOWER, 0.33, 0.30, -0.10),
    (HIGHER, -0.9, -1.0, 0.10),     # negative baseline: divided by |champion|, so improvement stays positive
])
def test_relative_improvement_divides_by_the_champions_magnitude(gate, challenger, champion, expected):
    assert relative_improvement(challenger, champion, gate["greater_is_better"]) == pytest.approx(expected)


@pytest.mark.parametrize("gate, challenger, required, passed", [
    (HIGHER, 0.88, 0.05, True), (HIGHER, 0.82, 0.05, False), (HIGHER, 0.78, -0.05, True), (HIGHER, 0.70, -0.05, False),
    (LOWER, 0.27, 0.05, True), (LOWER, 0.29, 0.05, False), (LOWER, 0.31, -0.05, True), (LOWER, 0.33, -0.05, False),
])
def test_min_relative_change_in_both_directions(gate, challenger, required, passed):
    champion = 0.80 if gate["greater_is_better"] else 0.30
    found = rule(evaluate_gate(MetricGate(**gate, min_relative_change=required), challenger, champion),
                 "min_relative_change")
    assert found.passed is passed


@pytest.mark.parametrize("gate, challenger, required, passed, word", [
    (HIGHER, 0.1, 0.5, True, "+infinite"),    # any gain over 0 is an infinite relative gain
    (HIGHER, -0.1, -0.5, False, "-infinite"),  # any loss is an infinite relative loss
    (LOWER, 0.1, -0.5, False, "-infinite"),    # a loss rising from 0 is worse
    (LOWER, -0.1, 0.5, True, "+infinite"),
])
def test_relative_change_against_a_zero_baseline_is_infinite(gate, challenger, required, passed, word):
    found = rule(evaluate_gate(MetricGate(**gate, min_relative_change=required), challenger, 0.0),
                 "min_relative_change")
    assert found.passed is passed
    assert found.observed is None and word in found.note  # JSON cannot hold infinity: the note says it


def test_no_change_against_a_zero_baseline_is_zero_relative_change():
    assert relative_improvement(0.0, 0.0, True) == 0.0
    result = evaluate_gate(MetricGate(**HIGHER, min_relative_change=0.0), 0.0, 0.0)
    assert rule(result, "min_relative_change").passed is True
    assert rule(result, "min_relative_change").observed == 0.0
    assert evaluate_gate(MetricGate(**HIGHER, min_relative_change=0.01), 0.0, 0.0).passed is False


def test_min_change_against_a_zero_baseline_is_plain_arithmetic():
    assert rule(evaluate_gate(MetricGate(**LOWER, min_change=-0.1), 0.05, 0.0), "min_change").passed is True
    assert rule(evaluate_gate(MetricGate(**LOWER, min_change=-0.1), 0.15, 0.0), "min_change").passed is False


# -- no champion, undefined values, combined verdicts ------------------------------------------------------

def test_rules_against_the_champion_are_not_evaluated_without_one():
    result = evaluate_gate(MetricGate(**HIGHER, min_change=0.0, min_relative_change=0.0), 0.5, None)
    assert result.passed is None
    assert {r.passed for r in result.rules} == {None}
    assert "no champion" in result.message


def test_threshold_still_applies_without_a_champion():
    result = evaluate_gate(MetricGate(**HIGHER, threshold=0.9, min_change=0.0), 0.8, None)
    assert result.passed is False
    assert [r.passed for r in result.rules] == [False, None]


def test_an_undefined_metric_fails_every_rule_it_takes_part_in():
    result = evaluate_gate(MetricGate(**HIGHER, threshold=0.5, min_change=-1.0), math.nan, 0.7)
    assert result.passed is False
    assert all(r.passed is False for r in result.rules)
    assert evaluate_gate(MetricGate(**HIGHER, min_change=-1.0), 0.7, math.nan).passed is False


def test_one_failed_rule_fails_the_gate_and_the_message_names_it():
    result = evaluate_gate(MetricGate(**HIGHER, threshold=0.7, min_change=0.0), 0.75, 0.78)
    assert result.passed is False
    assert "min_change -0.0300 < required 0.0000" in result.message


# -- policy ------------------------------------------------------------------------------------------------

def test_policy_blocks_failures_and_only_required_unevaluated_upstream_gates():
    failed = evaluate_gate(MetricGate(**HIGHER, threshold=0.9), 0.8, None)
    unevaluated_metric = evaluate_gate(MetricGate(**HIGHER, min_change=0.0), 0.8, None)
    no_summary, no_drift = validation_gate(None), drift_gate(None)
    results = [failed, unevaluated_metric, no_summary, no_drift]
    assert [r.name for r in blocking(results, GatePolicy(metrics=()))] == ["roc_auc"]
    strict = GatePolicy(metrics=(), require_validation=True, require_drift_report=True)
    assert [r.kind for r in blocking(results, strict)] == ["metric", "validation", "drift"]


# -- parsing -----------------------------------------------------------------------------------------------

def test_parse_gates_fills_the_direction_from_the_metric():
    gates = parse_gates({"log_loss": {"min_change": -0.01}, "roc_auc": {"threshold": 0.7}})
    assert gates == (MetricGate("log_loss", False, min_change=-0.01), MetricGate("roc_auc", True, threshold=0.7))


@pytest.mark.parametrize("gates, message", [
    ({"roc_aucc": {"threshold": 0.7}}, "no metric named 'roc_aucc'; available: roc_auc,"),
    ({"roc_auc": {"treshold": 0.7}}, "unknown key(s) treshold; allowed: threshold, min_change"),
    ({"roc_auc": {}}, "no rule set"),
    ({"roc_auc": {"threshold": "high"}}, "roc_auc.threshold: expected a number or null, got str 'high'"),
    ({"roc_auc": {"threshold": True}}, "expected a number or null, got bool"),
    ({"log_loss": {"threshold": 0.4, "greater_is_better": True}}, "log_loss is better when lower"),
    ({"roc_auc": 0.7}, "expected a mapping of rules"),
    ([{"roc_auc": {}}], "expected a mapping of metric names"),
])
def test_parse_gates_rejects_mistakes_with_a_message_naming_them(gates, message):
    with pytest.raises(ConfigError) as info:
        parse_gates(gates, where="params.yaml [register] gates")
    assert message in str(info.value)
    assert "params.yaml [register] gates" in str(info.value)


def test_parse_settings_is_strict_about_keys_and_values():
    assert parse_settings({"gates": {"roc_auc": {"threshold": 0.7}}, "block_on_drift": ["performance"]}).policy == \
        GatePolicy(metrics=(MetricGate("roc_auc", True, threshold=0.7),), block_on_drift=("performance",))
    with pytest.raises(ConfigError, match="unknown key.*fail_on_rejected.*Did you mean 'fail_on_reject'"):
        parse_settings({"fail_on_rejected": True})
    with pytest.raises(ConfigError, match="threshold: expected a probability between 0 and 1, got 1.5"):
        parse_settings({"threshold": 1.5})
    with pytest.raises(ConfigError, match="block_on_drift: unknown trigger.*perf; allowed: feature_drift"):
        parse_settings({"block_on_drift": ["perf"]})
    with pytest.raises(ConfigError, match="require_validation: expected true or false"):
        parse_settings({"require_validation": "yes"})


def test_the_register_section_names_the_fallback_model_and_its_decision_file(tmp_path, monkeypatch):
    """The register stage's fallback keys are part of the section, so `mlprod promote` reads the same params.yaml."""
    from mlprod.registry.settings import load_settings

    settings = parse_settings({"fallback_dir": "models/fallback"})
    assert (settings.fallback_dir, settings.fallback_decision_file) == (
        "models/fallback", "reports/register/fallback_decision.json")
    assert parse_settings({}).fallback_dir is None  # a project without the fallback stage
    with pytest.raises(ConfigError, match=r"fallback_dir: expected a file path or null, got \['models'\]"):
        parse_settings({"fallback_dir": ["models"]})
    with pytest.raises(ConfigError, match="fallback_decision_file: expected a non-empty text, got None"):
        parse_settings({"fallback_decision_file": None})
    (tmp_path / "project").mkdir()
    params = tmp_path / "project" / "params.yaml"
    params.write_text("register:\n  fallback_dir: models/fallback\n")
    monkeypatch.chdir(tmp_path)  # paths are relative to the project, not the working directory
    assert load_settings(params).fallback_dir == str(tmp_path / "project" / "models" / "fallback")


def test_promote_reads_the_target_from_the_project_facts_as_the_register_stage_does(tmp_path, monkeypatch):
    from mlprod.registry.settings import load_settings

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("project:\n  target: churned\nregister:\n  threshold: 0.4\n")
    assert (load_settings(params).target, load_settings(params).threshold) == ("churned", 0.4)
    params.write_text("project:\n  target: churned\nregister:\n  target: left\n")  # the section wins
    assert load_settings(params).target == "left"


# -- upstream gates ----------------------------------------------------------------------------------------

def write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("summary, passed", [
    ({"status": "passed", "passed": True, "checks": 10, "failed": 0, "warnings": 0}, True),
    ({"status": "warned", "passed": True}, True),
    ({"status": "failed", "passed": False, "failed": 2}, False),
    ({"status": "failed"}, False),
])
def test_validation_gate_reads_the_summary(tmp_path, summary, passed):
    result = validation_gate(write(tmp_path / "validation.json", summary))
    assert result.passed is passed
    assert result.message.startswith(f"data validation {summary['status']}")


@pytest.mark.parametrize("content, message", [
    ("{not json", "unreadable validation summary"),
    ({"rows": 3}, "expected 'passed': true/false"),
    ([1, 2], "expected a JSON object"),
])
def test_an_unreadable_or_foreign_validation_summary_fails_the_gate(tmp_path, content, message):
    result = validation_gate(write(tmp_path / "validation.json", content))
    assert result.passed is False and message in result.message


def test_a_missing_summary_is_not_evaluated(tmp_path):
    result = validation_gate(tmp_path / "nope.json")
    assert result.passed is None and f"no validation summary found at {tmp_path / 'nope.json'}" in result.message


DRIFT = {"retrain": True, "retrain_decision": {"required": True, "reasons": [
    {"trigger": "feature_drift", "message": "3 of 7 features drifted"},
    {"trigger": "performance", "message": "roc_auc fell by 0.06"}]}}


@pytest.mark.parametrize("report, block_on, passed, text", [
    ({"retrain": False, "retrain_decision": {"required": False, "reasons": []}}, None, True, "no drift"),
    (DRIFT, None, False, "feature_drift: 3 of 7 features drifted; performance: roc_auc fell by 0.06"),
    (DRIFT, ("performance",), False, "performance: roc_auc fell"),
    (DRIFT, ("concept_drift",), True, "drift found (feature_drift, performance) but none of it blocks"),
    (DRIFT, (), True, "block_on_drift: none"),
    ({"retrain": "maybe"}, None, False, "expected 'retrain': true/false"),
])
def test_drift_gate_blocks_on_the_listed_triggers(tmp_path, report, block_on, passed, text):
    result = drift_gate(write(tmp_path / "drift.json", report), block_on)
    assert result.passed is passed
    assert text in result.message
    if block_on == ("performance",):
        assert "feature_drift" not in result.message


# -- the decision table ------------------------------------------------------------------------------------

def decision(**changes):
    gates = (evaluate_gate(MetricGate(**HIGHER, threshold=0.7, min_change=-0.005), 0.75, 0.79),
             evaluate_gate(MetricGate(**LOWER, min_relative_change=-0.05), 0.36, 0.35), validation_gate(None))
    policy = GatePolicy(metrics=())
    base = dict(model="toy", registry="sqlite:///x.db", challenger={"version": "3", "semver": "1.2.0", "run_id": "r3"},
                champion={"version": "2", "semver": "1.1.0", "run_id": "r2"},
                holdout={"path": "holdout.parquet", "rows": 300, "target": "y", "threshold": 0.5},
                metrics={"challenger": {"roc_auc": 0.75, "log_loss": 0.36}, "champion": {"roc_auc": 0.79,
                                                                                        "log_loss": math.nan}},
                gates=gates, policy=policy.to_dict(), blocking=tuple(g.name for g in blocking(gates, policy)))
    return Decision(**{**base, **changes})


def test_the_gate_table_shows_every_rule_with_its_numbers_and_the_verdict():
    text = render(decision(outcome="rejected"))
    assert "toy: challenger version 3 (1.2.0) vs champion version 2 (1.1.0)" in text
    lines = text.splitlines()
    roc = next(line for line in lines if line.lstrip().startswith("roc_auc"))
    assert roc.split()[:8] == ["roc_auc", "(higher", "is", "better)", "0.7500", "0.7900", "threshold", ">="]
    assert any("min_change" in line and "-0.0400" in line and "FAIL" in line for line in lines)
    assert any("min_relative_change" in line and "-0.0286" in line and "pass" in line for line in lines)
    assert "no validation summary configured" in text
    assert lines[-1] == "REJECTED (roc_auc failed): champion stays version 2 (1.1.0)"


def test_the_decision_record_is_versioned_json_without_nan():
    record = decision(outcome="rejected").to_dict()
    assert record["schema_version"] == 1 and record["passed"] is False and record["blocking"] == ["roc_auc"]
    assert record["metrics"]["champion"]["log_loss"] is None  # NaN is not valid JSON
    json.dumps(record, allow_nan=False)
    summary = metrics_summary(decision(outcome="rejected"))
    assert summary["gates_failed"] == 1 and summary["promoted"] is False and summary["champion_version"] == 2


def test_importing_mlprod_and_the_cli_does_not_import_mlflow():
    code = ("import sys, mlprod, mlprod.registry, mlprod.cli; mlprod.cli.build_parser(); "
            "import mlprod.registry.gates, mlprod.registry.decision; print('mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
