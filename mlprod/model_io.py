"""Saving and loading scikit-learn models with skops: no pickle, deterministic bytes.

skops stores an estimator as a zip of JSON and ``.npy`` members and, on load, refuses object types
that are not trusted. mlprod trusts the types of scikit-learn, NumPy and SciPy and nothing else, and
rewrites the zip with fixed timestamps and sorted members so the same model gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

from . import atomic
from .errors import MlprodError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
_EPOCH = (1980, 1, 1, 0, 0, 0)


class ModelFileError(MlprodError):
    """A model file is missing, corrupt or contains object types mlprod does not trust."""


def dumps_model(model: Any) -> bytes:
    """Serialise ``model`` with skops into deterministic bytes."""
    import skops.io as sio

    return _canonical_zip(sio.dumps(model))


def save_model(model: Any, path: str | Path) -> str:
    """Write ``model`` to ``path`` atomically; returns the file's sha256."""
    data = dumps_model(model)
    atomic.write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_model(path: str | Path, *, expected_sha256: str | None = None) -> Any:
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
    return loads_model(data, source=path)


def loads_model(data: bytes, *, source: str | Path = "<bytes>") -> Any:
    """Build a model from skops bytes, refusing any object type mlprod does not trust."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt file
        raise ModelFileError(f"{source}: not a readable skops model file ({exc})") from exc
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ModelFileError(f"{source}: contains object types mlprod does not trust: {', '.join(refused)}. "
                             "Only scikit-learn, NumPy and SciPy types are loaded.")
    return sio.loads(data, trusted=untrusted)


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
