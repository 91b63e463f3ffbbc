"""``mlprod profile DATA --out PROFILE.json``: the file profile_file writes, in one process or on a Dask cluster;
user mistakes end in one message and exit code 2 with nothing written."""

from __future__ import annotations

import json

import pytest

from mlprod.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The demo leads as one CSV file and as a folder of three Parquet partitions."""
    from mlprod.data import make_leads

    root = tmp_path_factory.mktemp("profile-data")
    frame = make_leads(n_rows=900, seed=3)
    frame.to_csv(root / "leads.csv", index=False)
    folder = root / "leads"
    folder.mkdir()
    for i, start in enumerate(range(0, 900, 300)):
        frame.iloc[start:start + 300].to_parquet(folder / f"part-{i}.parquet", index=False)
    return root / "leads.csv", folder


def _expected(path, tmp_path, **settings) -> bytes:
    from mlprod.profile import profile_file

    return profile_file(path, **settings).save(tmp_path / "expected.json").read_bytes()


@pytest.mark.parametrize("which", ["csv", "partitioned parquet"])
def test_the_written_profile_is_profile_files(data, tmp_path, capsys, which):
    path = data[0] if which == "csv" else data[1]
    out = tmp_path / "out" / "profile.json"
    assert main(["profile", str(path), "--out", str(out)]) == 0
    assert out.read_bytes() == _expected(path, tmp_path)
    printed = capsys.readouterr().out
    assert "900 rows" in printed and f"written: {out}" in printed
    from mlprod.profile import read_profile

    assert read_profile(out).n_rows == 900  # what drift and validate --reference read


def test_columns_and_categorical_are_passed_on(data, tmp_path):
    out = tmp_path / "profile.json"
    assert main(["profile", str(data[0]), "--out", str(out), "--columns", "age,region,income",
                 "--categorical", "age"]) == 0
    assert out.read_bytes() == _expected(data[0], tmp_path, columns=["age", "region", "income"],
                                         categorical=["age"])
    columns = {c["name"]: c["kind"] for c in json.loads(out.read_text())["columns"]}
    assert columns == {"age": "categorical", "region": "categorical", "income": "numeric"}


def test_on_a_dask_cluster_the_profile_equals_one_process(data, tmp_path, cluster, capsys):
    out = tmp_path / "dask.json"
    assert main(["profile", str(data[1]), "--out", str(out), "--dask", cluster[0]]) == 0
    assert out.read_bytes() == _expected(data[1], tmp_path)
    assert f"on Dask ({cluster[0]})" in capsys.readouterr().out


def test_the_params_file_dask_section_names_the_scheduler(data, tmp_path, cluster, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(f"dask:\n  address: {cluster[0]}\ntrain: {{}}\n")
    out = tmp_path / "dask.json"
    assert main(["profile", str(data[1]), "--out", str(out), "--params-file", str(params),
                 "--columns", "age,region"]) == 0
    assert out.read_bytes() == _expected(data[1], tmp_path, columns=["age", "region"])
    assert "on Dask" in capsys.readouterr().out
    params.write_text("dask:\n  adress: tcp://127.0.0.1:1\n")
    assert main(["profile", str(data[1]), "--out", str(tmp_path / "x.json"), "--params-file", str(params)]) == 2
    assert "unknown key(s) ['adress']" in capsys.readouterr().err


def test_dask_local_starts_a_cluster_for_the_run(data, tmp_path):
    out = tmp_path / "local.json"
    assert main(["profile", str(data[1]), "--out", str(out), "--dask", "local"]) == 0
    assert out.read_bytes() == _expected(data[1], tmp_path)


def _fails(args: list[str], capsys) -> str:
    assert main(["profile", *args]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1, captured.err
    return captured.err


def test_user_mistakes_are_one_message_and_nothing_is_written(data, tmp_path, capsys, monkeypatch):
    csv, folder = data
    out = tmp_path / "profile.json"
    out.write_text("kept")  # a profile from before: an error must not touch it
    assert "does not exist" in _fails([str(tmp_path / "nope.csv"), "--out", str(out)], capsys)
    assert "lacks column(s) ['nope']" in _fails([str(csv), "--out", str(out), "--columns", "age,nope"], capsys)
    assert "lacks column(s) ['nope']" in _fails([str(folder), "--out", str(out), "--columns", "nope"], capsys)
    assert "categorical=[...] names column(s) ['nope']" in _fails(
        [str(csv), "--out", str(out), "--categorical", "nope"], capsys)
    assert "is a folder, expected a file" in _fails([str(csv), "--out", str(tmp_path)], capsys)
    assert "must be Parquet" in _fails([str(csv), "--out", str(out), "--dask", "tcp://127.0.0.1:9"], capsys)
    monkeypatch.setattr("mlprod.scale.cluster.CONNECT_SECONDS", 2)
    assert "cannot reach the Dask scheduler" in _fails([str(folder), "--out", str(out), "--dask",
                                                        "tcp://127.0.0.1:9"], capsys)
    assert out.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.json"]  # no temporary file left behind


def test_the_single_process_path_imports_no_dask(data, tmp_path):
    import subprocess
    import sys

    code = (f"from mlprod.cli import main; assert main(['profile', {str(data[0])!r}, '--out', "
            f"{str(tmp_path / 'p.json')!r}]) == 0; import sys; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], 'dask imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
