"""`mlprod review list|export|import` round trip through a real prediction log and labels folder."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from mlprod.cli import main
from mlprod.monitoring.retrain_data import read_labels
from mlprod.serving.predictionlog import ModelRef, PredictionLogSettings, PredictionLogWriter

PARAMS = """\
project: {target: converted, key: lead_id}
prediction_log: {dir: log, log_features: [region]}
monitor: {labels_dir: labels}
serving: {review: {dir: review}}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(PARAMS)
    settings = PredictionLogSettings.from_mapping({"dir": "log", "log_features": ["region"]})
    outputs = pd.DataFrame({"score": [0.45, 0.9, 0.55, 0.5], "decision": [0, 1, 1, 1],
                            "tier": ["primary"] * 4, "fallback_reason": [None] * 4, "filled_features": [()] * 4,
                            "needs_review": [True, False, True, True], "model_version": ["1.0.0"] * 4})
    inputs = pd.DataFrame({"lead_id": ["L101", "L102", "L103", None], "region": ["north", "south", "east", "west"]})
    with PredictionLogWriter(settings, key="lead_id", root=tmp_path) as writer:
        writer.log_request("req-1", outputs, model=ModelRef("leads", "1.0.0", "abc"), inputs=inputs,
                           logged_at=datetime(2025, 3, 4, tzinfo=timezone.utc))
    (tmp_path / "labels").mkdir()
    pd.DataFrame({"lead_id": ["L103"], "converted": [1]}).to_csv(tmp_path / "labels" / "stream.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_list_export_import_round_trip(project, capsys):
    assert main(["review", "list"]) == 0
    out, err = capsys.readouterr()
    assert "L101" in out and "L103" not in out and "L102" not in out  # 103 is labelled already, 102 auto-decided
    assert "1 row(s) queued" in err and "1 routed row(s) have no unit_id" in err
    assert main(["review", "export", "queue.csv"]) == 0
    exported = pd.read_csv(project / "queue.csv")
    assert list(exported.columns) == ["request_id", "row", "unit_id", "score", "logged_at", "region", "converted"]
    assert exported["unit_id"].tolist() == ["L101"] and exported["region"].tolist() == ["north"]
    exported["converted"] = [1]
    exported.to_csv(project / "decided.csv", index=False)
    assert main(["review", "import", "decided.csv"]) == 0
    labels = read_labels(project / "labels", key="lead_id", target="converted", positive_label=None)
    assert sorted(labels["lead_id"].tolist()) == ["L101", "L103"]
    files = sorted(p.name for p in (project / "labels").iterdir())
    assert len(files) == 2 and files[0].endswith("-review.csv")
    assert (project / "review" / "decided.csv").is_file()
    capsys.readouterr()
    assert main(["review", "list"]) == 0
    assert "0 row(s) queued" in capsys.readouterr().err
    assert main(["review", "import", "decided.csv"]) == 0  # again: already labelled, reported, nothing written
    assert "1 unit(s) already labelled, not written: L101" in capsys.readouterr().err
    assert len(list((project / "labels").iterdir())) == 2


@pytest.mark.parametrize("table, message", [
    ({"unit_id": ["L101"]}, r"missing column\(s\) 'converted'"),
    ({"unit_id": ["L999"], "converted": [1]}, r"column 'unit_id': 1 row\(s\) name units the prediction log never routed"),
    ({"unit_id": ["L101"], "converted": ["maybe"]}, r"holds 'maybe', not 0/1"),
    ({"unit_id": ["L101", "L101"], "converted": [1, 0]}, r"column 'converted': 2 row\(s\) give one unit two different"),
    ({"unit_id": ["L101"], "converted": [None]}, r"column 'converted': 1 row\(s\) have no label"),
])
def test_bad_reviewer_files_are_one_clear_message_and_nothing_is_written(project, capsys, table, message):
    pd.DataFrame(table).to_csv(project / "bad.csv", index=False)
    before = sorted((project / "labels").iterdir())
    assert main(["review", "import", "bad.csv"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and pytest.importorskip("re").search(message, err), err
    assert "Traceback" not in err
    assert sorted((project / "labels").iterdir()) == before and not (project / "review").exists()


def test_a_missing_file_and_a_bad_date_exit_2(project, capsys):
    assert main(["review", "import", "nope.csv"]) == 2
    assert "nope.csv" in capsys.readouterr().err
    assert main(["review", "list", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err
