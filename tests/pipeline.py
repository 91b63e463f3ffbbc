"""Helpers for end-to-end tests: a temporary copy of the project under git, and running commands in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# .dvc/.gitignore keeps DVC's cache and .dvc/config.local (credentials) out of the copy's commits, as in a clone
PROJECT_FILES = ("params.yaml", "dvc.yaml", "schema.yaml", "notebooks", "pipelines", ".dvc/config", ".dvc/.gitignore",
                 ".dvc/plots", ".dvcignore", ".gitignore")
GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com")


def sh(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` with this environment's tools first on PATH and no mlprod/MLflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLPROD_", "DVC_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh([str(BIN / "dvc"), *args], project, check=check)


def repro(project: Path, *targets: str, check: bool = True) -> subprocess.CompletedProcess:
    return dvc(project, "repro", *targets, check=check)


def ran(output: str) -> set[str]:
    """The stages ``dvc repro`` ran, from its output."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def set_param(project: Path, old: str, new: str) -> None:
    params = project / "params.yaml"
    text = params.read_text()
    assert old in text, f"{old!r} not in params.yaml"
    params.write_text(text.replace(old, new, 1))


def copy_project(root: Path, *, n_rows: int = 8000) -> Path:
    """A git repository at ``root`` holding a copy of the project with a smaller demo dataset, committed."""
    for name in PROJECT_FILES:
        source, target = REPO / name, root / name
        if not source.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy2(source, target)
    set_param(root, "n_rows: 50000", f"n_rows: {n_rows}")
    sh(["git", "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh([*GIT, "commit", "-qm", "copy"], root)
    return root
