"""The model manifest file format (``model_manifest.yaml``), versions 1 and 2.

A manifest sits beside a model artifact and says what the model is (name, semantic version, input
schema, output), how to trust it (artifact path and sha256) and where it came from (git commit, stage
runs, parameters, data hashes, package versions, previous version). Reading is strict: unknown keys,
missing required fields and wrong types are errors naming the field, and so is a field that becomes a
path or a command argument (artifact.path, md5 hashes, previous.manifest_md5, the git commit) in
anything but its expected form. Version 2 adds two optional fields, written only when used (so a
pipeline's manifest without them stays version 1, byte for byte): ``files``, for a model saved in an
interactive JupyterLab session ``lineage.runs[].interactive``, and ``data[].remote`` (the project's default DVC
remote: name and URL, never credentials) when the project has one. Writing is deterministic (sorted
keys, empty optional fields dropped) and atomic.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from .. import atomic, yamlio
from ..errors import ConfigError, ManifestError

SCHEMA_VERSION = 1
# version 2 adds ``files``, ``lineage.runs[].interactive`` and ``data[].remote``; a manifest without them is still
# written as version 1
FILES_SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST_FILE = "model_manifest.yaml"


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the manifest's folder
    sha256: str
    size: int
    format: str  # "skops"
    class_name: str  # e.g. "sklearn.pipeline.Pipeline"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)  # the model's internal features (after encoding)


@dataclass(frozen=True)
class InputColumn:
    name: str
    dtype: str


@dataclass(frozen=True)
class Output:
    kind: str  # "probability" | "class" | "value"
    description: str = ""
    classes: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Remote:
    """The DVC remote the data can be pulled from (``dvc pull -r NAME``); optional, schema_version 2."""

    name: str
    url: str  # without user, password, query or fragment; a local remote's path relative to the project root


@dataclass(frozen=True)
class DataRef:
    role: str  # "training" | "evaluation" | ...
    path: str
    md5: str  # DVC's content hash (md5 of the file's bytes)
    hash_source: str  # "dvc.lock" (taken from DVC, file not re-read) | "computed"
    dataset_id: str  # "<path>@md5:<first 12 hex>": names this exact version of the data
    rows: int | None = None
    columns: list[str] = field(default_factory=list)
    remote: Remote | None = None  # the project's default DVC remote when the model was saved (mlprod.manifest.remote)


@dataclass(frozen=True)
class GitState:
    dirty: bool
    commit: str | None = None  # None outside git or before the first commit
    diff_sha256: str | None = None  # digest of uncommitted changes (tracked diff + untracked files)
    branch: str | None = None


@dataclass(frozen=True)
class ParameterDifference:
    """A parameter whose value in the notebook's parameters cell was not params.yaml's (interactive runs)."""

    section: str  # the params.yaml section the value lives in (the stage's, or "project")
    cell: Any = None
    params_yaml: Any = None


@dataclass(frozen=True)
class InteractiveRun:
    """How a run from JupyterLab (``init_stage``) differed from the pipeline's; optional, schema_version 2."""

    values: str  # "params.yaml" | "cell": which side of each difference the run used
    outputs: str  # "scratch" | "pipeline": where the stage's declared outputs were written
    differences: dict[str, ParameterDifference] = field(default_factory=dict)
    redirected: dict[str, str] = field(default_factory=dict)  # parameter -> its scratch path


@dataclass(frozen=True)
class StageRun:
    stage: str
    notebook: str
    notebook_sha256: str
    run_id: str | None = None  # None when the notebook ran interactively (JupyterLab)
    run_record: str | None = None
    started_at: str | None = None
    interactive: InteractiveRun | None = None  # set only for a run from JupyterLab (init_stage)


@dataclass(frozen=True)
class Lineage:
    git: GitState
    runs: list[StageRun] = field(default_factory=list)


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    packages: dict[str, str] = field(default_factory=dict)  # distributions the stage imported


@dataclass(frozen=True)
class Previous:
    version: str
    sha256: str  # the previous artifact's sha256
    manifest_md5: str | None = None  # finds the previous manifest in the DVC cache


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    created_at: str
    artifact: Artifact
    inputs: list[InputColumn]
    output: Output
    lineage: Lineage
    environment: Environment
    data: list[DataRef] = field(default_factory=list)
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # per stage
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # per data set ("training", "holdout")
    description: str = ""
    previous: Previous | None = None
    # other files of the model folder the manifest vouches for (name -> sha256), e.g. review_calibration.json:
    # read only after their hash is checked (:mod:`mlprod.manifest.attached`)
    files: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def data_by_role(self, role: str) -> list[DataRef]:
        return [ref for ref in self.data if ref.role == role]

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


def dumps(manifest: Manifest) -> str:
    header = "# mlprod model manifest: written by mlprod, checked before the model is loaded. Do not edit.\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    data = manifest.to_dict()
    interactive = any(run.get("interactive") for run in data.get("lineage", {}).get("runs", []))
    remote = any(ref.get("remote") for ref in data.get("data", []))
    if data.get("files") or interactive or remote:  # older mlprod cannot check them: it must refuse, not ignore them
        data["schema_version"] = max(data["schema_version"], FILES_SCHEMA_VERSION)
    return header + yaml.dump(data, Dumper=dumper, sort_keys=True, default_flow_style=False,
                              allow_unicode=True, width=100)


def write_manifest(manifest: Manifest, folder: str | Path) -> Path:
    return atomic.write_text(Path(folder) / MANIFEST_FILE, dumps(manifest))


def loads(text: str, *, source: str = "<manifest>") -> Manifest:
    try:
        data = yamlio.loads(text, source=source)
    except ConfigError as exc:
        raise ManifestError(str(exc)) from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: expected a mapping of manifest fields, got {type(data).__name__}")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ManifestError(f"{source}: manifest schema_version {version!r} is not supported (this mlprod "
                            f"reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade mlprod or rewrite "
                            "the manifest")
    manifest = _build(Manifest, data, source)
    _check_forms(manifest, source)
    return manifest


_MD5 = re.compile(r"[0-9a-f]{32}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REMOTE_NAME = re.compile(r"[^\x00-\x20\x7f\"]{1,128}")  # shown in `dvc pull -r NAME`
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _check_forms(manifest: Manifest, source: str) -> None:
    """Fields that become paths (or a git argument) must have exactly their expected form: a manifest from
    elsewhere must not lead a reader outside the model folder, the project or the DVC cache."""

    def bad(name: str, value: Any, expected: str) -> ManifestError:
        return ManifestError(f"{source}: {name}: expected {expected}, got {value!r}. mlprod never writes this; "
                             "the manifest was edited or damaged: rebuild the model (dvc repro)")

    if not _inside(manifest.artifact.path):
        raise bad("artifact.path", manifest.artifact.path, "a file path relative to the model folder, without '..'")
    previous = manifest.previous
    if previous is not None and previous.manifest_md5 is not None and not _MD5.fullmatch(previous.manifest_md5):
        raise bad("previous.manifest_md5", previous.manifest_md5, "an md5 (32 lowercase hexadecimal digits)")
    for i, ref in enumerate(manifest.data):
        # data paths are only ever read (and may lie outside the project: earlier versions wrote '../' for
        # such data, and those manifests stay readable); their md5 is what reaches the DVC cache
        if not ref.path or "\0" in ref.path:
            raise bad(f"data[{i}].path", ref.path, "a data file path")
        if not _MD5.fullmatch(ref.md5):
            raise bad(f"data[{i}].md5", ref.md5, "an md5 (32 lowercase hexadecimal digits)")
        if ref.remote is not None and not (_REMOTE_NAME.fullmatch(ref.remote.name) and ref.remote.url
                                           and _PRINTABLE.fullmatch(ref.remote.url)):
            raise bad(f"data[{i}].remote", ref.remote, "a DVC remote name and URL (printable, one line)")
    for name, sha in manifest.files.items():
        if not _FILE_NAME.fullmatch(name) or name in (MANIFEST_FILE, manifest.artifact.path):
            raise bad(f"files.{name}", name, "a file name in the model folder (no folders), other than the "
                      "manifest and the artifact")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise bad(f"files.{name}", sha, "a sha256 (64 lowercase hexadecimal digits)")
    commit = manifest.lineage.git.commit
    if commit is not None and not _COMMIT.fullmatch(commit):
        raise bad("lineage.git.commit", commit, "a full git commit hash (40 or 64 lowercase hexadecimal digits)")


def _inside(path: str) -> bool:
    """A relative path that stays inside its folder (no '..', not absolute, not empty)."""
    pure = PurePosixPath(path)
    return bool(path) and "\0" not in path and not pure.is_absolute() and pure.parts not in ((), (".",)) \
        and ".." not in re.split(r"[/\\]", path)


def read_manifest(folder: str | Path) -> Manifest:
    """Read ``folder/model_manifest.yaml`` (``folder`` may also be the manifest file itself)."""
    path = Path(folder)
    if path.is_dir() or not path.name.endswith((".yaml", ".yml")):
        path = path / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: no model manifest. Models are saved with mlprod.save_model(), which "
                            "writes it; a model without one is not loaded.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc}") from exc
    return loads(text, source=str(path))


def _to_dict(value: Any) -> Any:
    """Plain data for YAML; optional fields that are None or empty are dropped so files stay short."""
    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if item is None or (item in ({}, [], "") and item == default):
                continue
            out[f.name] = _to_dict(item)
        return out
    if isinstance(value, dict):
        return {k: _to_dict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dict(v) for v in value]
    return value


def _build(cls: type, data: Any, source: str, path: str = "") -> Any:
    where = f"{source}: {path}" if path else source
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
    values = {}
    for name, f in fields.items():
        here = f"{path}.{name}" if path else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ManifestError(f"{source}: {here}: required field is missing")
            continue
        values[name] = _convert(hints[name], data[name], source, here)
    return cls(**values)


def _convert(hint: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value, source, path)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, path)
    if origin is list:
        if not isinstance(value, list):
            raise ManifestError(f"{source}: {path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)
        return [_convert(item, v, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ManifestError(f"{source}: {path}: expected a mapping, got {type(value).__name__}")
        _, item = typing.get_args(hint)
        return {str(k): _convert(item, v, source, f"{path}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint in (int, bool, str) and type(value) is hint:
        return value
    raise ManifestError(f"{source}: {path}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
