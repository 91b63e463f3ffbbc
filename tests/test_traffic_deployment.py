"""mlprod.traffic.deployment: the strict ``deployment:`` parser and the Experiment each mode implies."""

from __future__ import annotations

import pytest
import yaml

from mlprod.errors import ConfigError
from mlprod.traffic.assignment import Arm, Experiment, assign
from mlprod.traffic.deployment import CanarySettings, DeploymentSettings, Guardrails, ModelRef

AB_YAML = """
mode: ab
experiment: checkout-2026-11
salt: s1
unit_id: customer_id
strata: [segment, region]
ab:
  coverage: 40
  arms:
    - {name: champion, model: lead-scoring@champion, share: 50}
    - {name: challenger, model: models/challenger, share: 50}
"""


def parse(text: str, **kwargs) -> DeploymentSettings:
    return DeploymentSettings.from_mapping(yaml.safe_load(text), **kwargs)


def test_absent_section_is_mode_none_without_an_experiment():
    settings = DeploymentSettings.from_mapping(None)
    assert settings.mode == "none" and settings.to_experiment() is None


def test_ab_settings_and_the_experiment_they_imply():
    settings = parse(AB_YAML)
    assert settings.strata == ("segment", "region") and settings.unit_id == "customer_id"
    assert settings.ab.arms[0].model == ModelRef("lead-scoring@champion", name="lead-scoring", alias="champion")
    assert settings.ab.arms[1].model.folder == "models/challenger"
    experiment = settings.to_experiment()
    assert experiment == Experiment("checkout-2026-11", (Arm("champion", 50.0), Arm("challenger", 50.0)),
                                    coverage=0.4, salt="s1", hash_attribute="customer_id")
    assert experiment.to_growthbook()["filters"][0]["seed"] == "s1:coverage"


def test_canary_defaults_and_ramp_steps_keep_the_canary_units():
    settings = parse("{mode: canary, experiment: lead-canary, unit_id: lead_id}", model_name="lead-scoring")
    assert settings.canary == CanarySettings(model="lead-scoring")
    assert settings.canary.ramp == (1.0, 5.0, 25.0, 100.0) and settings.canary.guardrails == Guardrails()
    assert settings.canary.challenger.text == "lead-scoring@canary"
    ids = [str(i) for i in range(20_000)]
    steps = [assign(settings.to_experiment(step), ids) for step in range(4)]
    shares = [(s == "canary").mean() for s in steps]
    assert shares[0] < 0.02 and 0.04 < shares[1] < 0.06 and 0.23 < shares[2] < 0.27 and shares[3] == 1
    for small, large in zip(steps, steps[1:]):
        assert (large[small == "canary"] == "canary").all()
    with pytest.raises(ConfigError, match=r"canary step: expected 0 to 3"):
        settings.to_experiment(4)


def test_canary_section_written_out():
    settings = parse("""
    mode: canary
    experiment: c1
    unit_id: lead_id
    canary:
      model: lead-scoring@canary
      ramp: [10, 50, 100]
      step_hours: 6
      guardrails: {max_error_rate: 0.02, max_latency_p99_ms: 300}
    """)
    assert settings.canary.model == "lead-scoring" and settings.canary.ramp == (10.0, 50.0, 100.0)
    assert settings.canary.step_hours == 6.0
    assert settings.canary.guardrails.max_error_rate == 0.02
    assert settings.canary.guardrails.max_fallback_rate == Guardrails().max_fallback_rate


def test_shadow_and_blue_green_have_no_assignment():
    shadow = parse("{mode: shadow, shadow: {model: lead-scoring@challenger, queue_size: 50}}")
    assert shadow.shadow.queue_size == 50 and shadow.shadow.model.alias == "challenger"
    assert shadow.to_experiment() is None
    blue_green = parse("{mode: blue_green, blue_green: {alias: live}}")
    assert blue_green.blue_green.alias == "live" and blue_green.to_experiment() is None
    assert parse("{mode: blue_green}").blue_green.alias == "champion"


def test_sections_of_other_modes_may_stay_and_are_checked_too():
    settings = parse(AB_YAML.replace("mode: ab", "mode: none"))
    assert settings.mode == "none" and settings.ab is not None and settings.to_experiment() is None
    with pytest.raises(ConfigError, match=r"deployment.shadow: unknown key\(s\) 'queue'"):
        parse("{mode: none, shadow: {model: m@a, queue: 3}}")


@pytest.mark.parametrize("text,message", [
    ("{mode: canry}",
     r"params.yaml deployment.mode: expected one of none, ab, canary, shadow, blue_green, got 'canry'"),
    ("{mode: ab, experimnet: x}", r"params.yaml deployment: unknown key\(s\) 'experimnet'; allowed: mode, experiment"),
    ("[1, 2]", r"params.yaml deployment: expected a mapping"),
    ("{salt: 2026}", r"deployment.salt: expected a non-empty text, got 2026; quote it: '2026'"),
    ("{strata: segment}", r"deployment.strata: expected a list of column names"),
    ("{strata: [a, a]}", r"deployment.strata: column names repeat"),
    (AB_YAML.replace("experiment: checkout-2026-11", ""), r"deployment.experiment: mode ab needs it"),
    (AB_YAML.replace("unit_id: customer_id", ""), r"deployment.unit_id: mode ab needs it"),
    ("{mode: ab, experiment: e, unit_id: u}",
     r"deployment.ab: mode ab needs its arms"),
    (AB_YAML.replace("share: 50}\n    - ", "share: 60}\n    - "), r"deployment.ab.arms: the shares add up to 110 %"),
    (AB_YAML.replace("name: challenger", "name: champion"), r"deployment.ab.arms: arm names repeat"),
    (AB_YAML.replace("share: 50}\n    - ", "}\n    - "), r"deployment.ab.arms\[0\].share: missing"),
    (AB_YAML.replace("share: 50}\n    - ", "share: '50'}\n    - "),
     r"deployment.ab.arms\[0\].share: expected a number"),
    (AB_YAML.replace("model: lead-scoring@champion", "model: 7"), r"deployment.ab.arms\[0\].model: expected a model"),
    (AB_YAML.replace("coverage: 40", "coverage: 140"), r"deployment.ab.coverage: expected a number >= 0 and <= 100"),
    (AB_YAML.replace("coverage: 40", "covrage: 40"), r"deployment.ab: unknown key\(s\) 'covrage'; allowed: arms"),
    ("{mode: ab, experiment: e, unit_id: u, ab: {arms: [{name: a, model: m@x, share: 100}]}}",
     r"deployment.ab.arms: expected a list of two or more arms"),
    ("{mode: canary, experiment: e, unit_id: u}", r"deployment.canary.model: mode canary needs the registered model"),
    ("{mode: canary, canary: {model: m@champion}}", r"deployment.canary.model: the canary's challenger is the alias"),
    ("{canary: {model: m, ramp: [5, 1, 100]}}", r"deployment.canary.ramp: expected increasing percents ending at 100"),
    ("{canary: {model: m, ramp: [1, 50]}}", r"deployment.canary.ramp: expected increasing percents ending at 100"),
    ("{canary: {model: m, ramp: [0, 100]}}", r"deployment.canary.ramp\[0\]: expected a number > 0"),
    ("{canary: {model: m, step_hours: 0}}", r"deployment.canary.step_hours: expected a number > 0"),
    ("{canary: {model: m, guardrails: {max_errors: 1}}}",
     r"deployment.canary.guardrails: unknown key\(s\) 'max_errors'; allowed: max_error_rate"),
    ("{canary: {model: m, guardrails: {max_error_rate: 2}}}",
     r"deployment.canary.guardrails.max_error_rate: expected a number >= 0 and <= 1"),
    ("{canary: {model: m, guardrails: {max_latency_p99_ms: fast}}}",
     r"deployment.canary.guardrails.max_latency_p99_ms: expected a number >= 0, got 'fast'"),
    ("{mode: shadow}", r"deployment.shadow.model: mode shadow needs the challenger"),
    ("{shadow: {queue_size: 3}}", r"deployment.shadow.model: missing"),
    ("{shadow: {model: m@c, queue_size: 0}}", r"deployment.shadow.queue_size: expected a whole number >= 1"),
    ("{shadow: {model: m@c, queue_size: true}}", r"deployment.shadow.queue_size: expected a whole number >= 1"),
    ("{blue_green: {alias: 'a b'}}", r"deployment.blue_green.alias: expected a registry alias"),
    ("{blue_green: {alais: x}}", r"deployment.blue_green: unknown key\(s\) 'alais'; allowed: alias"),
])
def test_strict_errors_name_the_key_and_how_to_fix(text, message):
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_unit_id_defaults_to_project_key_and_an_explicit_one_wins():
    settings = parse("{mode: canary, experiment: lead-canary}", model_name="lead-scoring", key="lead_id")
    assert settings.unit_id == "lead_id" and settings.to_experiment().hash_attribute == "lead_id"
    ab = parse(AB_YAML.replace("unit_id: customer_id", ""), key="lead_id")
    assert ab.unit_id == "lead_id"
    assert parse(AB_YAML, key="lead_id").unit_id == "customer_id"
    assert parse("{mode: none}", key="lead_id").unit_id == "lead_id"
    with pytest.raises(ConfigError, match=r"deployment.unit_id: mode canary needs it.*or set project.key"):
        parse("{mode: canary, experiment: lead-canary}", model_name="lead-scoring")
