"""Verifying a model folder against its manifest, without deserializing the model.

Every check returns a :class:`Check` value; :func:`verify` collects them and :class:`Verification`
says whether the folder passes. The basic checks prove the artifact is the one the manifest
describes (hash, size, only allowed classes and functions, by the same audit that loading uses). Release mode adds what a production release
needs: a clean, committed tree, complete lineage, and data hashes that agree with ``dvc.lock``; a failed
release check names the command that rebuilds the model (:func:`rebuild_command`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .datarefs import locked_md5
from .schema import Manifest, ManifestError, read_manifest
from .store import project_root, verified_artifact_bytes

_PLAIN_REPRO = "(plain `dvc repro` reruns nothing when only git state changed)"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str
    release_only: bool = False


@dataclass(frozen=True)
class Verification:
    folder: Path
    manifest: Manifest
    checks: tuple[Check, ...]
    release: bool

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def verify(folder: str | Path, *, release: bool = False, root: Path | None = None) -> Verification:
    """Check ``folder`` against its manifest. A missing or malformed manifest raises :class:`ManifestError`."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    checks = [_artifact(folder, manifest), *_attached(folder, manifest)]
    if release:
        root = root or project_root()
        rebuild = rebuild_command(manifest, root)
        checks += [_clean_tree(manifest, rebuild), *_lineage_complete(manifest, rebuild), _history(manifest, root),
                   *_data_agrees_with_dvc(manifest, root, rebuild)]
    return Verification(folder=folder, manifest=manifest, checks=tuple(checks), release=release)


def _artifact(folder: Path, manifest: Manifest) -> Check:
    try:
        data = verified_artifact_bytes(folder, manifest)
    except ManifestError as exc:
        return Check("artifact", False, str(exc))
    if len(data) != manifest.artifact.size:
        return Check("artifact", False, f"size {len(data)} != {manifest.artifact.size} in the manifest")
    if manifest.artifact.format == "skops":
        from ..modelfile.skops_io import ModelFileError, audit_model

        try:
            audit_model(data, source=folder / manifest.artifact.path)
        except ModelFileError as exc:
            return Check("artifact", False, str(exc))
    return Check("artifact", True, f"{manifest.artifact.path}: sha256 {manifest.artifact.sha256[:12]}... matches "
                                   f"({manifest.artifact.size:,} bytes, {manifest.artifact.format})")


def _attached(folder: Path, manifest: Manifest) -> list[Check]:
    from .attached import verified_file_bytes

    checks = []
    for name, sha in sorted(manifest.files.items()):
        try:
            verified_file_bytes(folder, manifest, name, fix="rebuild the model (dvc repro)")
        except ManifestError as exc:
            checks.append(Check(f"file {name}", False, str(exc)))
        else:
            checks.append(Check(f"file {name}", True, f"{name}: sha256 {sha[:12]}... matches"))
    return checks


def rebuild_command(manifest: Manifest, root: Path) -> str:
    """The command (in backticks) that rebuilds the model even when only git state changed: ``dvc repro
    --force`` on the dvc.yaml stages that produced it (the manifest's lineage runs). Plain ``dvc repro`` reruns nothing when
    those stages' dependencies are unchanged, and DVC's run cache would bring back the same model."""
    stages = _dvc_stages(manifest, root)
    if not stages:
        return "`dvc repro --force STAGE ...` (naming the dvc.yaml stages that build this model)"
    return f"`dvc repro --force {' '.join(stages)}`"


def _dvc_stages(manifest: Manifest, root: Path) -> list[str]:
    """The root dvc.yaml's stages behind the lineage runs: by stage name, else by the notebook they run."""
    from .. import yamlio
    from ..errors import ConfigError

    try:
        data = yamlio.load_file(root / "dvc.yaml") if (root / "dvc.yaml").is_file() else {}
    except ConfigError:
        data = {}
    stages = (data or {}).get("stages") if isinstance(data, dict) else None
    stages = stages if isinstance(stages, dict) else {}
    found: list[str] = []
    for run in manifest.lineage.runs:
        name = run.stage if run.stage in stages else next(
            (n for n, spec in stages.items() if run.notebook and isinstance(spec, dict)
             and run.notebook in str(spec.get("cmd", "")).split()), None)
        if name and name not in found:
            found.append(name)
    return found


def _clean_tree(manifest: Manifest, rebuild: str) -> Check:
    git = manifest.lineage.git
    if git.commit is None:
        return Check("git", False, "no git commit recorded: the model was built outside git or before the first "
                                   f"commit; commit the project, then rebuild the model from the commit with "
                                   f"{rebuild} {_PLAIN_REPRO}", True)
    if git.dirty:
        return Check("git", False, f"built from a dirty tree at {git.commit[:12]} (uncommitted changes, digest "
                                   f"{(git.diff_sha256 or '')[:12]}); commit the changes, then rebuild the model from "
                                   f"the commit with {rebuild} {_PLAIN_REPRO}", True)
    return Check("git", True, f"built from clean commit {git.commit[:12]}", True)


def _lineage_complete(manifest: Manifest, rebuild: str) -> list[Check]:
    missing = []
    runs = manifest.lineage.runs
    if not runs:
        missing.append("lineage.runs")
    for run in runs:
        if not run.run_id:
            missing.append(f"lineage.runs[{run.stage}].run_id (the notebook ran interactively, not with mlprod run)")
        if not run.notebook_sha256:
            missing.append(f"lineage.runs[{run.stage}].notebook_sha256")
    if not manifest.data_by_role("training"):
        missing.append("data (training)")
    if not manifest.parameters:
        missing.append("parameters")
    if not manifest.environment.packages:
        missing.append("environment.packages")
    if not manifest.metrics:
        missing.append("metrics")
    if missing:
        return [Check("lineage", False, "missing lineage: " + "; ".join(missing) + f". Rebuild the model through the "
                                        f"pipeline, whose stages record it, with {rebuild}", True)]
    return [Check("lineage", True, f"{len(runs)} stage run(s), {len(manifest.data)} data reference(s), "
                                   f"{len(manifest.environment.packages)} packages", True)]


def _history(manifest: Manifest, root: Path) -> Check:
    from .history import version_chain

    try:
        chain = version_chain(manifest, root)
    except ManifestError as exc:
        return Check("history", False, str(exc), True)
    found = f"{len(chain) - 1} previous version(s) found in the DVC cache" if len(chain) > 1 else \
        "first version" if manifest.previous is None else "previous version not in the DVC cache"
    return Check("history", True, found + (f" ({' <- '.join(m.version for m in chain)})" if len(chain) > 1 else ""),
                 True)


def _data_agrees_with_dvc(manifest: Manifest, root: Path, rebuild: str) -> list[Check]:
    checks = []
    for ref in manifest.data:
        locked = locked_md5(ref.path, root, verify_newer=True)  # a fresh checkout writes data after dvc.lock
        if locked is None:
            checks.append(Check(f"data {ref.path}", False, f"{ref.path}: no current entry in {root / 'dvc.lock'}; "
                                "release data must be produced or tracked by DVC (dvc repro / dvc add)", True))
        elif locked != ref.md5:
            checks.append(Check(f"data {ref.path}", False, f"{ref.path}: md5 {ref.md5[:12]}... in the manifest, "
                                f"{locked[:12]}... in dvc.lock; the data changed since this model was built: rebuild "
                                f"it with {rebuild}", True))
        else:
            checks.append(Check(f"data {ref.path}", True, f"{ref.role} data md5 {ref.md5[:12]}... agrees with dvc.lock",
                                True))
    return checks

