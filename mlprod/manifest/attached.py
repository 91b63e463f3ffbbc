"""Files attached to a model folder and vouched for by its manifest (``files: {name: sha256}``).

A model folder may hold more than the artifact: a file a later stage computed for this model (the evaluate stage's
``review_calibration.json``) must be as trustworthy as the model itself. The manifest records each such file's
sha256, and :func:`verified_file_bytes` returns a file's bytes only when they match; a registered version carries
the files in its run, and the registry vouches for the manifest (tags ``mlprod.artifact_sha256``,
``mlprod.manifest_sha256``). Files the manifest does not name (such as ``reference_profile.json``) are not covered.

:func:`attach_files` adds files to an existing folder: each file is written atomically, then the manifest; a crash
between the two leaves a file the manifest does not vouch for, which is refused, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Mapping

from .. import atomic
from .schema import MANIFEST_FILE, Manifest, ManifestError, read_manifest, write_manifest


def with_files(manifest: Manifest, files: Mapping[str, bytes]) -> Manifest:
    """``manifest`` also vouching for ``files`` (name -> bytes), sorted by name."""
    for name in files:
        if Path(name).name != name or name in (MANIFEST_FILE, manifest.artifact.path) or name.startswith("."):
            raise ManifestError(f"attached file {name!r}: expected a plain file name in the model folder, other than "
                                f"{MANIFEST_FILE} and the artifact")
    recorded = {**manifest.files, **{name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    return dataclasses.replace(manifest, files=dict(sorted(recorded.items())))


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for name, data in sorted(files.items()):
        atomic.write_bytes(folder / name, data)


def attach_files(model_dir: str | Path, files: Mapping[str, bytes]) -> Manifest:
    """Write ``files`` into ``model_dir`` and record them in its manifest; returns the manifest written."""
    model_dir = Path(model_dir)
    manifest = with_files(read_manifest(model_dir), files)
    write_files(model_dir, files)
    write_manifest(manifest, model_dir)
    return manifest


def verified_file_bytes(model_dir: str | Path, manifest: Manifest, name: str, *, fix: str) -> bytes:
    """The bytes of ``model_dir/name`` after checking them against the manifest's record; a ManifestError naming
    the file and ``fix`` (how to write it again) when it is missing, not recorded or changed."""
    path = Path(model_dir) / name
    expected = manifest.files.get(name)
    if expected is None:
        present = "is there but " if path.is_file() else ""
        raise ManifestError(f"{path} {present}is not recorded in {Path(model_dir) / MANIFEST_FILE} (files: "
                            f"{', '.join(sorted(manifest.files)) or 'none'}), so it cannot be trusted; {fix}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} is missing; the manifest records it (sha256 {expected[:12]}...); {fix}") from exc
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc}); {fix}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ManifestError(f"{path}: sha256 {actual[:12]}... does not match the manifest ({expected[:12]}...); the "
                            f"file was changed after it was written. Refusing it; {fix}")
    return data
