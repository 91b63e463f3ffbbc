"""Where the registry lives and how mlprod talks to it (MLflow's tracking store and model registry).

By default the project's own SQLite database, ``mlflow.db`` at the project root, with artifacts under
``mlartifacts/``: nothing to start. ``MLFLOW_TRACKING_URI`` (and optionally ``MLFLOW_REGISTRY_URI``)
point mlprod at a team server instead. :meth:`Registry.open` checks that the store can be reached
with one bounded request (no retries, short timeout), and every MLflow failure afterwards becomes a
:class:`~mlprod.errors.RegistryError` that names the URI, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

from ..errors import RegistryError, RegistryUnreachable

logger = logging.getLogger(__name__)
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
CHECK_TIMEOUT = 10  # seconds for the reachability check of a remote server
_REMOTE = ("http://", "https://")


@dataclass(frozen=True)
class RegistryLocation:
    tracking_uri: str
    registry_uri: str
    artifact_root: str | None  # where experiments mlprod creates keep artifacts (None: the server decides)
    lock_file: Path | None  # local stores: the file lock promotions hold (remote: a registry lease)
    default: bool  # the project's own SQLite store

    @property
    def display(self) -> str:
        """The URI(s) with any password removed, for messages and records."""
        tracking = redact(self.tracking_uri)
        return tracking if self.registry_uri == self.tracking_uri else f"{tracking} (registry {redact(self.registry_uri)})"


def locate(root: str | Path | None = None) -> RegistryLocation:
    """The store named by ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI``, else ``<root>/mlflow.db``."""
    tracking = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    registry = os.environ.get("MLFLOW_REGISTRY_URI", "").strip() or tracking
    if not tracking:
        from ..manifest.store import project_root

        base = Path(root).resolve() if root is not None else project_root()
        uri = f"sqlite:///{base / DB_FILE}"
        return RegistryLocation(tracking_uri=uri, registry_uri=registry or uri,
                                artifact_root=(base / ARTIFACTS_DIR).as_uri(),
                                lock_file=base / f"{DB_FILE}.lock", default=True)
    return RegistryLocation(tracking_uri=tracking, registry_uri=registry, artifact_root=None,
                            lock_file=_local_lock(registry), default=False)


def redact(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Registry:
    """An MLflow client for one location, with mlprod's error handling and locking."""

    def __init__(self, location: RegistryLocation):
        self.location = location
        self._client: Any = None

    @classmethod
    def open(cls, root: str | Path | None = None) -> Registry:
        registry = cls(locate(root))
        registry.check()
        return registry

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.location.tracking_uri,
                                        registry_uri=self.location.registry_uri)
        return self._client

    def check(self) -> None:
        """Raise :class:`RegistryUnreachable` unless the store answers (creating the local database if needed)."""
        for logger_name in ("alembic", "mlflow.store.db.utils"):
            logging.getLogger(logger_name).setLevel(logging.WARNING)
        for uri in dict.fromkeys((self.location.tracking_uri, self.location.registry_uri)):
            if uri.startswith(_REMOTE):
                _check_server(uri)
            elif uri.startswith("sqlite:"):
                self._check_sqlite(uri)

    def _check_sqlite(self, uri: str) -> None:
        path = _sqlite_path(uri)
        if path is None:
            return  # in-memory database
        if not path.parent.is_dir():
            raise RegistryUnreachable(f"registry {redact(uri)}: folder {path.parent} does not exist; create it or "
                                      "point MLFLOW_TRACKING_URI at an existing location")
        from .lock import file_lock

        if path.is_file():
            self._probe(uri)
            return
        with file_lock(self.location.lock_file or path.with_name(path.name + ".lock"), what=f"creating {path}"):
            self._probe(uri)  # creates the tables (MLflow's migrations, a few seconds the first time)

    def _probe(self, uri: str) -> None:
        try:
            self.client.search_registered_models(max_results=1)
        except Exception as exc:  # any failure here means the store cannot be used
            raise RegistryUnreachable(f"registry {redact(uri)} cannot be opened: {_short(exc)}. Fix or remove the "
                                      "database file, or point MLFLOW_TRACKING_URI at a working store.") from exc

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn MLflow and connection failures inside the block into :class:`RegistryError`."""
        try:
            yield
        except RegistryError:
            raise
        except Exception as exc:
            from mlflow.exceptions import MlflowException

            if isinstance(exc, (MlflowException, OSError, ConnectionError)) or "requests" in type(exc).__module__:
                raise RegistryError(f"registry {self.location.display}: {what} failed: {_short(exc)}") from exc
            raise

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.errors(what):
            return fn(*args, **kwargs)

    def lock(self, model: str, *, timeout: float = 120.0):
        """Mutual exclusion for registry writes: a file lock for a local store, a registry lease for a server."""
        from .lock import file_lock, registry_lease

        if self.location.lock_file is not None:
            return file_lock(self.location.lock_file, timeout=timeout, what=f"changing model {model!r}")
        return registry_lease(self, model, timeout=timeout)

    # -- reading ---------------------------------------------------------------------------------------

    def registered_model(self, name: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise RegistryError(f"registry {self.location.display}: reading model {name!r} failed: "
                                f"{_short(exc)}") from exc

    def require_model(self, name: str) -> Any:
        model = self.registered_model(name)
        if model is None:
            names = [m.name for m in self.call("listing models", self.client.search_registered_models,
                                               max_results=50)]
            names = [n for n in names if not n.endswith(LEASE_SUFFIX)]
            raise RegistryError(f"registry {self.location.display}: no model named {name!r} (models: "
                                f"{', '.join(sorted(names)) or 'none'}); register one with `mlprod register DIR`")
        return model

    def versions(self, name: str) -> list[Any]:
        """Every version of ``name``, oldest first."""
        found = self.call(f"listing versions of {name!r}", self.client.search_model_versions,
                          f"name = '{_quote(name)}'", max_results=10000)
        return sorted(found, key=lambda v: int(v.version))

    def version(self, name: str, version: str | int) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise RegistryError(f"registry {self.location.display}: reading {name!r} version {version} "
                                    f"failed: {_short(exc)}") from exc
            existing = [str(v.version) for v in self.versions(name)]
            raise RegistryError(f"registry {self.location.display}: model {name!r} has no version {version} "
                                f"(versions: {', '.join(existing) or 'none'})") from exc

    def alias(self, name: str, alias: str) -> Any | None:
        """The version ``alias`` points to, ``None`` when it is not set."""
        model = self.registered_model(name)
        if model is None or alias not in (model.aliases or {}):
            return None
        return self.version(name, model.aliases[alias])

    def experiment_id(self, name: str) -> str:
        experiment = self.call(f"reading experiment {name!r}", self.client.get_experiment_by_name, name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                self.call(f"restoring experiment {name!r}", self.client.restore_experiment,
                          experiment.experiment_id)
            return experiment.experiment_id
        kwargs = {"artifact_location": self.location.artifact_root} if self.location.artifact_root else {}
        return self.call(f"creating experiment {name!r}", self.client.create_experiment, name, **kwargs)


LEASE_SUFFIX = ".mlprod-lease"


def _check_server(uri: str) -> None:
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    hint = ("start the server, fix MLFLOW_TRACKING_URI, or unset it to use the project's own mlflow.db")
    try:
        response = http_request(get_default_host_creds(uri), "/api/2.0/mlflow/registered-models/search", "GET",
                                max_retries=0, backoff_factor=0, timeout=CHECK_TIMEOUT,
                                params={"max_results": 1}, raise_on_status=False)
    except Exception as exc:  # connection refused, DNS, TLS, timeout ...
        raise RegistryUnreachable(f"registry {redact(uri)} cannot be reached ({_cause(exc)}); {hint}") from exc
    if response.status_code in (401, 403):
        raise RegistryUnreachable(f"registry {redact(uri)} refused access (HTTP {response.status_code}); set "
                                  "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD")
    if response.status_code != 200:
        raise RegistryUnreachable(f"registry {redact(uri)} answered HTTP {response.status_code} to a model "
                                  f"registry request; is it an MLflow server? {hint}")


def _sqlite_path(uri: str) -> Path | None:
    rest = uri.split(":", 1)[1].lstrip("/") if uri.startswith("sqlite:") else ""
    if not rest or rest == ":memory:":
        return None
    raw = uri.removeprefix("sqlite:///")
    return Path(raw.split("?", 1)[0]).absolute()


def _local_lock(uri: str) -> Path | None:
    if uri.startswith("sqlite:"):
        path = _sqlite_path(uri)
        return path.with_name(path.name + ".lock") if path else None
    if uri.startswith("file:") or "://" not in uri and not uri.startswith(("databricks", "uc")):
        folder = Path(urlsplit(uri).path if uri.startswith("file:") else uri).absolute()
        return folder / ".mlprod.lock"
    return None


def _cause(exc: BaseException) -> str:
    """The root cause of a connection failure (``[Errno 111] Connection refused``, ``timed out``)."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    if "timed out" in text.lower() or "timeout" in text.lower():
        return f"no answer within {CHECK_TIMEOUT}s"
    return _short(exc)


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


def _short(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = re.sub(r"\s+", " ", str(message)).strip()
    return message if len(message) <= 400 else message[:397] + "..."
