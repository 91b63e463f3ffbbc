"""Rebuilding a model from its recorded commit and data, and saying whether it came out the same.

``reproduce(folder)`` checks out the manifest's commit into a temporary git worktree that shares the
project's DVC cache (so DVC-tracked inputs are available without a download), reruns the stages that
produced the model with ``dvc repro --force``, and compares the rebuilt manifest with the recorded
one: artifact sha256, metrics, training data hashes, parameters and package versions. When the rebuild fails or
its data differs, the manifest's data missing from the DVC cache is listed with the ``dvc pull -r NAME`` of the
remote the manifest records (docs/team.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MlprodError
from .datarefs import project_relative, cache_path
from .schema import Manifest, read_manifest
from .store import project_root

logger = logging.getLogger(__name__)


class ReproduceError(MlprodError):
    """The model could not be rebuilt (no commit recorded, git or DVC failed)."""


@dataclass(frozen=True)
class Difference:
    what: str  # "artifact" | "metric" | "data" | "parameter" | "package"
    name: str
    recorded: object
    rebuilt: object


@dataclass(frozen=True)
class Reproduction:
    folder: str
    commit: str
    recorded: Manifest
    rebuilt: Manifest
    differences: list[Difference] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kept: str | None = None  # the rebuild's git worktree, when asked to keep it

    @property
    def identical(self) -> bool:
        """Same artifact bytes and the same metrics (package or data differences are listed separately)."""
        return not any(d.what in ("artifact", "metric") for d in self.differences)


def reproduce(folder: str | Path, *, root: Path | None = None, keep: bool = False) -> Reproduction:
    root = (root or project_root()).resolve()
    folder = Path(folder)
    recorded = read_manifest(folder)
    commit = recorded.lineage.git.commit
    if not commit:
        raise ReproduceError(f"{folder}: the manifest records no git commit, so there is nothing to rebuild from; "
                             "commit the project and retrain with dvc repro")
    warnings = []
    if recorded.lineage.git.dirty:
        warnings.append(f"the model was built from uncommitted changes (digest {recorded.lineage.git.diff_sha256}); "
                        f"the rebuild uses commit {commit[:12]} without them")
    stages = [run.stage for run in recorded.lineage.runs if run.run_id]
    if not stages:
        raise ReproduceError(f"{folder}: the manifest names no pipeline stage run (the model was saved from an "
                             "interactive session); rebuild it with dvc repro first")
    rel_folder = project_relative(folder if folder.is_absolute() else Path.cwd() / folder, root)
    top = _git(root, "rev-parse", "--show-toplevel").strip()
    sub = project_relative(root, Path(top))
    tree = Path(tempfile.mkdtemp(prefix="mlprod-reproduce-"))  # empty: git adds the worktree right here
    try:
        _git(root, "worktree", "add", "--detach", "--force", str(tree), commit)
        project = tree / sub if sub != "." else tree
        if (root / ".dvc" / "cache").is_dir():
            _dvc(project, "cache", "dir", "--local", str(root / ".dvc" / "cache"))
            _dvc(project, "checkout", "--allow-missing", check=False)
        logger.info("rebuilding %s at %s: dvc repro --force %s", rel_folder, commit[:12], stages[-1])
        try:
            _dvc(project, "repro", "--force", stages[-1])
        except ReproduceError as exc:
            raise ReproduceError("\n".join([str(exc), *missing_data(recorded, root)])) from exc
        rebuilt = read_manifest(project / rel_folder)
        differences = compare(recorded, rebuilt)
        if any(d.what == "data" for d in differences):
            warnings += missing_data(recorded, root)
        return Reproduction(folder=str(folder), commit=commit, recorded=recorded, rebuilt=rebuilt,
                            differences=differences, warnings=warnings, kept=str(tree) if keep else None)
    except MlprodError as exc:
        if keep and tree.is_dir():
            raise ReproduceError(f"{exc}\n  {_kept_note(tree)}") from exc
        raise
    finally:
        if not (keep and tree.is_dir()):  # kept: the worktree stays registered, so git keeps its files
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=root, capture_output=True)
            shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True)


def missing_data(manifest: Manifest, root: Path) -> list[str]:
    """What to pull for the manifest's data that neither the project nor its DVC cache holds (one line each)."""
    lines = []
    for ref in manifest.data:
        if cache_path(root, ref.md5).is_file():
            continue
        where = (f"pull it from the DVC remote it was recorded with: dvc pull -r {ref.remote.name} (remote URL "
                 f"{ref.remote.url}; in a checkout of {_short_commit(manifest)} if dvc.lock changed since)"
                 if ref.remote else "the manifest names no DVC remote: dvc pull from the remote that holds it")
        lines.append(f"  data {ref.role} {ref.path} (md5 {ref.md5}) is not in this clone's DVC cache; {where}")
    return lines


def _short_commit(manifest: Manifest) -> str:
    return (manifest.lineage.git.commit or "the recorded commit")[:12]


def _kept_note(tree: Path) -> str:
    return f"rebuild kept for inspection in {tree} (remove it with: git worktree remove --force {tree})"


def compare(recorded: Manifest, rebuilt: Manifest) -> list[Difference]:
    diffs: list[Difference] = []
    if recorded.artifact.sha256 != rebuilt.artifact.sha256:
        diffs.append(Difference("artifact", recorded.artifact.path, recorded.artifact.sha256, rebuilt.artifact.sha256))
    diffs += _mapping_diff("metric", _flatten(recorded.metrics), _flatten(rebuilt.metrics))
    diffs += _mapping_diff("data", {f"{d.role} {d.path}": d.md5 for d in recorded.data},
                           {f"{d.role} {d.path}": d.md5 for d in rebuilt.data})
    diffs += _mapping_diff("parameter", _flatten(recorded.parameters), _flatten(rebuilt.parameters))
    diffs += _mapping_diff("package", recorded.environment.packages, rebuilt.environment.packages)
    return diffs


def render_text(result: Reproduction) -> str:
    verdict = "identical" if result.identical else "DIFFERENT"
    lines = [f"{result.recorded.name} {result.recorded.version} rebuilt from commit {result.commit[:12]}: {verdict}",
             f"  artifact sha256 recorded {result.recorded.artifact.sha256[:16]}  rebuilt "
             f"{result.rebuilt.artifact.sha256[:16]}"]
    lines += [f"  warning: {w}" for w in result.warnings]
    for diff in result.differences:
        lines.append(f"  {diff.what} {diff.name}: recorded {diff.recorded!r}, rebuilt {diff.rebuilt!r}")
    if result.identical and not result.differences:
        lines.append("  metrics, data hashes, parameters and package versions are the same")
    if result.kept:
        lines.append(f"  {_kept_note(Path(result.kept))}")
    return "\n".join(lines)


def _flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _mapping_diff(what: str, old: dict, new: dict) -> list[Difference]:
    return [Difference(what, k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReproduceError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    for var in ("MLPROD_STAGE", "MLPROD_RUN", "MLPROD_PARAMS_FILE", "DVC_STAGE", "DVC_ROOT"):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ReproduceError(f"dvc {' '.join(args)} failed in the rebuild worktree:\n{tail}")
    return done

