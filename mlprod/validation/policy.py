"""The gate policy: what a failed check does (fail, warn or ignore), separate from the checks themselves.

A failed check's action comes from the first pattern under ``policy.checks`` that matches its id (or
``<dataset>/<id>``, written out, or shell-style globs such as ``stats.*`` or ``current/rule:*``; an id written
out matches itself even when the column name holds glob characters, as ``score[0]``), otherwise from its
severity (``error: fail``, ``warning: warn`` by default). Passed checks pass; checks that could not be
evaluated are ``skipped`` (the reason is always another, failed check).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable

from .results import CheckResult, DatasetResult, Outcome, ValidationResult
from .spec import PolicySpec


def decide(result: CheckResult, policy: PolicySpec, dataset: str = "") -> str:
    """``pass``, ``warn``, ``fail``, ``ignore`` or ``skipped`` for one result."""
    if result.passed is True:
        return "pass"
    if result.passed is None:
        return "skipped"
    qualified = f"{dataset}/{result.check}"
    for pattern, action in policy.checks:
        if pattern in (result.check, qualified) or any(fnmatchcase(c, pattern) for c in (result.check, qualified)):
            return action
    return policy.warning if result.severity == "warning" else policy.error


def apply_policy(datasets: Iterable[DatasetResult], policy: PolicySpec) -> ValidationResult:
    datasets = tuple(datasets)
    outcomes = tuple(Outcome(dataset=d.name, result=r, action=decide(r, policy, d.name))
                     for d in datasets for r in d.results)
    return ValidationResult(datasets=datasets, outcomes=outcomes, policy=policy.to_dict())
