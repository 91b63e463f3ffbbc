"""The git state a model was built from: commit, dirty flag and a digest of uncommitted changes.

Files the pipeline itself writes do not make the tree dirty: ``dvc.lock``, ``.gitignore`` files (DVC
adds its outputs to them) and every output, metric and plot declared in the project's ``dvc.yaml``.
Anything else that differs from the commit (a modified notebook, an untracked script) does, and its
content goes into ``diff_sha256`` so two builds from the same dirty state can be told apart from
builds from different ones.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from .. import yamlio
from ..errors import ConfigError
from .schema import GitState


def git_state(root: Path) -> GitState:
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if commit is None:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
        return GitState(commit=None, dirty=inside == "true")  # no git, or a repository without commits
    branch = _git(root, "symbolic-ref", "-q", "--short", "HEAD")
    changed = dirty_paths(root)
    if not changed:
        return GitState(commit=commit, dirty=False, branch=branch)
    return GitState(commit=commit, dirty=True, diff_sha256=_digest(root, changed), branch=branch)


def dirty_paths(root: Path) -> list[str]:
    """Paths (relative to ``root``) that differ from HEAD, excluding files the pipeline writes."""
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", strip=False)
    if not status:
        return []
    entries = status.split("\0")
    paths: list[str] = []
    skip_next = False
    for entry in entries:
        if skip_next:  # the source path of a rename
            skip_next = False
            continue
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            skip_next = True
        paths.append(path)
    prefix = _git(root, "rev-parse", "--show-prefix") or ""
    generated = pipeline_outputs(root)
    result = []
    for path in paths:
        rel = path[len(prefix):] if prefix and path.startswith(prefix) else path
        name = rel.rsplit("/", 1)[-1]
        if name in ("dvc.lock", ".gitignore") or any(rel == out or rel.startswith(out + "/") for out in generated):
            continue
        result.append(rel)
    return sorted(result)


def pipeline_outputs(root: Path) -> set[str]:
    """Every out, metric and plot path declared in ``root/dvc.yaml`` (and pipelines/*/dvc.yaml)."""
    found: set[str] = set()
    for dvc_file in [root / "dvc.yaml", *sorted(root.glob("pipelines/*/dvc.yaml"))]:
        if not dvc_file.is_file():
            continue
        try:
            data = yamlio.load_file(dvc_file) or {}
        except ConfigError:
            continue
        base = dvc_file.parent.relative_to(root)
        for spec in (data.get("stages") or {}).values():
            if not isinstance(spec, dict):
                continue
            wdir = base / spec.get("wdir", ".")
            for key in ("outs", "metrics", "plots"):
                for entry in spec.get(key) or ():
                    path = entry if isinstance(entry, str) else next(iter(entry), None) if isinstance(entry, dict) \
                        else None
                    if isinstance(path, str) and "${" not in path:  # normpath: wdir may be ../.. (pipelines/*)
                        found.add(os.path.normpath(wdir / path).replace(os.sep, "/").rstrip("/"))
    return found


def _digest(root: Path, paths: list[str]) -> str:
    digest = hashlib.sha256()
    for rel in paths:
        digest.update(rel.encode("utf-8") + b"\0")
        full = root / rel
        try:
            digest.update(hashlib.sha256(full.read_bytes()).digest() if full.is_file() else b"<deleted>")
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def _git(root: Path, *args: str, strip: bool = True) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout
