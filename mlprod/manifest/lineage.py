"""The lineage of a model as a value: model -> stage runs -> notebooks at commit -> data -> parameters.

:func:`trace` gathers it (checking each notebook against the recorded commit); :func:`render_text`
prints it as a tree for ``mlprod lineage``; :func:`to_dict` gives the same for ``--json``.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .history import version_chain
from .schema import Manifest, read_manifest
from .store import project_root


@dataclass(frozen=True)
class NotebookAtCommit:
    stage: str
    notebook: str
    run_id: str | None
    notebook_sha256: str
    at_commit: str  # "matches" | "differs" | "absent" | "unknown"
    run_record: str | None
    parameters: dict[str, Any]
    interactive: dict[str, Any] | None = None  # lineage.runs[].interactive of the manifest (JupyterLab runs)


@dataclass(frozen=True)
class Lineage:
    folder: str
    manifest: Manifest
    versions: list[tuple[str, str]]  # (version, artifact sha256), newest first
    notebooks: list[NotebookAtCommit]


def trace(folder: str | Path, *, root: Path | None = None) -> Lineage:
    root = root or project_root()
    manifest = read_manifest(folder)
    commit = manifest.lineage.git.commit
    notebooks = [NotebookAtCommit(stage=run.stage, notebook=run.notebook, run_id=run.run_id,
                                  notebook_sha256=run.notebook_sha256,
                                  at_commit=_notebook_at_commit(root, commit, run.notebook, run.notebook_sha256),
                                  run_record=run.run_record, parameters=manifest.parameters.get(run.stage, {}),
                                  interactive=asdict(run.interactive) if run.interactive else None)
                 for run in manifest.lineage.runs]
    versions = [(m.version, m.artifact.sha256) for m in version_chain(manifest, root)]
    if manifest.previous and len(versions) == 1:
        versions.append((manifest.previous.version, manifest.previous.sha256))
    return Lineage(folder=str(folder), manifest=manifest, versions=versions, notebooks=notebooks)


def to_dict(lineage: Lineage) -> dict[str, Any]:
    m = lineage.manifest
    return {"model": {"name": m.name, "version": m.version, "folder": lineage.folder, "artifact": m.artifact.path,
                      "sha256": m.artifact.sha256, "created_at": m.created_at},
            "versions": [{"version": v, "sha256": s} for v, s in lineage.versions],
            "git": asdict(m.lineage.git),
            "runs": [_without_empty_interactive(asdict(n)) for n in lineage.notebooks],
            "data": [{k: v for k, v in asdict(d).items() if k != "remote" or v is not None} for d in m.data],
            "environment": asdict(m.environment)}


def render_text(lineage: Lineage) -> str:
    m = lineage.manifest
    git = m.lineage.git
    state = "no git commit" if not git.commit else (
        f"commit {git.commit[:12]}" + (f" ({git.branch})" if git.branch else "")
        + (f", DIRTY (uncommitted changes {git.diff_sha256[:12] if git.diff_sha256 else ''})" if git.dirty
           else ", clean"))
    lines = [f"model {m.name} {m.version}  {lineage.folder}/{m.artifact.path}  sha256 {m.artifact.sha256[:16]}",
             "├─ versions: " + " <- ".join(v for v, _ in lineage.versions),
             f"├─ code: {state}",
             "├─ stage runs"]
    for i, nb in enumerate(lineage.notebooks):
        last = i == len(lineage.notebooks) - 1
        branch, pad = ("└─", "   ") if last else ("├─", "│  ")
        run = f"run {nb.run_id[:12]}" if nb.run_id else "interactive run (no run record)"
        lines.append(f"│  {branch} {nb.stage}: {run}")
        note = {"matches": "same as at the commit", "differs": "DIFFERS from the commit",
                "absent": "not in the commit", "unknown": "commit not available"}[nb.at_commit]
        lines.append(f"│  {pad} notebook {nb.notebook} sha256 {nb.notebook_sha256[:12] or '?'} ({note})")
        if nb.run_record:
            lines.append(f"│  {pad} run record {nb.run_record}")
        if nb.interactive:
            lines.append(f"│  {pad} {_interactive_text(nb.interactive)}")
        if nb.parameters:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in sorted(nb.parameters.items()))
            lines.append(f"│  {pad} parameters: {shown}")
    lines.append("├─ data")
    for i, ref in enumerate(m.data):
        branch = "└─" if i == len(m.data) - 1 else "├─"
        shape = f"{ref.rows:,} rows" if ref.rows is not None else "rows unknown"
        if ref.columns:
            shape += f" x {len(ref.columns)} columns"
        lines.append(f"│  {branch} {ref.role}: {ref.dataset_id} ({shape}; hash from {ref.hash_source})")
        if ref.remote is not None:
            pad = "   " if i == len(m.data) - 1 else "│  "
            lines.append(f"│  {pad} DVC remote {ref.remote.name}: {ref.remote.url} (dvc pull -r {ref.remote.name})")
    pkgs = m.environment.packages
    key = [f"{n} {pkgs[n]}" for n in ("scikit-learn", "numpy", "pandas") if n in pkgs]
    lines.append(f"└─ environment: Python {m.environment.python} on {m.environment.platform}; "
                 f"{len(pkgs)} packages imported ({', '.join(key)})")
    return "\n".join(lines)


def _notebook_at_commit(root: Path, commit: str | None, notebook: str, sha256: str) -> str:
    if not commit or not sha256 or notebook.startswith("<"):
        return "unknown"
    prefix = _git_prefix(root)
    try:
        done = subprocess.run(["git", "show", f"{commit}:{prefix}{notebook}"], cwd=root, capture_output=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if done.returncode != 0:
        verify = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True)
        return "absent" if verify.returncode == 0 else "unknown"
    return "matches" if hashlib.sha256(done.stdout).hexdigest() == sha256 else "differs"


def _git_prefix(root: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--show-prefix"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _without_empty_interactive(run: dict[str, Any]) -> dict[str, Any]:
    """``mlprod lineage --json`` of a pipeline run stays as it was: the key appears only for interactive runs."""
    if run.get("interactive") is None:
        run.pop("interactive", None)
    return run


def _interactive_text(interactive: dict[str, Any]) -> str:
    differences = interactive.get("differences") or {}
    values = "the cell's values" if interactive.get("values") == "cell" else "params.yaml's values"
    text = f"interactive: ran with {values}"
    if differences:
        text += "; differed from params.yaml: " + ", ".join(
            f"{name} (cell {_short(d['cell'])}, [{d['section']}] {_short(d['params_yaml'])})"
            for name, d in sorted(differences.items()))
    outputs = "scratch/ (not the pipeline's outputs)" if interactive.get("outputs") == "scratch" else "the pipeline's"
    return text + f"; outputs written to {outputs}"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
