"""The policy deciding warn/fail, the failure message, the JSON summary/details and the HTML report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlprod.errors import DataValidationError
from mlprod.validation import (
    CheckResult, PolicySpec, apply_policy, build_details, parse_schema, render_html, validate, write_details,
    write_report, write_summary,
)
from mlprod.validation.policy import decide
from mlprod.validation.results import DatasetResult

SCHEMA = {"schema_version": 1,
          "columns": {"id": {"type": "int", "unique": True}, "region": {"type": "str", "categories": ["north"]},
                      "income": {"type": "float"}},
          "rules": [{"name": "income_positive", "expr": "income > 0"},
                    {"name": "income_small", "expr": "income < 100", "severity": "warning"}]}


def check(check_id: str, passed: bool | None = False, severity: str = "error") -> CheckResult:
    return CheckResult(check=check_id, layer="rule", kind="rule", passed=passed, message="m", severity=severity)


@pytest.mark.parametrize("result, policy, dataset, action", [
    (check("rule:a", passed=True), PolicySpec(), "d", "pass"),
    (check("rule:a", passed=None), PolicySpec(), "d", "skipped"),
    (check("rule:a"), PolicySpec(), "d", "fail"),
    (check("rule:a", severity="warning"), PolicySpec(), "d", "warn"),
    (check("rule:a", severity="warning"), PolicySpec(warning="fail"), "d", "fail"),
    (check("rule:a"), PolicySpec(error="warn"), "d", "warn"),
    (check("stats.mean_shift:x"), PolicySpec(checks=(("stats.*", "ignore"),)), "d", "ignore"),
    (check("rule:a"), PolicySpec(checks=(("current/rule:*", "warn"),)), "current", "warn"),
    (check("rule:a"), PolicySpec(checks=(("current/rule:*", "warn"),)), "holdout", "fail"),
    (check("rule:a"), PolicySpec(checks=(("rule:a", "warn"), ("rule:*", "ignore"))), "d", "warn"),  # first match
])
def test_the_policy_decides_per_check_then_per_severity(result, policy, dataset, action):
    assert decide(result, policy, dataset) == action


def test_status_and_failure_message_list_each_failing_check_with_count_and_examples():
    frame = pd.DataFrame({"id": [1, 2, 2], "region": ["north", "Mars", "north"], "income": [5.0, -1.0, 500.0]})
    result = validate({"current": frame}, parse_schema(SCHEMA))
    assert result.status == "failed" and not result.passed
    assert [o.result.check for o in result.failures] == ["schema.unique:id", "schema.categories:region",
                                                         "rule:income_positive"]
    assert [o.result.check for o in result.warnings] == ["rule:income_small"]
    message = result.failure_message()
    assert message.splitlines()[0] == "data validation failed: 3 check(s) failed (current):"
    assert ("  - current: rule:income_positive - 1 of 3 rows (33.3%) break the rule income > 0; e.g. row 1 "
            "(income=-1.0)") in message.splitlines()
    one_line = result.failure_message(one_line=True, max_lines=2, report="out/report.html")
    assert one_line == ("3 check(s) failed in current: schema.unique:id 2 rows (row 1: id=2; row 2: id=2); "
                        "schema.categories:region 1 row (row 1: region='Mars'); and 1 more failing check(s); "
                        "see out/report.html")
    with pytest.raises(DataValidationError) as info:
        result.raise_for_status()
    assert info.value.exit_code == 1 and info.value.result is result


def test_warnings_do_not_fail_the_gate():
    frame = pd.DataFrame({"id": [1], "region": ["north"], "income": [500.0]})
    result = validate(frame, parse_schema(SCHEMA))
    assert result.status == "warned" and result.passed
    result.raise_for_status()  # no exception


def test_summary_is_deterministic_versioned_and_sorted(tmp_path):
    frame = pd.DataFrame({"id": [1, 2], "region": ["north", "Mars"], "income": [5.0, 500.0]})
    result = validate({"train": frame, "current": frame.iloc[:1]}, parse_schema(SCHEMA))
    first = write_summary(result, tmp_path / "a" / "summary.json").read_bytes()
    again = write_summary(validate({"train": frame, "current": frame.iloc[:1]}, parse_schema(SCHEMA)),
                          tmp_path / "b.json").read_bytes()
    assert first == again
    data = json.loads(first)
    assert list(data) == sorted(data) and data["schema_version"] == 1
    assert data["status"] == "failed" and data["passed"] is False
    assert data["datasets"]["train"] == {"rows": 2, "status": "failed", "checks": 16, "failed": 1, "warnings": 1,
                                         "skipped": 0, "layers": {"schema": {"failed": 1, "warnings": 0},
                                                                  "rule": {"failed": 0, "warnings": 1}}}
    assert data["datasets"]["current"]["status"] == "passed"
    details = json.loads(write_details(result, tmp_path / "details.json", schema_source="schema.yaml").read_text())
    assert details["schema"] == "schema.yaml" and details["policy"] == {"error": "fail", "warning": "warn",
                                                                         "checks": {}}
    region = next(c for c in details["datasets"][0]["checks"] if c["check"] == "schema.categories:region")
    assert region["action"] == "fail" and region["examples"] == [{"row": 1, "region": "Mars"}]


def test_odd_values_are_written_as_json():
    result = apply_policy([DatasetResult("d", 1, 1, (CheckResult(
        check="schema.finite:x", layer="schema", kind="finite", passed=False, message="m",
        examples=({"row": 0, "x": float("inf")}, {"row": 1, "x": pd.Timestamp("2024-01-01")},
                  {"row": 2, "x": float("nan")}, {"row": 3, "x": pd.NaT})),))], PolicySpec())
    examples = build_details(result)["datasets"][0]["checks"][0]["examples"]
    assert examples == [{"row": 0, "x": "inf"}, {"row": 1, "x": "2024-01-01T00:00:00"}, {"row": 2, "x": "nan"},
                        {"row": 3, "x": None}]


def test_the_html_report_is_self_contained_and_escapes_user_text(tmp_path):
    evil = "<script>alert('x')</script>"
    frame = pd.DataFrame({"id": [1, 2], "region": ["north", evil], "income": [5.0, -1.0]})
    result = validate({"current<b>": frame}, parse_schema(SCHEMA))
    page = write_report(result, tmp_path / "report.html", schema="sche<ma>.yaml").read_text()
    assert page.lower().startswith("<!doctype html>")
    assert evil not in page and "&lt;script&gt;" in page
    assert "current<b>" not in page and "current&lt;b&gt;" in page and "sche&lt;ma&gt;.yaml" in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert "Failed: 2 failed" in page and "rule:<wbr>income_positive" in page
    fragment = render_html(result, standalone=False)
    assert fragment.lstrip().startswith('<div class="mv-report">') and "<html" not in fragment
    assert len(page) < 40_000
