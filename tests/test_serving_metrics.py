from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlprod.errors import ConfigError
from mlprod.serving.metrics import ServingMetrics, render_metrics

import predlog_workers

OUTPUTS = [
    {"tier": "primary", "fallback_reason": None, "needs_review": False, "filled_features": []},
    {"tier": "fallback", "fallback_reason": "timeout", "needs_review": True, "filled_features": ["income", "age"]},
    {"tier": "fallback", "fallback_reason": "timeout", "needs_review": False, "filled_features": ["income"]},
    {"tier": "made-up-tier", "fallback_reason": "req-12345", "needs_review": True,
     "filled_features": ["a_feature_not_in_the_manifest"]},
]


def samples(text: str) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value, parsed back with prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_single_process_exposition_parses_back_with_bounded_labels(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = ServingMetrics(features=["age", "income"])
    metrics.observe_request(200, 0.003)
    metrics.observe_request(400, 0.001)
    metrics.observe_rows(OUTPUTS)
    metrics.count_out_of_range({"age": 2, "income": 0})
    metrics.count_error("malformed_request")
    metrics.count_error("something new")
    metrics.model_loaded("lead-scoring", "1.2.0", "ab" * 32)
    found = samples(render_metrics(metrics))
    assert found[("mlprod_serving_requests_total", (("status", "200"),))] == 1
    assert found[("mlprod_serving_requests_total", (("status", "400"),))] == 1
    assert found[("mlprod_serving_request_latency_seconds_count", ())] == 2
    assert found[("mlprod_serving_request_latency_seconds_bucket", (("le", "0.001"),))] == 1
    assert found[("mlprod_serving_rows_total", (("fallback_reason", "none"), ("tier", "primary")))] == 1
    assert found[("mlprod_serving_rows_total", (("fallback_reason", "timeout"), ("tier", "fallback")))] == 2
    assert found[("mlprod_serving_rows_total", (("fallback_reason", "other"), ("tier", "other")))] == 1
    assert found[("mlprod_serving_review_rows_total", ())] == 2
    assert found[("mlprod_serving_filled_inputs_total", (("feature", "income"),))] == 2
    assert found[("mlprod_serving_filled_inputs_total", (("feature", "age"),))] == 1
    assert found[("mlprod_serving_filled_inputs_total", (("feature", "other"),))] == 1
    assert found[("mlprod_serving_out_of_range_inputs_total", (("feature", "age"),))] == 2
    assert found[("mlprod_serving_errors_total", (("kind", "malformed_request"),))] == 1
    assert found[("mlprod_serving_errors_total", (("kind", "other"),))] == 1
    assert found[("mlprod_serving_model_info", (("name", "lead-scoring"), ("sha256", "ab" * 32),
                                                ("version", "1.2.0")))] == 1
    assert not any("req-12345" in str(key) or "made-up-tier" in str(key) for key in found)


def test_reload_moves_the_version_gauge_single_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = ServingMetrics()
    metrics.model_loaded("m", "1.0.0", "aa" * 32)
    metrics.model_loaded("m", "1.1.0", "bb" * 32, reload=True, features=["age"])
    metrics.reload_failed()
    found = samples(render_metrics(metrics))
    info = {dict(k[1])["version"]: v for k, v in found.items() if k[0] == "mlprod_serving_model_info"}
    assert info == {"1.1.0": 1}  # the old version's series is gone
    assert found[("mlprod_serving_model_reloads_total", (("result", "success"),))] == 1
    assert found[("mlprod_serving_model_reloads_total", (("result", "failure"),))] == 1


def _run_children(tmp_path: Path, monkeypatch, target, argsets) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=target, args=args) for args in argsets]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0


def test_two_processes_rows_are_summed(tmp_path, monkeypatch):
    (tmp_path / "prom").mkdir()
    _run_children(tmp_path, monkeypatch, predlog_workers.count_rows,
                  [(str(tmp_path / "prom"), "primary", 3, str(tmp_path / "a")),
                   (str(tmp_path / "prom"), "primary", 4, str(tmp_path / "b"))])
    found = samples(render_metrics())
    assert found[("mlprod_serving_rows_total", (("fallback_reason", "none"), ("tier", "primary")))] == 7
    assert found[("mlprod_serving_requests_total", (("status", "200"),))] == 2
    assert found[("mlprod_serving_request_latency_seconds_count", ())] == 2
    info = {k: v for k, v in found.items() if k[0] == "mlprod_serving_model_info"}
    assert list(info.values()) == [1] and all(("version", "1.0.0") in k[1] for k in info)  # livemax: no pid label


def test_multiprocess_reload_sets_old_version_to_zero(tmp_path, monkeypatch):
    (tmp_path / "prom").mkdir()
    _run_children(tmp_path, monkeypatch, predlog_workers.reload_model, [(str(tmp_path / "prom"), str(tmp_path / "a"))])
    found = samples(render_metrics())
    info = {dict(k[1])["version"]: v for k, v in found.items() if k[0] == "mlprod_serving_model_info"}
    assert info == {"1.0.0": 0, "1.1.0": 1}
    assert found[("mlprod_serving_model_reloads_total", (("result", "success"),))] == 1
    assert found[("mlprod_serving_model_reloads_total", (("result", "failure"),))] == 1


def test_multiprocess_folder_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="is not a folder; create it"):
        render_metrics()


def test_variable_set_after_import_is_refused(tmp_path, monkeypatch):
    import prometheus_client.values as values

    if values.ValueClass is not values.MutexValue:
        pytest.skip("this test process runs prometheus_client in multiprocess mode")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="set after prometheus_client was imported"):
        ServingMetrics()
