"""Checking where outputs go, before any work is done and again when a file is written.

One place for the rules every writer and every CLI option that takes an output path follows:

* a file target may be missing, a regular file, a hard link or a symbolic link: the write goes to a
  temporary file that is renamed over the *name*, so a link is replaced, never written through, and
  the file it pointed to (e.g. a DVC cache copy) stays intact;
* a device, a named pipe (FIFO) or a socket at the target is refused, as is a folder where a file is
  expected; ``-`` means standard output only where the caller allows it (options that write one file);
* a folder target may be missing or a real folder: a file there, or a symbolic link (writing through it
  would change files elsewhere), is refused;
* the nearest existing folder on the way must be a folder and writable (probed by creating and removing
  a temporary file, which is what counts for root too).

Every refusal is an :class:`~mlprod.errors.OutputPathError` (exit code 2) saying what was found, what
was expected and how to fix it.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import OutputPathError

STDOUT = "-"

_SPECIAL = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
            (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))


def is_stdout(path: object) -> bool:
    return isinstance(path, str) and path == STDOUT


def check_file(path: str | Path, *, what: str = "output file", stdout_ok: bool = False) -> Path | None:
    """Check that ``path`` can receive a file (None for ``-`` when ``stdout_ok``); raise otherwise."""
    if is_stdout(path):
        if stdout_ok:
            return None
        raise OutputPathError(f"{what}: '-' (standard output) is not accepted here; name a file")
    target = _as_path(path, what)
    check_target(target, what=what)
    _check_parents(target, what=what)
    return target


def check_dir(path: str | Path, *, what: str = "output folder", files: Iterable[str] = (),
              folders: Iterable[str] = ()) -> Path:
    """Check that ``path`` can be (or is) a real, writable folder, that ``files`` in it can be written and
    that ``folders`` in it (relative paths) are real folders where they exist."""
    if is_stdout(path):
        raise OutputPathError(f"{what}: expected a folder, got '-'; standard output is only for options that "
                              "write one file (name the folder ./- if you mean a folder called '-')")
    folder = _as_path(path, what)
    mode = _lstat_mode(folder, what)
    if mode is None:
        _check_parents(folder, what=what)
        return folder
    if stat.S_ISLNK(mode):
        raise OutputPathError(f"{what} {folder}: is a symbolic link (to {os.readlink(folder)}); mlprod does not write "
                              "an output folder through a link, which would change files elsewhere (e.g. in the DVC "
                              "cache). Remove the link, or name the folder it points to if you mean it")
    if not stat.S_ISDIR(mode):
        raise OutputPathError(f"{what} {folder}: expected a folder, found {_kind(mode)}; name a folder (a new one is "
                              "created)")
    _probe(folder, folder, what)
    for name in files:
        check_target(folder / name, what=what)
    for name in folders:
        inner = folder
        for part in Path(name).parts:
            inner = inner / part
            mode = _lstat_mode(inner, what)
            if mode is None:
                break
            if not stat.S_ISDIR(mode):  # a link as well: never written through
                raise OutputPathError(f"{what} {folder}: {inner} is {_kind(mode)}, expected a folder (mlprod writes "
                                      "into it); move it away or choose another folder")
    return folder


def check_target(path: Path, *, what: str = "output file") -> None:
    """The entry at ``path`` itself may be replaced by a regular file (missing, regular file or link)."""
    mode = _lstat_mode(path, what)
    if mode is None or stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    if stat.S_ISDIR(mode):
        raise OutputPathError(f"{what} {path}: is a folder, expected a file; name a file (e.g. {path / 'NAME'})")
    raise OutputPathError(f"{what} {path}: is {_kind(mode)}, not a regular file; mlprod only replaces regular files "
                          "(and links to them). Choose another path")


def os_error(exc: OSError, path: str | Path, *, what: str = "output file") -> OutputPathError:
    """An OSError met while writing ``path``, as a one-line :class:`OutputPathError`."""
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    reason = exc.strerror or str(exc)
    if isinstance(exc, NotADirectoryError):
        reason += ": a file is where a folder is needed"
    elif isinstance(exc, FileExistsError):
        reason += ": a file is where a folder is needed"
    return OutputPathError(f"{what} {path}: cannot be written: {reason}{where}; choose a writable location")


def emit(path: str | Path, text: str) -> str | Path:
    """Write ``text`` to ``path`` atomically, or to standard output for ``-``; returns where it went."""
    if is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return "standard output"
    from .atomic import write_text

    return write_text(path, text)


def _as_path(path: str | Path, what: str) -> Path:
    if not str(path).strip() or "\0" in str(path):
        raise OutputPathError(f"{what}: expected a path, got {str(path)!r}")
    return Path(path)


def _lstat_mode(path: Path, what: str) -> int | None:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None  # an ancestor is a file: reported by _check_parents
    except OSError as exc:
        raise os_error(exc, path, what=what) from None


def _check_parents(path: Path, *, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder (folders below it get created)."""
    for folder in (path.absolute().parent, *path.absolute().parent.parents):
        try:
            mode = os.stat(folder).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise os_error(exc, path, what=what) from None
        if not stat.S_ISDIR(mode):
            raise OutputPathError(f"{what} {path}: {folder} is {_kind(mode)}, not a folder, so nothing can be "
                                  "written under it; choose another path")
        _probe(folder, path, what)
        return


def _probe(folder: Path, path: Path, what: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".mlprod-write-check.", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"{what} {path}: cannot write in {folder}: {exc.strerror or exc}; choose a writable "
                              "location") from None
    os.close(fd)
    os.unlink(name)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return next((name for test, name in _SPECIAL if test(mode)), "a special file")
