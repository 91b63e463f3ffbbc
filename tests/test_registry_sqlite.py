"""Registration, promotion, rollback and history against a real MLflow SQLite registry in tmp_path."""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
from pathlib import Path

import pytest
import yaml
from test_registry_toys import MODEL, copy_store

pytest_plugins = ("test_registry_toys",)  # the toys, empty_store and seeded_store fixtures

from mlprod.errors import ManifestError, RegistryError, RegistryUnreachable
from mlprod.registry.champion import CHAMPION, EvaluationInputs, evaluate, promote, rollback
from mlprod.registry.gates import GatePolicy, MetricGate
from mlprod.registry.history import champion_line, model_history, read_moves, render_history
from mlprod.registry.register import register_model
from mlprod.registry.store import Registry

AT_LEAST_AS_GOOD = GatePolicy(metrics=(MetricGate("roc_auc", True, threshold=0.6, min_change=0.0),
                                       MetricGate("log_loss", False, min_relative_change=-0.05)))


@pytest.fixture
def env(monkeypatch, tmp_path):
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLPROD_STAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLPROD_USER", "tester")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def seeded(env, seeded_store) -> Registry:
    copy_store(seeded_store, env / "store")
    return Registry.open(env / "store")


def inputs(toys, policy=AT_LEAST_AS_GOOD, **kw):
    return EvaluationInputs(policy=policy, holdout_path=str(toys.holdout), target="converted", **kw)


def promote_version(registry, toys, version, **kw):
    return promote(evaluate(MODEL, version, inputs(toys), registry=registry), registry=registry, **kw)


def champion(registry):
    found = registry.alias(MODEL, CHAMPION)
    return None if found is None else found.version


# -- registration ------------------------------------------------------------------------------------------

def test_register_logs_a_complete_run_and_links_the_version_to_the_semver(env, empty_store, toys, monkeypatch):
    copy_store(empty_store, env / "store")
    registry = Registry.open(env / "store")
    model_dir = env / "good"
    shutil.copytree(toys.model_dir("good"), model_dir)
    (model_dir / "model_card.md").write_text("# Toy card\n")
    version = register_model(model_dir, registry=registry, example_data=toys.holdout)

    assert (version.name, version.version, version.semver, version.created) == (MODEL, "1", "1.2.0", True)
    mv = registry.version(MODEL, 1)
    manifest = yaml.safe_load((model_dir / "model_manifest.yaml").read_text())
    assert mv.tags["mlprod.semver"] == "1.2.0" and "toy 1.2.0" in mv.description
    assert mv.tags["mlprod.artifact_sha256"] == manifest["artifact"]["sha256"]
    assert mv.tags["mlprod.git.dirty"] in ("true", "false")
    training = next(d for d in manifest["data"] if d["role"] == "training")
    assert mv.tags["mlprod.data.training.md5"] == training["md5"]
    assert mv.tags["mlprod.data.training.dataset_id"] == training["dataset_id"]
    assert len(mv.tags["mlprod.manifest_sha256"]) == 64

    client = registry.client
    run = client.get_run(mv.run_id)
    assert run.data.tags["mlprod.semver"] == "1.2.0"
    assert run.data.params["model.class"] == "sklearn.pipeline.Pipeline"
    files = {f.path for f in client.list_artifacts(mv.run_id, "mlprod/model")}
    assert files == {"mlprod/model/model_manifest.yaml", "mlprod/model/model.skops"}
    assert [f.path for f in client.list_artifacts(mv.run_id, "mlprod/model_card")] == ["mlprod/model_card/model_card.md"]

    mlmodel = Path(client.download_artifacts(mv.run_id, "mlprod/model", str(env / "dl")))  # our verified copy
    assert (mlmodel / "model.skops").read_bytes() == (model_dir / "model.skops").read_bytes()
    from mlflow.models import get_model_info

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.location.tracking_uri)  # models:/m-... resolve there
    info = get_model_info(mv.source)
    assert info.flavors["sklearn"]["serialization_format"] == "skops"  # never pickle
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["x1", "x2", "region"]
    assert info.saved_input_example_info is not None


def test_registering_the_same_artifact_again_finds_the_existing_version(seeded, toys):
    runs_before = len(seeded.client.search_runs([seeded.experiment_id(MODEL)]))
    again = register_model(toys.model_dir("medium"), registry=seeded)
    assert (again.version, again.semver, again.created) == ("2", "1.1.0", False)
    assert [v.version for v in seeded.versions(MODEL)] == [1, 2, 3]
    assert len(seeded.client.search_runs([seeded.experiment_id(MODEL)])) == runs_before


def test_a_semantic_version_is_never_reused_for_another_artifact(seeded, toys, env):
    from sklearn.linear_model import LogisticRegression

    import mlprod
    from mlprod.data import read_table

    train = read_table(toys.root / "data" / "train.parquet")
    model = LogisticRegression(C=0.5).fit(train[["x1", "x2"]], train["converted"])
    mlprod.save_model(model, env / "other", name=MODEL, X=train[["x1", "x2"]], version="1.0.0",  # weak's version
                      training_data=toys.root / "data" / "train.parquet")
    with pytest.raises(RegistryError, match=r"toy 1.0.0 is already registered as version 1 with a different artifact"):
        register_model(env / "other", registry=seeded)
    assert len(seeded.versions(MODEL)) == 3


def test_a_new_artifact_cannot_go_below_the_highest_registered_version(seeded, toys, env):
    from sklearn.linear_model import LogisticRegression

    import mlprod
    from mlprod.data import read_table

    train = read_table(toys.root / "data" / "train.parquet")
    latest = max(seeded.versions(MODEL), key=lambda v: int(v.version)).tags["mlprod.semver"]
    model = LogisticRegression(C=0.25).fit(train[["x1", "x2"]], train["converted"])
    mlprod.save_model(model, env / "older", name=MODEL, X=train[["x1", "x2"]], version="1.0.5",
                      training_data=toys.root / "data" / "train.parquet")
    with pytest.raises(RegistryError, match=rf"toy 1.0.5 is older than {latest}, already registered; versions never "
                                            "go backwards"):
        register_model(env / "older", registry=seeded)
    assert len(seeded.versions(MODEL)) == 3


def test_a_tampered_artifact_is_refused_before_anything_is_registered(seeded, toys, env):
    bad = env / "bad"
    shutil.copytree(toys.model_dir("good"), bad)
    (bad / "model.skops").write_bytes((bad / "model.skops").read_bytes() + b"x")
    with pytest.raises(ManifestError, match="sha256"):
        register_model(bad, registry=seeded)
    assert len(seeded.versions(MODEL)) == 3


# -- promotion ---------------------------------------------------------------------------------------------

def test_first_promotion_without_a_champion_promotes_and_scores_on_the_holdout(seeded, toys):
    from sklearn.metrics import roc_auc_score

    import mlprod
    from mlprod.data import read_table

    decision = promote_version(seeded, toys, 1)
    assert decision.outcome == "promoted" and decision.champion is None
    holdout = read_table(toys.holdout)
    expected = roc_auc_score(holdout["converted"], mlprod.load_model(toys.model_dir("weak")).predict_proba(holdout)[:, 1])
    assert decision.metrics["challenger"]["roc_auc"] == pytest.approx(expected)
    roc = next(g for g in decision.gates if g.name == "roc_auc")
    assert [r.passed for r in roc.rules] == [True, None]  # threshold checked, min_change has no champion
    assert champion(seeded) == 1
    assert seeded.version(MODEL, 1).tags["mlprod.gates"] == "passed"


def test_a_worse_challenger_is_rejected_and_the_champion_stays(seeded, toys, env):
    promote_version(seeded, toys, 3)  # good
    decision = promote_version(seeded, toys, 2)  # medium: lower AUC than good
    assert decision.outcome == "rejected" and "roc_auc" in decision.blocking
    roc = next(g for g in decision.gates if g.name == "roc_auc")
    assert roc.champion > roc.challenger
    min_change = next(r for r in roc.rules if r.rule == "min_change")
    assert min_change.passed is False and min_change.observed == pytest.approx(roc.challenger - roc.champion)
    assert champion(seeded) == 3
    assert seeded.version(MODEL, 2).tags["mlprod.gates"] == "failed"
    # the decision record is stored on the challenger's run, where the version tag points
    ref = seeded.version(MODEL, 2).tags["mlprod.decision"]
    assert ref == decision.reference
    run_id, path = ref.removeprefix("runs:/").split("/", 1)
    stored = json.loads(Path(seeded.client.download_artifacts(run_id, path, str(env / "dl"))).read_text())
    assert stored["outcome"] == "rejected" and stored["schema_version"] == 1
    assert stored["metrics"]["challenger"]["roc_auc"] == pytest.approx(roc.challenger)


def test_a_forced_promotion_needs_and_records_a_reason(seeded, toys):
    promote_version(seeded, toys, 3)
    with pytest.raises(RegistryError, match="needs a reason"):
        promote_version(seeded, toys, 1, force=True)
    decision = promote_version(seeded, toys, 1, force=True, reason="incident 42: good model misbehaves")
    assert decision.outcome == "forced" and not decision.passed
    assert champion(seeded) == 1
    last = read_moves(seeded, MODEL)[-1]
    assert (last.action, last.from_version, last.to_version, last.reason, last.user, last.state) == (
        "force", "3", "1", "incident 42: good model misbehaves", "tester", "done")
    assert seeded.version(MODEL, 1).tags["mlprod.gates"] == "forced"


def test_promoting_the_champion_again_changes_nothing(seeded, toys):
    promote_version(seeded, toys, 2)
    moves = len(read_moves(seeded, MODEL))
    assert promote_version(seeded, toys, 2).outcome == "unchanged"
    assert len(read_moves(seeded, MODEL)) == moves and champion(seeded) == 2


def test_missing_upstream_reports_block_only_when_required(seeded, toys, tmp_path):
    strict = GatePolicy(metrics=AT_LEAST_AS_GOOD.metrics, require_validation=True)
    missing = str(tmp_path / "validation.json")
    decision = evaluate(MODEL, 1, inputs(toys, strict, validation_summary=missing), registry=seeded)
    assert decision.blocking == ("validation",)
    assert promote(decision, registry=seeded).outcome == "rejected" and champion(seeded) is None
    (tmp_path / "validation.json").write_text('{"status": "passed", "passed": true}')
    decision = evaluate(MODEL, 1, inputs(toys, strict, validation_summary=missing), registry=seeded)
    assert promote(decision, registry=seeded).outcome == "promoted"


# -- rollback and history ----------------------------------------------------------------------------------

def test_rollback_walks_back_through_the_promotions(seeded, toys):
    for version in (1, 2, 3):
        assert promote_version(seeded, toys, version).outcome == "promoted"
    assert rollback(MODEL, reason="3 misbehaves", registry=seeded).to_version == "2"
    assert champion(seeded) == 2
    assert rollback(MODEL, registry=seeded).to_version == "1"  # again: further back, not back to 3
    with pytest.raises(RegistryError, match="version 1 is the first champion; there is no previous champion"):
        rollback(MODEL, registry=seeded)
    assert champion(seeded) == 1
    assert champion_line(read_moves(seeded, MODEL), CHAMPION) == ["1"]
    assert seeded.version(MODEL, 3).tags["mlprod.rolled_back"]


def test_rollback_refuses_when_the_alias_was_moved_outside_mlprod(seeded, toys):
    promote_version(seeded, toys, 1)
    promote_version(seeded, toys, 2)
    seeded.client.set_registered_model_alias(MODEL, CHAMPION, "3")  # e.g. in the MLflow UI
    with pytest.raises(RegistryError, match=r"champion \(version 3\) was not set by mlprod's last logged move"):
        rollback(MODEL, registry=seeded)
    assert champion(seeded) == 3


def test_history_lists_versions_aliases_and_every_move(seeded, toys):
    promote_version(seeded, toys, 1)
    promote_version(seeded, toys, 2)
    promote_version(seeded, toys, 1)  # rejected: worse than 2
    rollback(MODEL, reason="bad week", registry=seeded)
    data = model_history(seeded, MODEL)
    assert data["aliases"] == {"champion": "1"}
    assert [(v["version"], v["semver"], v.get("aliases", []), v.get("gates")) for v in data["versions"]] == [
        ("1", "1.0.0", ["champion"], "failed"), ("2", "1.1.0", [], "passed"), ("3", "1.2.0", [], None)]
    moves = [(m["seq"], m["action"], m.get("from_version"), m["to_version"], m["reason"], m["user"])
             for m in data["moves"]]
    assert moves == [(1, "promote", None, "1", "gates passed", "tester"), (2, "promote", "1", "2", "gates passed",
                                                                            "tester"),
                     (3, "rollback", "2", "1", "bad week", "tester")]
    assert data["moves"][1]["decision"].startswith("runs:/") and data["moves"][0]["time"] < data["moves"][2]["time"]
    text = render_history(data)
    assert "2 -> 1" in text and "bad week" in text and "rollback" in text


# -- reaching the registry ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_a_clear_error_naming_the_uri(env, monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(RegistryUnreachable) as info:
        Registry.open()
    message = str(info.value)
    assert message.startswith(f"registry {uri} cannot be reached (") and "Connection refused" in message
    assert "unset it to use the project's own mlflow.db" in message


def test_cli_reports_an_unreachable_registry_without_a_traceback(env, monkeypatch, capsys):
    from mlprod.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:secret@127.0.0.1:{free_port()}")
    assert main(["registry", "history", MODEL]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "Traceback" not in err
    assert "secret" not in err and "user:***@127.0.0.1" in err


def test_a_sqlite_store_in_a_missing_folder_is_a_clear_error(env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{env / 'nowhere' / 'mlflow.db'}")
    with pytest.raises(RegistryUnreachable, match=r"folder .*nowhere does not exist"):
        Registry.open()


def test_a_file_that_is_not_a_database_is_a_clear_error(env, monkeypatch):
    (env / "mlflow.db").write_text("not a database")
    with pytest.raises(RegistryUnreachable, match=r"mlflow.db cannot be opened"):
        Registry.open(env)


# -- CLI ---------------------------------------------------------------------------------------------------

def test_cli_register_promote_rollback_and_history(seeded, toys, env, capsys):
    from mlprod.cli import main

    (env / "params.yaml").write_text(textwrap.dedent(f"""\
        register:
          holdout_path: {toys.holdout}
          gates:
            roc_auc: {{threshold: 0.6, min_change: 0.0}}
        """))
    (env / "store" / "params.yaml").write_text((env / "params.yaml").read_text())
    import os

    os.chdir(env / "store")  # the project root: mlflow.db is here
    assert main(["register", str(toys.model_dir("weak"))]) == 0
    assert "toy 1.0.0: already registered as version 1" in capsys.readouterr().out
    assert main(["promote", MODEL, "--version", "2"]) == 0
    assert "PROMOTED: champion none -> version 2 (1.1.0)" in capsys.readouterr().out
    assert main(["promote", MODEL, "--version", "1"]) == 1  # weak: rejected
    captured = capsys.readouterr()
    assert "REJECTED (roc_auc failed): champion stays version 2 (1.1.0)" in captured.out
    assert "min_change" in captured.out and "FAIL" in captured.out
    assert main(["promote", MODEL, "--version", "1", "--force"]) == 2
    assert "--force needs --reason" in capsys.readouterr().err
    assert main(["promote", MODEL, "--decision-file", "d.json"]) == 0  # newest: 3
    assert json.loads(Path("d.json").read_text())["outcome"] == "promoted"
    capsys.readouterr()
    assert main(["rollback", MODEL, "--reason", "oops"]) == 0
    assert "champion version 3 -> 2" in capsys.readouterr().out
    assert main(["registry", "history", MODEL, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["aliases"] == {"champion": "2"} and [m["action"] for m in data["moves"]] == [
        "promote", "promote", "rollback"]
    assert main(["promote", "nope"]) == 2
    assert "no model named 'nope' (models: toy)" in capsys.readouterr().err


def test_cli_force_promotes_even_when_the_gates_cannot_be_evaluated(seeded, toys, env, capsys):
    from mlprod.cli import main

    (env / "store" / "params.yaml").write_text("register:\n  gates:\n    roc_auc: {threshold: 0.6}\n")
    import os

    os.chdir(env / "store")
    assert main(["promote", MODEL, "--version", "2", "--holdout", "missing.parquet"]) == 2  # bad input
    assert "missing.parquet" in capsys.readouterr().err
    assert main(["promote", MODEL, "--version", "2", "--holdout", "missing.parquet", "--force", "--reason",
                 "holdout lost; approved by review #7", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["outcome"] == "forced" and decision["blocking"] == ["evaluation"]
    assert "gates not evaluated" in decision["gates"][0]["message"] and "missing.parquet" in decision["gates"][0]["message"]
    assert champion(seeded) == 2


def test_cli_promote_checks_the_decision_file_before_touching_the_registry(seeded, toys, env, capsys):
    from mlprod.cli import main

    (env / "store" / "params.yaml").write_text(f"register:\n  holdout_path: {toys.holdout}\n  gates:\n"
                                               "    roc_auc: {threshold: 0.6}\n")
    import os

    os.chdir(env / "store")
    Path("reports").write_text("a file where a folder is expected\n")
    for bad, message in (("/proc/mlprod-no-such-folder/d.json", "cannot write in /proc"),
                         ("reports/decision.json", "is a file, not a folder")):
        assert main(["promote", MODEL, "--version", "2", "--decision-file", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"mlprod promote: --decision-file {bad}: ") and message in err
        assert "rejected" not in err and "Traceback" not in err
    assert champion(seeded) is None and read_moves(seeded, MODEL) == []
    assert "mlprod.decision" not in seeded.version(MODEL, 2).tags  # nothing was evaluated or recorded
    assert main(["promote", MODEL, "--version", "2", "--decision-file", "-"]) == 0  # '-': the record on stdout
    assert json.loads(capsys.readouterr().out)["outcome"] == "promoted" and champion(seeded) == 2


def test_cli_promote_says_it_promoted_when_the_record_cannot_be_written_afterwards(seeded, toys, env, capsys,
                                                                                   monkeypatch):
    import os

    from mlprod.cli import main
    from mlprod.registry import champion as champion_module

    (env / "store" / "params.yaml").write_text(f"register:\n  holdout_path: {toys.holdout}\n  gates:\n"
                                               "    roc_auc: {threshold: 0.6}\n")
    os.chdir(env / "store")
    real_promote = champion_module.promote

    def promote_then_block_the_path(*args, **kwargs):  # the path goes bad between the check and the write
        decision = real_promote(*args, **kwargs)
        os.mkfifo("decision.json")
        return decision

    monkeypatch.setattr(champion_module, "promote", promote_then_block_the_path)
    assert main(["promote", MODEL, "--version", "2", "--decision-file", "decision.json"]) == 3
    captured = capsys.readouterr()
    assert "PROMOTED: champion none -> version 2" in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"mlprod promote: {MODEL} version 2 promoted: champion moved from version none to 2; the "
                           "decision record was NOT written to decision.json (output file decision.json: is a named "
                           "pipe (FIFO)")
    decision_ref = seeded.version(MODEL, 2).tags["mlprod.decision"]
    assert line.endswith(f"It is kept in the registry as {decision_ref}")
    assert champion(seeded) == 2 and stat_is_fifo("decision.json")


def stat_is_fifo(path) -> bool:
    import os
    import stat

    return stat.S_ISFIFO(os.lstat(path).st_mode)
