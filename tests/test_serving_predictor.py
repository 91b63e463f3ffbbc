"""ResilientPredictor: every tier exercised, per-row fallbacks, and the result's shape."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pandas as pd
import pytest

import mlprod
from mlprod.errors import ConfigError
from mlprod.serving import InputPlan, ResilientPredictor, ServingSettings
from tests.serving_models import FEATURES, Fixed, Hangs, Raises, Returns, train_models

RULES = [{"when": "n_interactions >= 10", "score": 0.4}, {"when": "region == 'north'", "score": 0.3}]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    primary, fallback, train = train_models(tmp_path_factory.mktemp("serving-models"))
    return primary, fallback, train


@pytest.fixture
def rows(models):
    return models[2][FEATURES].head(20).reset_index(drop=True)


def settings(**overrides):
    base = {"rules": RULES, "default_score": 0.05, "time_budget_ms": 300, "breaker": {"failures": 100}}
    base.update(overrides)
    return ServingSettings.from_mapping(base)


def predictor(models, primary=None, fallback=None, **overrides):
    primary_dir, fallback_dir, _ = models
    s = settings(**overrides)
    plan = InputPlan.from_folder(primary_dir, fill=s.fill, out_of_range=s.out_of_range)
    made = ResilientPredictor(primary if primary is not None else mlprod.load_model(primary_dir),
                              fallback=fallback, settings=s, plan=plan, threshold=0.5, model_version="1.2.3")
    return made


@pytest.fixture(params=["blocking", "awaited"])
def score(request):
    """The predictor's two drivers, which must agree: predict (a thread waits) and apredict (an event loop)."""
    if request.param == "blocking":
        return lambda p, frame: p.predict(frame)
    return lambda p, frame: asyncio.run(p.apredict(frame))


def test_all_good_rows_are_served_by_the_primary_with_its_scores(models, rows, score):
    p = ResilientPredictor.from_folders(models[0], models[1], settings=settings())
    out = score(p, rows)
    expected = mlprod.load_model(models[0]).predict_proba(rows)[:, 1]
    assert list(out.columns) == ["score", "decision", "tier", "fallback_reason", "filled_features", "needs_review",
                                 "model_version"]
    np.testing.assert_allclose(out["score"], expected)
    assert (out["tier"] == "primary").all() and out["fallback_reason"].isna().all()
    assert out["decision"].tolist() == (expected >= 0.5).astype(int).tolist()
    assert out["filled_features"].tolist() == [()] * len(rows)
    assert (out["model_version"] == "1.2.3").all()
    assert list(out.index) == list(rows.index)


def test_primary_raises_rows_go_to_the_fallback(models, rows, score):
    fallback = mlprod.load_model(models[1])
    out = score(predictor(models, primary=Raises(KeyError("x")), fallback=fallback), rows)
    assert (out["tier"] == "fallback").all()
    assert (out["fallback_reason"] == "error:KeyError").all()
    np.testing.assert_allclose(out["score"], fallback.predict_proba(rows)[:, 1])


def test_primary_hanging_past_its_budget_goes_to_the_fallback_with_reason_timeout(models, rows, score):
    release = threading.Event()
    p = predictor(models, primary=Hangs(release), fallback=Fixed(0.7), time_budget_ms=100)
    try:
        started = time.monotonic()
        out = score(p, rows)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        p.close()
    assert elapsed < 1.0
    assert (out["tier"] == "fallback").all() and (out["fallback_reason"] == "timeout").all()
    assert np.allclose(out["score"], 0.7)


@pytest.mark.parametrize("change, reason", [
    (lambda p: np.where(np.arange(len(p))[:, None] % 3 == 0, np.nan, p), "nan"),
    (lambda p: np.where(np.arange(len(p))[:, None] % 3 == 0, p + 1.5, p), "out_of_bounds"),
])
def test_bad_scores_send_only_their_rows_down(models, rows, change, reason, score):
    real = mlprod.load_model(models[0])
    out = score(predictor(models, primary=Returns(real, change), fallback=Fixed(0.7)), rows)
    bad = np.arange(len(rows)) % 3 == 0
    assert (out.loc[bad, "tier"] == "fallback").all() and (out.loc[bad, "fallback_reason"] == reason).all()
    assert (out.loc[~bad, "tier"] == "primary").all() and out.loc[~bad, "fallback_reason"].isna().all()
    np.testing.assert_allclose(out.loc[~bad, "score"], real.predict_proba(rows)[~bad, 1])


@pytest.mark.parametrize("change", [lambda p: p[:-1], lambda p: p[:, 1], lambda p: np.array([["a", "b"]] * len(p))])
def test_output_of_the_wrong_shape_sends_the_batch_down(models, rows, change, score):
    real = mlprod.load_model(models[0])
    out = score(predictor(models, primary=Returns(real, change), fallback=Fixed(0.7)), rows)
    assert (out["tier"] == "fallback").all() and (out["fallback_reason"] == "bad_shape").all()


def test_fallback_failing_too_leaves_rows_to_the_rules_then_the_default(models, rows, score):
    out = score(predictor(models, primary=Raises(), fallback=Raises(RuntimeError())), rows)
    many = rows["n_interactions"] >= 10
    north = (rows["region"] == "north") & ~many
    assert (out.loc[many, "tier"] == "rules").all() and np.allclose(out.loc[many, "score"], 0.4)
    assert (out.loc[north, "tier"] == "rules").all() and np.allclose(out.loc[north, "score"], 0.3)
    rest = ~many & ~north
    assert rest.any() and (out.loc[rest, "tier"] == "default").all() and np.allclose(out.loc[rest, "score"], 0.05)
    assert (out["fallback_reason"] == "error:ValueError").all()  # why each row left the primary


def test_every_tier_failing_still_answers_every_row(models, rows, score):
    release = threading.Event()
    p = predictor(models, primary=Hangs(release), fallback=Raises(), time_budget_ms=50, rules=[])
    try:
        out = score(p, rows)
    finally:
        release.set()
        p.close()
    assert len(out) == len(rows) and (out["tier"] == "default").all() and np.allclose(out["score"], 0.05)
    assert (out["fallback_reason"] == "timeout").all()


def test_missing_columns_are_filled_for_every_row_and_named(models, rows):
    p = predictor(models, fill={"income": 12345.0})
    out = p.predict(rows.drop(columns=["income", "channel"]))
    assert (out["tier"] == "primary").all()
    assert out["filled_features"].tolist() == [("channel", "income")] * len(rows)
    assert out.attrs["inputs"]["filled"] == {"channel": len(rows), "income": len(rows)}
    filled = rows.assign(income=12345.0, channel=p.plan.features[1].fill)
    np.testing.assert_allclose(out["score"], mlprod.load_model(models[0]).predict_proba(filled)[:, 1])


def test_null_values_are_filled_in_their_rows_only(models, rows):
    broken = rows.astype({"age": "float64"})
    broken.loc[2, "age"] = np.nan
    broken.loc[[2, 5], "region"] = None
    out = predictor(models).predict(broken)
    assert out.loc[2, "filled_features"] == ("region", "age")
    assert out.loc[5, "filled_features"] == ("region",)
    assert out.loc[0, "filled_features"] == ()
    assert (out["tier"] == "primary").all()


def test_a_wrong_type_rejects_that_row_only(models, rows):
    broken = rows.astype({"age": object, "channel": object})
    broken.loc[3, "age"] = "forty"
    broken.loc[7, "channel"] = 17
    out = predictor(models).predict(broken)
    assert out.loc[3, "tier"] == "rejected" and out.loc[3, "fallback_reason"] == "wrong_type:age"
    assert out.loc[7, "tier"] == "rejected" and out.loc[7, "fallback_reason"] == "wrong_type:channel"
    assert np.isnan(out.loc[3, "score"]) and out["decision"].isna().sum() == 2
    good = ~out.index.isin([3, 7])
    assert (out.loc[good, "tier"] == "primary").all()
    expected = mlprod.load_model(models[0]).predict_proba(rows[good])[:, 1]
    np.testing.assert_allclose(out.loc[good, "score"], expected)


def test_out_of_range_is_clipped_or_routed(models, rows):
    wild = rows.astype({"income": "float64"})
    wild.loc[4, "income"] = 1e12
    clipped = predictor(models, out_of_range="clip").predict(wild)
    assert clipped.loc[4, "tier"] == "primary" and clipped.attrs["inputs"]["out_of_range"] == {"income": 1}
    top = InputPlan.from_folder(models[0]).features[FEATURES.index("income")].high
    expected = mlprod.load_model(models[0]).predict_proba(wild.assign(income=wild["income"].clip(upper=top)))
    assert clipped.loc[4, "score"] == pytest.approx(expected[4, 1])
    routed = predictor(models, out_of_range="route", fallback=Fixed(0.7)).predict(wild)
    assert routed.loc[4, "tier"] == "fallback" and routed.loc[4, "fallback_reason"] == "out_of_range"
    assert (routed.drop(index=4)["tier"] == "primary").all()


def test_unseen_categories_pass_through_and_are_counted(models, rows):
    odd = rows.copy()
    odd.loc[[1, 2], "region"] = "atlantis"
    out = predictor(models).predict(odd)
    assert (out["tier"] == "primary").all()
    assert out.attrs["inputs"]["unseen_categories"] == {"region": 2}


def test_an_empty_frame_gives_an_empty_result_with_the_columns(models, rows):
    out = predictor(models).predict(rows.iloc[:0])
    assert out.empty and list(out.columns) == ["score", "decision", "tier", "fallback_reason", "filled_features",
                                               "needs_review", "model_version"]


def test_review_band_and_threshold(models, rows):
    out = predictor(models, primary=Fixed(0.45), review_band=[0.4, 0.6]).predict(rows)
    assert out["needs_review"].all() and (out["decision"] == 0).all()
    out = predictor(models, primary=Fixed(0.65), review_band=[0.4, 0.6]).predict(rows)
    assert not out["needs_review"].any() and (out["decision"] == 1).all()


def test_from_folders_reads_threshold_and_version_from_the_manifest(models):
    p = ResilientPredictor.from_folders(models[0], settings=settings())
    assert p.threshold == 0.5 and p.model_version == "1.2.3" and p.fallback is None


def test_a_rule_can_never_run_code(models):
    with pytest.raises(ConfigError, match=r"serving\.rules\[1\]"):
        predictor(models, rules=[RULES[0], {"when": "__import__('os').system('true') == 0", "score": 0.1}])
    with pytest.raises(ConfigError, match=r"serving\.rules\[0\]"):
        predictor(models, rules=[{"when": "income.__class__ == 1", "score": 0.1}])
    with pytest.raises(ConfigError, match=r"serving\.rules\[0\]"):
        predictor(models, rules=[{"when": "no_such_column > 1", "score": 0.1}])


def test_a_fallback_needing_inputs_the_primary_lacks_is_refused(models, tmp_path):
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save

    train = models[2]
    data = tmp_path / "train.csv"
    train.to_csv(data, index=False)
    fewer = [c for c in FEATURES if c != "income"]
    fit_and_save(build_pipeline(ModelSettings(max_iter=10), ["region", "channel"],
                                [c for c in fewer if c not in ("region", "channel")]),
                 train, target="converted", features=fewer, model_dir=tmp_path / "narrow", name="narrow",
                 training_data=data, version="1.0.0")
    with pytest.raises(ConfigError, match=r"needs input\(s\) 'income' the primary"):
        ResilientPredictor.from_folders(tmp_path / "narrow", models[1], settings=settings())


def test_a_tampered_model_file_is_never_loaded(models, tmp_path):
    import shutil

    from mlprod.errors import ManifestError

    folder = tmp_path / "tampered"
    shutil.copytree(models[0], folder)
    artifact = next(p for p in folder.iterdir() if p.suffix == ".skops")
    artifact.write_bytes(artifact.read_bytes() + b"x")
    with pytest.raises(ManifestError, match="sha256"):
        ResilientPredictor.from_folders(folder, settings=settings())


def test_a_column_sent_twice_is_a_clear_error(models, rows):
    from mlprod.errors import DataError

    twice = pd.concat([rows, rows[["age"]]], axis=1)
    with pytest.raises(DataError, match=r"column\(s\) 'age' more than once"):
        predictor(models).predict(twice)
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        predictor(models).predict(rows.to_dict("records"))


@pytest.mark.parametrize("parameters, expected", [
    ({"evaluate": {"threshold": 0.3}}, 0.3), ({"evaluate": {"threshold": True}}, 0.5), ({}, 0.5)])
def test_the_threshold_is_the_one_the_evaluate_stage_recorded(parameters, expected):
    from types import SimpleNamespace

    from mlprod.serving.predictor import manifest_threshold

    assert manifest_threshold(SimpleNamespace(parameters=parameters)) == expected


class SlowFirstCalls:
    """A model whose first calls are slow, as a freshly loaded scikit-learn model's are (lazy set-up)."""

    def __init__(self, model, slow_calls=2, seconds=0.4):
        self.model, self.slow_calls, self.seconds, self.calls = model, slow_calls, seconds, 0

    def predict_proba(self, frame):
        self.calls += 1
        if self.calls <= self.slow_calls:
            time.sleep(self.seconds)
        return self.model.predict_proba(frame)


@pytest.mark.parametrize("warm", [True, False])
def test_warming_up_takes_the_first_calls_slowness_before_any_request(models, rows, warm):
    primary = SlowFirstCalls(mlprod.load_model(models[0]))
    p = predictor(models, primary=primary, fallback=Fixed(0.7), time_budget_ms=150, breaker={"failures": 2})
    if warm:
        p.warm_up()
        assert primary.calls == 3 and p.primary.caller.breaker.state == "closed"
    out = p.predict(rows)
    p.close()
    assert (out["tier"] == "primary").all() if warm else (out["fallback_reason"] == "timeout").all()
