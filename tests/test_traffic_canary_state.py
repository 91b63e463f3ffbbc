"""The canary state file: round trip, atomic and versioned, and a clear error for anything else."""

from __future__ import annotations

import json

import pytest

from mlprod.errors import ConfigError
from mlprod.traffic.canary_state import CanaryState, read_state, state_path, write_state


def test_round_trip_sorted_and_versioned(tmp_path):
    path = state_path(tmp_path)
    assert read_state(path) is None
    state = CanaryState("exp", "leads", "7", "5", step_started="2026-11-30T06:00:00Z")
    state = state.with_decision({"action": "advance", "step": 0}, step=1)
    write_state(path, state)
    assert read_state(path) == state
    text = path.read_text()
    assert json.loads(text)["schema_version"] == 1 and list(json.loads(text)) == sorted(json.loads(text))
    assert state.share((1, 5, 25, 100)) == 5.0
    assert state.with_decision({"action": "rollback"}, status="rolled_back").share((1, 5, 25, 100)) == 0.0


@pytest.mark.parametrize("content, message", [
    ("not json", "not a readable canary state file"),
    ("[]", "expected a JSON object"),
    ('{"schema_version": 2}', "schema_version 2; this mlprod reads version 1"),
    ('{"schema_version": 1, "experiment": "e", "model": "m", "canary_version": "1", "champion_version": null, '
     '"oops": 1}', "unknown field(s) oops"),
    ('{"schema_version": 1, "experiment": "e", "model": "m", "canary_version": "1", "champion_version": null, '
     '"step": -1}', "step must be a whole number"),
    ('{"schema_version": 1, "experiment": "e"}', "missing field(s) model, canary_version, champion_version"),
    ('{"schema_version": 1, "experiment": "e", "model": "m", "canary_version": 3, "champion_version": null, '
     '"step_started": "2026-11-30T06:00:00Z"}', "canary_version must be texts"),
    ('{"schema_version": 1, "experiment": "e", "model": "m", "canary_version": "3", "champion_version": null, '
     '"step_started": "2026"}', "step_started '2026' is not an ISO 8601 time with a zone"),
    ('{"schema_version": 1, "experiment": "e", "model": "m", "canary_version": "3", "champion_version": null, '
     '"step_started": "2026-11-30T06:00:00Z", "history": "x"}', "history must be a list of objects"),
    ('{"schema_version": 1, "experiment": "e", "model": "m", "canary_version": "3", "champion_version": null, '
     '"step_started": "2026-11-30T06:00:00Z", "step": 9}', "at step 9 but deployment.canary.ramp has 4 step"),
])
def test_a_bad_state_file_is_a_clear_error_naming_it(tmp_path, content, message):
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ConfigError, match="state.json") as info:
        read_state(path, ramp=(1, 5, 25, 100))
    assert message in str(info.value)
