"""Fetching a model's data by md5 from the DVC remote its manifest names (``mlprod manifest fetch DIR --to FOLDER``).

DVC pulls what a ``.dvc`` file names by content hash, whatever the commit: for each data reference of the
manifest this writes ``FOLDER/<role>/<file name>.dvc`` holding the recorded md5 (DVC 3's ``hash: md5``) and runs
``dvc pull -r NAME`` on those files, NAME being the remote the reference records (or ``remote`` when given, or
DVC's default when the manifest names none). The pulled files land beside their ``.dvc`` files, checked by DVC
against the md5; keep them with ``git add FOLDER`` or delete the folder. FOLDER must be inside the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from .. import atomic
from ..errors import MlprodError
from .reproduce import _dvc
from .schema import DataRef, read_manifest
from .store import project_root

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class FetchError(MlprodError):
    """The manifest's data could not be pulled (no such remote here, missing on the remote, DVC failed)."""


@dataclass(frozen=True)
class Fetched:
    ref: DataRef
    path: str  # the pulled file, relative to the project root
    remote: str | None  # the remote it was pulled from (None: DVC's default)


def fetch_data(folder: str | Path, to: str | Path, *, remote: str | None = None,
               root: Path | None = None) -> list[Fetched]:
    root = (root or project_root()).resolve()
    manifest = read_manifest(folder)
    target = (Path(to) if Path(to).is_absolute() else Path.cwd() / to).resolve()
    if target != root and root not in target.parents:
        raise FetchError(f"--to {to}: expected a folder inside the project {root} (DVC pulls into its own "
                         "workspace), got one outside it; name a folder such as data/fetched")
    if target.exists() and not target.is_dir():
        raise FetchError(f"--to {to}: expected a folder, got a file")
    planned: list[Fetched] = []
    for ref in manifest.data:
        name = _UNSAFE.sub("_", PurePosixPath(ref.path.replace("\\", "/")).name).lstrip(".") or ref.md5
        path = target / _UNSAFE.sub("_", ref.role) / name
        if any(f.path == str(path) for f in planned):
            path = path.with_name(f"{ref.md5[:12]}-{name}")
        planned.append(Fetched(ref=ref, path=str(path), remote=remote or (ref.remote.name if ref.remote else None)))
    for item in planned:
        out = Path(item.path)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out.with_name(out.name + ".dvc"), yaml.safe_dump(
            {"outs": [{"md5": item.ref.md5, "hash": "md5", "path": out.name}]}, sort_keys=True))
    for name in sorted({f.remote or "" for f in planned}):
        group = [f for f in planned if (f.remote or "") == name]
        args = ["pull", *(["-r", name] if name else []), *(f"{Path(f.path).relative_to(root).as_posix()}.dvc" for f in group)]
        done = _dvc(root, *args, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            url = next((f.ref.remote.url for f in group if f.ref.remote and f.ref.remote.name == name), None)
            hint = (f"if this clone has no remote {name!r}: dvc remote add {name} {url} (credentials: docs/team.md)"
                    if url else "name a remote with -r NAME (dvc remote list shows this clone's)")
            raise FetchError(f"dvc {' '.join(args)} failed:\n{tail}\n  {hint}")
    return [Fetched(ref=f.ref, path=Path(f.path).relative_to(root).as_posix(), remote=f.remote) for f in planned]
