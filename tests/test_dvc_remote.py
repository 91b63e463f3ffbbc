"""The default DVC remote as manifests record it: resolved like DVC, name and URL only, never credentials."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlprod
from mlprod.errors import ManifestError
from mlprod.manifest import lineage as lineage_mod
from mlprod.manifest import schema
from mlprod.manifest.remote import default_remote
from mlprod.manifest.reproduce import missing_data
from mlprod.manifest.schema import Remote
from mlprod.project import template
from pipeline import REPO

SECRET = "wJalrXUtnFEMI-K7MDENG-secret"


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    """DVC's global and system config files of the test, empty unless a test writes them."""
    for var, name in (("DVC_GLOBAL_CONFIG_DIR", "global"), ("DVC_SYSTEM_CONFIG_DIR", "system")):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(var, str(tmp_path / name))


def project(root: Path, config: str = "", local: str | None = None) -> Path:
    (root / ".dvc").mkdir(parents=True)
    (root / ".dvc" / "config").write_text(config)
    if local is not None:
        (root / ".dvc" / "config.local").write_text(local)
    return root


FOLDER = '[core]\n    remote = shared\n[\'remote "shared"\']\n    url = ../../mlprod-dvc-remote\n'


def test_a_folder_remote_is_recorded_relative_to_the_project_root(tmp_path):
    assert default_remote(project(tmp_path / "p", FOLDER)) == Remote("shared", "../mlprod-dvc-remote")


def test_the_example_project_and_mlprod_init_use_a_folder_beside_the_project():
    assert default_remote(REPO) == Remote(template.REMOTE_NAME, "../mlprod-dvc-remote")
    assert template.remote_url(Path("/work/leads")) == "../leads-dvc-remote"


def test_config_local_overrides_the_default_and_the_url(tmp_path):
    team = FOLDER + '[\'remote "team"\']\n    url = s3://bucket/repo\n'
    root = project(tmp_path / "p", team, local="[core]\n    remote = Team\n")  # DVC lower-cases remote names
    assert default_remote(root) == Remote("team", "s3://bucket/repo")
    (root / ".dvc" / "config.local").write_text('[\'remote "shared"\']\n    url = /mnt/nfs/dvc\n')
    assert default_remote(root) == Remote("shared", "/mnt/nfs/dvc")


def test_credentials_are_stripped_and_never_read(tmp_path):
    config = ('[core]\n    remote = team\n[\'remote "team"\']\n    url = https://alice:%s@dvc.example.com:8443/store'
              '?token=%s#x\n    endpointurl = http://127.0.0.1:9000\n    credentialpath = /root/.aws/credentials\n'
              % (SECRET, SECRET))
    local = f'[\'remote "team"\']\n    access_key_id = AKIA-{SECRET}\n    secret_access_key = {SECRET}\n'
    remote = default_remote(project(tmp_path / "p", config, local=local))
    assert remote == Remote("team", "https://dvc.example.com:8443/store")
    assert default_remote(project(tmp_path / "q", config.replace("https://alice:", "s3://alice:"))).url == \
        "s3://dvc.example.com:8443/store"


def test_the_global_config_supplies_a_default_the_project_does_not_set(tmp_path):
    (tmp_path / "global" / "config").write_text('[core]\n    remote = home\n[\'remote "home"\']\n    url = store\n')
    assert default_remote(project(tmp_path / "p")) == Remote("home", (tmp_path / "global" / "store").as_posix())
    assert default_remote(project(tmp_path / "q", FOLDER)).name == "shared"  # the project's config wins


@pytest.mark.parametrize("config, local", [
    ("", None),  # no remote
    ("[core]\n    remote = gone\n", None),  # a default naming no remote
    ('[\'remote "shared"\']\n    url = ../../r\n', None),  # a remote, no default
    ("[core\nremote = = =\n", None),  # not a config file
    (FOLDER, "\xff\xfe binary"),  # an unreadable config.local
    (FOLDER, "[core]\n    remote =\n"),  # the default unset locally
])
def test_no_or_odd_config_gives_no_remote_never_an_error(tmp_path, config, local):
    assert default_remote(project(tmp_path / "p", config, local)) is None


def test_outside_a_dvc_project_there_is_no_remote(tmp_path):
    assert default_remote(tmp_path) is None
    (tmp_path / ".dvc").write_text("a file where DVC's folder is expected")
    assert default_remote(tmp_path) is None


# --- in the manifest -------------------------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path, monkeypatch):
    root = project(tmp_path / "p", FOLDER.replace("../../mlprod-dvc-remote", "../../remote"),
                   local=f'[\'remote "shared"\']\n    secret_access_key = {SECRET}\n')
    monkeypatch.chdir(root)
    for var in ("MLPROD_RUN", "MLPROD_STAGE", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    X = pd.DataFrame({"age": np.arange(40) % 30 + 20, "income": np.linspace(1.0, 9.0, 40)})
    X.assign(y=(X.income > 5).astype(int)).to_parquet("train.parquet")
    return mlprod.save_model(LogisticRegression().fit(X, X.income > 5), "model", name="leads", X=X,
                             training_data="train.parquet")


def test_data_references_name_the_remote_in_a_version_2_manifest(saved):
    text = Path("model/model_manifest.yaml").read_text()
    assert saved.data[0].remote == Remote("shared", "../remote")
    assert saved.schema_version == 2 and "schema_version: 2" in text and SECRET not in text
    assert mlprod.read_manifest("model") == saved
    trace = lineage_mod.trace("model", root=Path.cwd())
    assert "DVC remote shared: ../remote (dvc pull -r shared)" in lineage_mod.render_text(trace)
    assert lineage_mod.to_dict(trace)["data"][0]["remote"] == {"name": "shared", "url": "../remote"}


def test_a_manifest_without_a_remote_stays_version_1_and_older_ones_read(saved):
    plain = dataclasses.replace(saved, data=[dataclasses.replace(saved.data[0], remote=None)], schema_version=1)
    text = schema.dumps(plain)
    assert "schema_version: 1" in text and "remote" not in text and schema.loads(text) == plain
    schema.write_manifest(plain, "model")
    assert "remote" not in lineage_mod.to_dict(lineage_mod.trace("model", root=Path.cwd()))["data"][0]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("    name: shared\n", "    name: shared\n    password: x\n"),
     r"data\[0\].remote: unknown field\(s\) password; allowed: name, url"),
    (lambda t: t.replace("name: shared", "name: 'a b'"), r"data\[0\].remote: expected a DVC remote name"),
    (lambda t: t.replace("url: ../remote", "url: \"a\\nb\""), r"data\[0\].remote: expected a DVC remote name"),
    (lambda t: t.replace("    url: ../remote\n", ""), r"data\[0\].remote.url: required field is missing"),
])
def test_the_remote_field_is_read_strictly(saved, edit, message):
    text = Path("model/model_manifest.yaml").read_text()
    with pytest.raises(ManifestError, match=message):
        schema.loads(edit(text))


def test_reproduce_says_which_remote_to_pull_missing_data_from(saved):
    (line,) = missing_data(saved, Path.cwd())
    assert f"data training train.parquet (md5 {saved.data[0].md5}) is not in this clone's DVC cache" in line
    assert "dvc pull -r shared (remote URL ../remote" in line
    nameless = dataclasses.replace(saved, data=[dataclasses.replace(saved.data[0], remote=None)])
    assert "names no DVC remote" in missing_data(nameless, Path.cwd())[0]
