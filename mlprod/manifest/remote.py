"""The project's default DVC remote, as a manifest's data references record it: a name and a URL, never credentials.

DVC picks the remote of ``dvc push``/``dvc pull`` from ``core.remote``, merging its config files in the order
system < global < ``.dvc/config`` < ``.dvc/config.local`` (a later file wins, key by key). :func:`default_remote`
resolves it the same way, reading each file with DVC's own reader (``dvc.config.Config.load_file``), and keeps
only the remote's name and ``url``: user and password are stripped from the URL, as are its query and fragment;
keys such as ``credentialpath``, ``access_key_id`` or ``secret_access_key`` are never looked at. A local remote's
relative URL is given relative to the project root (``../mlprod-dvc-remote``), so it means the same in any clone.
A missing, unreadable or odd config gives no remote (None), never an error: the manifest then simply has none.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .schema import Remote

logger = logging.getLogger(__name__)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def default_remote(root: Path) -> Remote | None:
    """The default DVC remote of the project at ``root`` (name and credential-free URL), or None."""
    try:
        return _resolve(_config_files(root))
    except Exception as exc:  # noqa: BLE001 - informative only: an odd config must never stop a model being saved
        logger.debug("no DVC remote recorded: %s", exc)
        return None


def _config_files(root: Path) -> list[tuple[Path, Path]]:
    """(config file, the folder its relative paths are relative to), lowest precedence first."""
    from dvc.dirs import global_config_dir, system_config_dir

    dvc_dir = root / ".dvc"
    return [(Path(system_config_dir()) / "config", Path(system_config_dir())),
            (Path(global_config_dir()) / "config", Path(global_config_dir())),
            (dvc_dir / "config", dvc_dir), (dvc_dir / "config.local", dvc_dir)]


def _resolve(files: list[tuple[Path, Path]]) -> Remote | None:
    from dvc.config import Config

    name = None
    urls: dict[str, tuple[str, Path]] = {}  # remote name (lower case, as DVC keeps it) -> (url, its config's folder)
    for path, folder in files:
        if not path.is_file():
            continue
        conf = Config.load_file(str(path))
        core = conf.get("core")
        if isinstance(core, dict) and isinstance(core.get("remote"), str):
            name = core["remote"].lower()  # DVC lower-cases remote names
        for remote, section in (conf.get("remote") or {}).items():
            if isinstance(section, dict) and isinstance(section.get("url"), str):
                urls[remote] = (section["url"], folder)
    if not name or name not in urls:
        return None
    url, folder = urls[name]
    return Remote(name=name, url=_public_url(url, folder, folder.parent if folder.name == ".dvc" else None))


def _public_url(url: str, folder: Path, root: Path | None) -> str:
    if _SCHEME.match(url):
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]  # drops user:password@
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    if url.startswith("~"):
        return url
    if os.path.isabs(url):
        return Path(url).as_posix()
    if root is not None:  # relative to .dvc/ in DVC's config; relative to the project root in the manifest
        return posixpath.normpath(posixpath.join(".dvc", Path(url).as_posix()))
    return Path(os.path.normpath(folder / url)).as_posix()
