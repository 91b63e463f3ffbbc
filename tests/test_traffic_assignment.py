"""mlprod.traffic.assignment: GrowthBook-identical, deterministic, uniform, sticky under ramp-up, independent."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mlprod.errors import ConfigError, DataError
from mlprod.traffic.assignment import (Arm, Experiment, assign, assign_indices, bucket_ranges, choose, hash_ids)

CASES = json.loads((Path(__file__).parent / "fixtures" / "traffic" / "growthbook_cases.json").read_text())
IDS_100K = [f"unit-{i:06d}" for i in range(100_000)]  # the fixed set of ids of the statistical tests
AB = Experiment("checkout-test", (Arm("control", 1), Arm("treatment", 1)))


# -- GrowthBook's published cases -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed,value,version,expected", CASES["hash"])
def test_published_hash_cases(seed, value, version, expected):
    if expected is None:  # an unknown hash version
        with pytest.raises(ConfigError, match="hash version"):
            hash_ids(seed, value, version)
    else:
        assert hash_ids(seed, value, version)[0] == expected


@pytest.mark.parametrize("name,args,expected", CASES["getBucketRange"], ids=[c[0] for c in CASES["getBucketRange"]])
def test_published_bucket_range_cases(name, args, expected):
    count, coverage, weights = args
    got = [bound for r in bucket_ranges(count, coverage, weights) for bound in r]
    assert got == pytest.approx([bound for r in expected for bound in r], abs=1e-9)


@pytest.mark.parametrize("name,n,ranges,expected", CASES["chooseVariation"],
                         ids=[c[0] for c in CASES["chooseVariation"]])
def test_published_choose_variation_cases(name, n, ranges, expected):
    assert choose(np.array([n]), [tuple(r) for r in ranges])[0] == expected


def _run(context: dict, exp: dict):
    """GrowthBook's run() for the subset of fields the copied cases use, built from mlprod's functions."""
    attributes = context.get("attributes", {})
    value = attributes.get(exp.get("hashAttribute", "id"))
    variations = exp["variations"]
    if len(variations) < 2 or value in (None, ""):
        return variations[0], False
    for rule in exp.get("filters", []):
        n = hash_ids(rule.get("seed", ""), str(attributes.get(rule.get("attribute", "id"))), rule.get("hashVersion", 2))
        if choose(n, [tuple(r) for r in rule["ranges"]])[0] < 0:
            return variations[0], False
    n = hash_ids(exp.get("seed") or exp["key"], str(value), exp.get("hashVersion", 1))
    ranges = bucket_ranges(len(variations), exp.get("coverage", 1), exp.get("weights"))
    index = int(choose(n, ranges)[0])
    return (variations[index], True) if index >= 0 else (variations[0], False)


@pytest.mark.parametrize("name,context,exp,value,in_experiment,hash_used", CASES["run"],
                         ids=[c[0] for c in CASES["run"]])
def test_published_run_cases(name, context, exp, value, in_experiment, hash_used):
    assert _run(context, exp) == (value, in_experiment)


# -- equal to the SDK -------------------------------------------------------------------------------------------

EXPERIMENTS = [
    AB,
    Experiment("pricing", (Arm("a", 20), Arm("b", 30), Arm("c", 50)), coverage=0.35, salt="2026-q4"),
    Experiment("canary", (Arm("champion", 0.95), Arm("canary", 0.05)), coverage=0.9, coverage_salt="gate"),
    Experiment("odd-weights", (Arm("x", 0.1), Arm("y", 0.2), Arm("z", 0.7)), hash_attribute="customer"),
]
SDK_IDS = ([f"user-{i}" for i in range(1500)] + [str(i) for i in range(1500)]
           + ["é-ü", "a\u4e2db", "\U0001d11ex", "x" * 70, "0", "-1", " "])


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=[e.key for e in EXPERIMENTS])
def test_equal_to_the_growthbook_sdk(experiment):
    import growthbook  # the test extra (pip install -e .[test]); 4.0+ hashes UTF-16 code units as the JS SDK
    mine = assign(experiment, SDK_IDS + [None, ""])
    sdk_experiment = growthbook.Experiment(**experiment.to_growthbook())
    theirs = []
    for unit in SDK_IDS + [None, ""]:
        result = growthbook.GrowthBook(attributes={experiment.hash_attribute: unit}).run(sdk_experiment)
        theirs.append(result.value if result.inExperiment else None)
    assert list(mine) == theirs
    assert None in theirs and set(theirs) - {None} == set(experiment.names)


def test_hash_equal_to_the_sdk_for_both_versions():
    from growthbook import core
    for version in (1, 2):
        assert list(hash_ids("s33d", SDK_IDS, version)) == [core.gbhash("s33d", v, version) for v in SDK_IDS]


# -- deterministic ----------------------------------------------------------------------------------------------

def test_identical_in_processes_with_different_hash_seeds(tmp_path):
    script = ("import sys, hashlib; from mlprod.traffic.assignment import Arm, Experiment, assign\n"
              "e = Experiment('checkout-test', (Arm('control', 1), Arm('treatment', 1)), coverage=0.5)\n"
              "arms = assign(e, [f'unit-{i:06d}' for i in range(20000)])\n"
              "print(hash(\"unit-000001\") % 100, hashlib.sha256(repr(list(arms)).encode()).hexdigest())\n")
    outputs = []
    for seed in ("0", "1", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.append(done.stdout.split())
    assert len({digest for _, digest in outputs}) == 1  # the same assignments everywhere ...
    assert len({builtin for builtin, _ in outputs}) > 1  # ... although Python's hash() differed between them
    here = assign(Experiment("checkout-test", (Arm("control", 1), Arm("treatment", 1)), coverage=0.5),
                  [f"unit-{i:06d}" for i in range(20000)])
    assert hashlib.sha256(repr(list(here)).encode()).hexdigest() == outputs[0][1]


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=[e.key for e in EXPERIMENTS])
def test_one_id_at_a_time_equals_the_batch(experiment):
    assert [assign(experiment, unit) for unit in SDK_IDS] == list(assign(experiment, SDK_IDS))


def test_one_id_or_a_batch_and_integer_ids_hash_as_their_text():
    assert assign(AB, "unit-000007") == assign(AB, ["unit-000007"])[0]
    assert list(assign(AB, np.arange(50))) == list(assign(AB, [str(i) for i in range(50)]))
    assert assign(AB, 12) == assign(AB, "12") == assign(AB, np.int64(12))
    assert assign(AB, None) is None and assign(AB, "") is None
    assert list(assign_indices(AB, ["", None, "a"]))[:2] == [-1, -1]


@pytest.mark.parametrize("bad", [[1.5, 2.0], [True, "a"], np.array([0.5, 1.5]), 12.0, True])
def test_float_or_boolean_ids_are_refused(bad):
    with pytest.raises(DataError, match="unit ids: expected texts or whole numbers"):
        assign(AB, bad)


# -- uniform, sticky, independent -------------------------------------------------------------------------------

def test_uniform_over_100k_ids():
    experiment = Experiment("uniformity", tuple(Arm(f"arm{i}", 1) for i in range(4)))
    counts = np.bincount(assign_indices(experiment, IDS_100K), minlength=4)
    chi2, p = stats.chisquare(counts)
    print(f"4 equal arms over 100k ids: counts {counts.tolist()}, chi-square {chi2:.2f}, p = {p:.3f}")
    assert p > 0.001
    buckets = hash_ids("uniformity", IDS_100K)
    deciles = np.bincount((buckets * 10).astype(int), minlength=10)
    chi2, p = stats.chisquare(deciles)
    print(f"hash deciles over 100k ids: chi-square {chi2:.2f}, p = {p:.3f}")
    assert p > 0.001


def test_uniform_under_a_coverage_gate_and_uneven_weights():
    experiment = Experiment("uneven", (Arm("a", 0.2), Arm("b", 0.8)), coverage=0.3)
    index = assign_indices(experiment, IDS_100K)
    inside = int((index >= 0).sum())
    assert stats.binomtest(inside, len(IDS_100K), 0.3).pvalue > 0.001
    counts = np.bincount(index[index >= 0], minlength=2)
    chi2, p = stats.chisquare(counts, np.array([0.2, 0.8]) * counts.sum())
    print(f"20/80 at 30% coverage: {counts.tolist()}, chi-square {chi2:.2f}, p = {p:.3f}")
    assert p > 0.001


def test_no_unit_changes_arm_when_coverage_grows_from_10_to_50_percent():
    arms = (Arm("control", 1), Arm("treatment", 1))
    before = assign(Experiment("ramp", arms, coverage=0.1), IDS_100K)
    after = assign(Experiment("ramp", arms, coverage=0.5), IDS_100K)
    was_in = before != None  # noqa: E711 (element-wise on an object array)
    assert 9_000 < was_in.sum() < 11_000 and 49_000 < (after != None).sum() < 51_000  # noqa: E711
    assert (after[was_in] == before[was_in]).all()


def test_a_growing_canary_share_keeps_its_units_and_shrinking_moves_them():
    def canary(share):
        return assign(Experiment("canary-ramp", (Arm("champion", 1 - share), Arm("canary", share))), IDS_100K)
    steps = [canary(share) for share in (0.01, 0.05, 0.25, 1.0)]
    for small, large in zip(steps, steps[1:]):
        assert (large[small == "canary"] == "canary").all()
    shrunk = canary(0.01)
    assert (steps[2][shrunk == "canary"] == "canary").all() and (shrunk[steps[2] == "canary"] == "champion").any()


def test_reweighting_moves_units_as_documented():
    before = assign(Experiment("re", (Arm("a", 0.5), Arm("b", 0.5))), IDS_100K)
    after = assign(Experiment("re", (Arm("a", 0.3), Arm("b", 0.7))), IDS_100K)
    moved = (before != after).mean()
    assert 0.15 < moved < 0.25  # a's range shrinks from [0, .5) to [0, .3): a fifth of all units move to b


def test_experiments_are_independent():
    first = assign_indices(Experiment("exp-one", (Arm("a", 1), Arm("b", 1))), IDS_100K)
    second = assign_indices(Experiment("exp-two", (Arm("x", 1), Arm("y", 1), Arm("z", 1))), IDS_100K)
    table = np.zeros((2, 3), dtype=int)
    np.add.at(table, (first, second), 1)
    chi2, p, _, _ = stats.chi2_contingency(table)
    print(f"two experiments on 100k ids: {table.tolist()}, chi-square {chi2:.2f}, p = {p:.3f}")
    assert p > 0.001


def test_the_coverage_gate_has_its_own_salt():
    gated = Experiment("gate", (Arm("a", 1), Arm("b", 1)), coverage=0.5)
    assert gated.coverage_seed != gated.seed == "gate"
    index = assign_indices(gated, IDS_100K)
    split = assign_indices(Experiment("gate", gated.arms), IDS_100K)
    table = np.array([[((index >= 0) & (split == arm)).sum(), ((index < 0) & (split == arm)).sum()]
                      for arm in (0, 1)])
    assert stats.chi2_contingency(table)[1] > 0.001  # being in the experiment says nothing about the arm
    custom = Experiment("gate", gated.arms, coverage=0.5, coverage_salt="own")
    assert custom.to_growthbook()["filters"][0]["seed"] == "own"


# -- definitions ------------------------------------------------------------------------------------------------

def test_to_growthbook_names_every_field_another_sdk_needs():
    definition = Experiment("pricing", (Arm("a", 20), Arm("b", 80)), coverage=0.25, salt="s").to_growthbook()
    assert definition == {
        "key": "pricing", "variations": ["a", "b"], "weights": [0.2, 0.8], "seed": "s", "hashVersion": 2,
        "hashAttribute": "id",
        "filters": [{"seed": "s:coverage", "ranges": [[0, 0.25]], "hashVersion": 2, "attribute": "id"}]}
    assert "filters" not in AB.to_growthbook()


@pytest.mark.parametrize("kwargs,message", [
    ({"arms": (Arm("a", 1),)}, "at least two"),
    ({"arms": (Arm("a", 1), Arm("a", 1))}, "distinct"),
    ({"arms": (Arm("a", -1), Arm("b", 1))}, "weight must be a number >= 0"),
    ({"arms": (Arm("a", 0), Arm("b", 0))}, "sum to 0"),
    ({"coverage": 1.5}, r"coverage must be a number in \[0, 1\]"),
    ({"salt": 3}, "salt must be a text"),
    ({"key": ""}, "non-empty text key"),
])
def test_invalid_experiments_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Experiment(**{"key": "k", "arms": (Arm("a", 1), Arm("b", 1)), **kwargs})


def test_column_ids_give_a_unit_the_same_arm_however_its_id_column_was_read():
    """serve (JSON request) and score (a Parquet/CSV batch) normalise id columns with one function: an integer
    column, the same ids as floats (a gap made pandas read them as float), as nullable Int64 and as text all
    give the same arms, and missing ids are in no arm."""
    import pandas as pd

    from mlprod.errors import DataError
    from mlprod.traffic.assignment import column_ids

    exp = AB
    ints = pd.Series(range(1000), dtype="int64")
    want = assign(exp, column_ids(ints))
    as_float = pd.Series(list(range(1000)) + [float("nan")], dtype="float64")
    nullable = pd.Series(list(range(1000)) + [None], dtype="Int64")
    texts = pd.Series([str(i) for i in range(1000)] + [None], dtype=object)
    for column in (as_float, nullable, texts):
        got = assign(exp, column_ids(column))
        assert list(got[:1000]) == list(want) and got[1000] is None
    with pytest.raises(DataError, match="whole numbers"):
        assign(exp, column_ids(pd.Series([1.5, 2.0])))
