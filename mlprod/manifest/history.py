"""Finding earlier versions of a model: the manifest in place, or the one DVC cached for the same output.

``dvc repro`` deletes a stage's outputs before it reruns the stage, so the previous manifest is usually
gone from the workspace when a model is retrained. DVC still knows it: ``dvc.lock`` holds the hash of
the model folder as last built, and the folder's listing in the DVC cache names the manifest's
object. Every manifest records its predecessor's md5, so the chain of versions can be walked back
through the cache as far as it holds them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from .datarefs import project_relative, cache_path, lock_outputs
from .schema import MANIFEST_FILE, Manifest, ManifestError, dumps, loads, read_manifest

logger = logging.getLogger(__name__)


def find_previous(model_dir: Path, root: Path) -> Manifest | None:
    """The manifest of the model last saved to ``model_dir``, or None for a first version."""
    if (model_dir / MANIFEST_FILE).is_file():
        try:
            return read_manifest(model_dir)
        except ManifestError as exc:
            logger.warning("ignoring the unreadable previous manifest: %s", exc)
            return None
    md5 = _locked_manifest_md5(model_dir, root)
    return cached_manifest(root, md5) if md5 else None


def cached_manifest(root: Path, md5: str) -> Manifest | None:
    path = cache_path(root, md5)
    try:
        return loads(path.read_text(encoding="utf-8"), source=f"DVC cache {path}")
    except FileNotFoundError:
        return None
    except (OSError, ManifestError) as exc:
        logger.warning("ignoring an unreadable cached manifest: %s", exc)
        return None


def version_chain(manifest: Manifest, root: Path, limit: int = 50) -> list[Manifest]:
    """``manifest`` followed by its predecessors found in the DVC cache (newest first).

    A chain that comes back to a manifest already in it (an edited ``previous.manifest_md5``) raises
    :class:`ManifestError` naming the versions in the loop.
    """
    chain = [manifest]
    seen = [hashlib.md5(dumps(manifest).encode("utf-8"), usedforsecurity=False).hexdigest()]
    while len(chain) < limit:
        previous = chain[-1].previous
        if previous is None or not previous.manifest_md5:
            break
        if previous.manifest_md5 in seen:
            start = seen.index(previous.manifest_md5)
            loop = " <- ".join([m.version for m in chain[start:]] + [chain[start].version])
            raise ManifestError(f"{manifest.name} {manifest.version}: the chain of previous versions loops: {loop} "
                                f"(manifest md5 {previous.manifest_md5} comes back after {len(chain) - start} "
                                "step(s)). A previous.manifest_md5 was edited; the version history cannot be trusted")
        found = cached_manifest(root, previous.manifest_md5)
        if found is None:
            break
        chain.append(found)
        seen.append(previous.manifest_md5)
    return chain


def _locked_manifest_md5(model_dir: Path, root: Path) -> str | None:
    rel = project_relative(model_dir if model_dir.is_absolute() else root / model_dir, root)
    for out in lock_outputs(root):
        md5 = out.get("md5")
        if str(out.get("path", "")).rstrip("/") != rel or not isinstance(md5, str) or not md5.endswith(".dir"):
            continue
        try:
            listing = json.loads(cache_path(root, md5).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for entry in listing if isinstance(listing, list) else ():
            if entry.get("relpath") == MANIFEST_FILE:
                return entry.get("md5")
    return None
