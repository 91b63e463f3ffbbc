"""Mutual exclusion for registry writes (registration, promotion, rollback).

* A **local store** (SQLite file, file store) is guarded by an ``flock`` on a lock file beside it. The
  operating system releases it when the holder exits or is killed, so an interrupted promotion never
  leaves a stale lock.
* A **remote server** has no lock primitive, but creating a registered model is atomic and unique by
  name: the lease is a registered model named ``<model>.mlprod-lease`` that exists while a promotion
  runs. A lease older than its time-to-live (the holder died) is removed by the next promotion.

Either way the lock only serialises mlprod's own writers; the promotion code also re-checks the
``champion`` alias before and after moving it (compare-and-set), so a move made outside mlprod is
detected instead of overwritten.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import RegistryError

POLL = 0.1  # seconds between attempts


@contextmanager
def file_lock(path: Path, *, timeout: float = 120.0, what: str = "changing the registry") -> Iterator[None]:
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the block
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RegistryError(f"{what}: another mlprod process has held {path} for over {timeout:.0f}s; "
                                        "wait for it to finish (the lock is released when it exits)") from None
                time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def registry_lease(registry: Any, model: str, *, timeout: float = 120.0, ttl: float = 600.0) -> Iterator[None]:
    """Hold the lease for ``model`` on a registry server (see the module docstring)."""
    from mlflow.exceptions import MlflowException

    from .store import LEASE_SUFFIX

    name = f"{model}{LEASE_SUFFIX}"
    token = uuid.uuid4().hex
    owner = f"{current_user()}@{socket.gethostname()} pid {os.getpid()}"
    deadline = time.monotonic() + timeout
    client = registry.client
    while True:
        try:
            client.create_registered_model(
                name, tags={"mlprod.lease": json.dumps({"token": token, "owner": owner, "expires": time.time() + ttl})},
                description=f"Temporary lock held by mlprod while it changes {model!r} ({owner}). Safe to delete "
                            f"when older than {ttl:.0f}s.")
            break
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise RegistryError(f"registry {registry.location.display}: taking the lease {name!r} failed: "
                                    f"{exc.message}") from exc
        holder = _lease(client, name)
        if holder is not None and holder.get("expires", 0) < time.time():
            if _lease(client, name) == holder:  # still the same expired lease: its holder died
                _delete(client, name)
            continue
        if time.monotonic() >= deadline:
            raise RegistryError(f"registry {registry.location.display}: {model!r} is being changed by "
                                f"{(holder or {}).get('owner', 'another mlprod process')} (lease {name!r}); try "
                                "again when it is done")
        time.sleep(POLL)
    try:
        yield
    finally:
        if (_lease(client, name) or {}).get("token") == token:
            _delete(client, name)


def _lease(client: Any, name: str) -> dict[str, Any] | None:
    from mlflow.exceptions import MlflowException

    try:
        raw = client.get_registered_model(name).tags.get("mlprod.lease")
        return json.loads(raw) if raw else {}
    except MlflowException:
        return None
    except ValueError:
        return {}


def _delete(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model(name)
    except MlflowException:
        pass  # already gone


def current_user() -> str:
    """Who is changing the registry: ``MLPROD_USER`` if set, else the login name."""
    if os.environ.get("MLPROD_USER"):
        return os.environ["MLPROD_USER"]
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"
