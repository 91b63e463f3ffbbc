"""Output paths: every CLI option that writes x every bad target ends in one clear message and exit code 2,
before any work is done and without touching what is there; the atomic writer replaces links instead of
writing through them and refuses devices, named pipes and sockets.

Devices, FIFOs and sockets are made in tmp_path (never /dev); "unwritable" is a path under /proc or a path
below a regular file (we run as root, so permissions would not stop a write).
"""

from __future__ import annotations

import os
import socket
import stat
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprod import atomic, outpaths
from mlprod.cli import main
from mlprod.errors import OutputPathError

NOTEBOOKS = Path(__file__).parent / "notebooks"
SENTINEL = "kept\n"


@pytest.fixture
def work(tmp_path, monkeypatch):
    """tmp_path as the working folder, holding inputs every verb can run on and one of each bad target."""
    for var in ("MLPROD_STAGE", "MLPROD_PARAMS_FILE", "DVC_STAGE", "DVC_ROOT", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200),
                  "y": rng.integers(0, 2, 200)}).to_csv("data.csv", index=False)
    from mlprod.validation import infer_file

    Path("schema.yaml").write_text(infer_file("data.csv"))
    Path("params_simple.ipynb").write_bytes((NOTEBOOKS / "params_simple.ipynb").read_bytes())
    Path("params.yaml").write_text("params_simple:\n  alpha: 0.3\n")
    os.mkfifo("fifo")
    try:
        os.mknod("device", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null, but in tmp_path
    except PermissionError:  # not root: the device cases are skipped
        pass
    server = socket.socket(socket.AF_UNIX)
    server.bind("socket")  # relative: tmp_path may be longer than a socket address allows
    Path("folder").mkdir()
    Path("afile.txt").write_text(SENTINEL)
    Path("real").mkdir()
    (Path("real") / "inside.txt").write_text(SENTINEL)
    os.symlink("real", "linked_folder")
    Path("with_fifo").mkdir()
    yield tmp_path
    server.close()


# (option, kind, argv with the target) for every CLI option that takes an output path
FILE_OPTIONS = {
    "schema infer -o": lambda t: ["schema", "infer", "data.csv", "-o", t, "--force"],
    "validate --summary": lambda t: ["validate", "data.csv", "--schema", "schema.yaml", "--summary", t],
    "validate --details": lambda t: ["validate", "data.csv", "--schema", "schema.yaml", "--details", t],
    "validate --report": lambda t: ["validate", "data.csv", "--schema", "schema.yaml", "--report", t],
    "promote --decision-file": lambda t: ["promote", "toy", "--decision-file", t],
}
FOLDER_OPTIONS = {
    "drift -o": lambda t: ["drift", "data.csv", "data.csv", "--no-progress", "-o", t],
    "card -o": lambda t: ["card", "no-model-needed", "-f", "markdown", "-o", t],
    "run --reports-dir": lambda t: ["run", "params_simple.ipynb", "--no-html", "--reports-dir", t],
}
OPTION_NAMES = {"schema infer -o": "--output", "validate --summary": "--summary", "validate --details": "--details",
                "validate --report": "--report", "promote --decision-file": "--decision-file",
                "drift -o": "--output-dir", "card -o": "--output-dir", "run --reports-dir": "reports folder"}
FOLDER_FILES = {"drift -o": "drift.json", "card -o": "model_card.md", "run --reports-dir": "running"}  # written inside

# (target, what the message says)
BAD_FILE_TARGETS = {
    "fifo": "is a named pipe (FIFO), not a regular file",
    "device": "is a character device, not a regular file",
    "socket": "is a socket, not a regular file",
    "folder": "is a folder, expected a file",
    "afile.txt/out.json": "afile.txt is a file, not a folder",
    "afile.txt/sub/out.json": "afile.txt is a file, not a folder",
    "/proc/mlprod-no-such-folder/out.json": "cannot write in /proc",
}
BAD_FOLDER_TARGETS = {
    "fifo": "expected a folder, found a named pipe (FIFO)",
    "device": "expected a folder, found a character device",
    "socket": "expected a folder, found a socket",
    "afile.txt": "expected a folder, found a file",
    "afile.txt/out": "afile.txt is a file, not a folder",
    "/proc/mlprod-no-such-folder/out": "cannot write in /proc",
    "linked_folder": "is a symbolic link (to real)",
    "-": "expected a folder, got '-'",
}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): type, and content of regular files."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        content = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        out[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), content)
    return out


def need(target: str) -> None:
    if target == "device" and not os.path.lexists(target):
        pytest.skip("making a device node needs root")


def run_cli(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err


def assert_refused(work, capsys, argv, verb, option, message):
    before = snapshot(work)
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mlprod {verb}: {option}"), err
    assert message in lines[0], err
    assert snapshot(work) == before, "something was created, replaced or removed"


@pytest.mark.parametrize("target", BAD_FILE_TARGETS)
@pytest.mark.parametrize("option", FILE_OPTIONS)
def test_every_file_option_refuses_every_bad_target(work, capsys, option, target):
    need(target)
    argv = FILE_OPTIONS[option](target)
    assert_refused(work, capsys, argv, argv[0], OPTION_NAMES[option], BAD_FILE_TARGETS[target])


@pytest.mark.parametrize("target", [*BAD_FOLDER_TARGETS, "with_fifo"])
@pytest.mark.parametrize("option", FOLDER_OPTIONS)
def test_every_folder_option_refuses_every_bad_target(work, capsys, option, target):
    need(target)
    if target == "with_fifo":  # a named pipe where the verb writes one of its files (or folders) inside the folder
        os.mkfifo(work / "with_fifo" / FOLDER_FILES[option])
        message = "is a named pipe (FIFO), " + ("expected a folder" if option == "run --reports-dir" else
                                                "not a regular file")
    else:
        message = BAD_FOLDER_TARGETS[target]
    argv = FOLDER_OPTIONS[option](target)
    assert_refused(work, capsys, argv, argv[0], OPTION_NAMES[option], message)
    if option == "run --reports-dir":
        assert not (work / "reports").exists()


@pytest.mark.parametrize("option", ["schema infer -o", "validate --summary", "validate --report"])
def test_a_good_file_target_is_written_and_links_there_are_replaced(work, capsys, option):
    cache = work / "cache_copy"
    cache.write_text(SENTINEL)
    os.symlink("cache_copy", "out_link")  # what a DVC symlink cache leaves in the workspace
    os.link("cache_copy", "out_hard")  # ... and a hardlink cache
    for target in ("new/out", "out_link", "out_hard"):
        code, err = run_cli(FILE_OPTIONS[option](target), capsys)
        assert code == 0, err
        assert stat.S_ISREG(os.lstat(target).st_mode) and Path(target).read_text() != SENTINEL
    assert cache.read_text() == SENTINEL and os.stat(cache).st_nlink == 1


def test_a_good_folder_target_is_written(work, capsys):
    code, err = run_cli(FOLDER_OPTIONS["drift -o"]("new/report"), capsys)
    assert code == 0, err
    assert (work / "new" / "report" / "drift.json").is_file()


def test_dash_writes_one_file_option_to_stdout(work, capsys):
    assert main(["schema", "infer", "data.csv", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith(Path("schema.yaml").read_text().splitlines()[0])
    assert main(["validate", "data.csv", "--schema", "schema.yaml", "--summary", "-"]) == 0
    captured = capsys.readouterr()
    assert '"status": "passed"' in captured.out and "written: standard output" in captured.err
    assert not Path("-").exists()


def test_only_one_option_can_write_to_stdout(work, capsys):
    code, err = run_cli(["validate", "data.csv", "--schema", "schema.yaml", "--summary", "-", "--report", "-"], capsys)
    assert code == 2
    assert err.strip() == ("mlprod validate: --summary and --report are both '-': only one output can go to "
                           "standard output")


def test_schema_infer_does_not_replace_a_dangling_link_without_force(work, capsys):
    os.symlink("gone.yaml", "draft.yaml")
    code, err = run_cli(["schema", "infer", "data.csv", "-o", "draft.yaml"], capsys)
    assert code == 2 and "already exists" in err and os.path.islink("draft.yaml")


# -- the atomic writer (every library writer goes through it) ---------------------------------------------

@pytest.mark.parametrize("target, message", [("fifo", "named pipe"), ("device", "character device"),
                                             ("socket", "a socket"), ("folder", "is a folder")])
def test_atomic_write_refuses_what_is_not_a_regular_file(work, target, message):
    need(target)
    mode = os.lstat(target).st_mode
    with pytest.raises(OutputPathError, match=message):
        atomic.write_text(target, "x")
    assert os.lstat(target).st_mode == mode
    assert not [p for p in work.iterdir() if p.name.startswith(f".{target}.")], "a temporary file was left"


@pytest.mark.parametrize("target", ["afile.txt/x.json", "/proc/mlprod-no-such-folder/x.json", "/proc/version"])
def test_atomic_write_to_an_unwritable_place_is_a_clear_error(work, target):
    with pytest.raises(OutputPathError, match="cannot be written"):
        atomic.write_json(target, {"a": 1})
    assert Path("afile.txt").read_text() == SENTINEL


def test_atomic_write_replaces_a_symlink_and_keeps_the_file_it_pointed_to(work):
    os.symlink("afile.txt", "link.json")
    atomic.write_json("link.json", {"a": 1})
    assert not os.path.islink("link.json") and Path("link.json").read_text() == '{\n  "a": 1\n}\n'
    assert Path("afile.txt").read_text() == SENTINEL


def test_atomic_write_replaces_a_hard_link_and_keeps_the_other_name(work):
    os.link("afile.txt", "hard.json")
    atomic.write_json("hard.json", {"a": 1})
    assert Path("afile.txt").read_text() == SENTINEL and os.stat("afile.txt").st_nlink == 1
    assert Path("hard.json").read_text() == '{\n  "a": 1\n}\n'


def test_replace_dir_moves_a_link_away_without_touching_the_folder_it_pointed_to(work):
    staged = work / "staged"
    staged.mkdir()
    (staged / "new.txt").write_text("new\n")
    atomic.replace_dir(staged, work / "linked_folder")
    assert (work / "linked_folder").is_dir() and not (work / "linked_folder").is_symlink()
    assert sorted(p.name for p in (work / "linked_folder").iterdir()) == ["new.txt"]
    assert (work / "real" / "inside.txt").read_text() == SENTINEL


def test_replace_dir_replaces_a_dangling_link(work):
    os.symlink("nowhere", "dangling")
    staged = work / "staged"
    staged.mkdir()
    atomic.replace_dir(staged, work / "dangling")
    assert (work / "dangling").is_dir() and not (work / "dangling").is_symlink()


def test_checks_leave_nothing_behind(work):
    outpaths.check_dir("folder", files=["a.json"])
    outpaths.check_file("new/deeper/x.json")
    assert not (work / "new").exists()
    assert not [p for p in work.rglob(".mlprod-write-check*")]



@pytest.mark.parametrize("inner, make, message", [
    ("running", lambda p: p.write_text(SENTINEL), "running is a file, expected a folder"),
    ("notebooks/params_simple", lambda p: os.symlink(p.parents[2] / "real", p), "is a symbolic link, expected a folder"),
    ("failed/params_simple", lambda p: os.mkfifo(p), "is a named pipe (FIFO), expected a folder"),
])
def test_run_refuses_a_reports_folder_whose_stage_folders_are_not_folders(work, capsys, inner, make, message):
    target = work / "out" / inner
    target.parent.mkdir(parents=True)
    make(target)
    assert_refused(work, capsys, FOLDER_OPTIONS["run --reports-dir"]("out"), "run", "reports folder", message)
