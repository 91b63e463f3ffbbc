"""Saving and loading scikit-learn models with skops: no pickle, deterministic bytes.

skops stores an estimator as a zip of JSON and ``.npy`` members. Before skops builds anything, the
file's object tree is audited against an exact allow-list (:mod:`.trust`, :mod:`.audit`); after it
is built, its trees are bounds-checked (:mod:`.structure`). Saving rewrites the zip with fixed
timestamps and sorted members so the same model gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import ModelFileError
from .audit import Audit, audit_bytes
from .trust import TrustPolicy, project_policy

_EPOCH = (1980, 1, 1, 0, 0, 0)
__all__ = ["ModelFileError", "audit_model", "dumps_model", "load_model", "loads_model", "save_model"]


def dumps_model(model: Any) -> bytes:
    """Serialise ``model`` with skops into deterministic bytes."""
    import skops.io as sio

    return _canonical_zip(sio.dumps(model))


def save_model(model: Any, path: str | Path) -> str:
    """Write ``model`` to ``path`` atomically; returns the file's sha256."""
    data = dumps_model(model)
    atomic.write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_model(path: str | Path, *, expected_sha256: str | None = None, policy: TrustPolicy | None = None) -> Any:
    """Load a skops model file, checking its hash (when given) and its types before building objects."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: model file not found; run the stage that trains it") from exc
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ModelFileError(f"{path}: sha256 is {actual}, expected {expected_sha256}; the file was changed "
                                 "after it was recorded. Refusing to load it; retrain or restore the model.")
    return loads_model(data, source=path, policy=policy)


def audit_model(data: bytes, *, source: str | Path = "<bytes>", policy: TrustPolicy | None = None) -> Audit:
    """Audit skops bytes without building anything; raises :class:`ModelFileError` when the file is refused.

    ``policy`` defaults to the project's (``model_files.trusted_types`` in params.yaml).
    """
    policy = policy if policy is not None else project_policy()
    try:
        audit = audit_bytes(data, policy)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt or hostile file
        raise ModelFileError(f"{source}: not a readable skops model file ({type(exc).__name__}: {exc})") from exc
    if not audit.passed:
        listed = "; ".join(str(r) for r in audit.refusals)
        raise ModelFileError(
            f"{source}: refused, nothing was loaded: the file uses {listed}. mlprod builds only allowed classes "
            "and references only allowed functions, by exact name. If this is your own model and it needs such a "
            "name, add it to model_files.trusted_types in params.yaml (docs/model_files.md).")
    return audit


def loads_model(data: bytes, *, source: str | Path = "<bytes>", policy: TrustPolicy | None = None) -> Any:
    """Build a model from skops bytes after :func:`audit_model`, then bounds-check its trees."""
    import skops.io as sio

    from .structure import check_trees

    audit = audit_model(data, source=source, policy=policy)
    try:
        model = sio.loads(data, trusted=list(audit.skops_trusted))
    except Exception as exc:  # noqa: BLE001 - a file that passed the audit but does not build
        raise ModelFileError(f"{source}: the model could not be built ({type(exc).__name__}: {exc}); the file is "
                             "damaged or was written by another scikit-learn version. Retrain the model.") from exc
    problems = check_trees(model)
    if problems:
        raise ModelFileError(f"{source}: refused: its trees are malformed ({'; '.join(problems[:5])}). A model "
                             "written by scikit-learn never is; the file was crafted or damaged. Retrain the model.")
    return model


def _canonical_zip(data: bytes) -> bytes:
    """Rewrite a skops zip so equal models give equal bytes.

    skops names array members and ``__id__`` fields after ``id()`` of the object (a memory address)
    and stamps the current time on each member; both are renumbered in order of first appearance in
    ``schema.json`` and members get a fixed date.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        members = {name: src.read(name) for name in src.namelist()}
    schema = members.pop("schema.json").decode("utf-8")
    renames: dict[str, str] = {}
    for match in re.finditer(r'"([^"/]+\.npy)"', schema):
        old = match.group(1)
        if old in members and old not in renames:
            renames[old] = f"{len(renames):06d}.npy"
    schema = re.sub(r'"([^"/]+\.npy)"', lambda m: f'"{renames.get(m.group(1), m.group(1))}"', schema)
    ids: dict[str, str] = {}  # object ids (memory addresses) keep their identity relation, not their value
    schema = re.sub(r'"__id__": (\d+)', lambda m: f'"__id__": {ids.setdefault(m.group(1), str(len(ids) + 1))}',
                    schema)
    canonical = {renames.get(name, name): content for name, content in members.items()}
    canonical["schema.json"] = schema.encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(canonical):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, canonical[name])
    return out.getvalue()
