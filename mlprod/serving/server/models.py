"""The model a server process answers with: loaded and verified, swapped whole when the registry alias moves.

Order of work for a reload (and why):
1. the poller reads the version the alias points to; nothing happens while it is the one served;
2. the new version is downloaded into a temporary folder, its manifest checked against the registry's
   ``mlprod.artifact_sha256`` tag and its artifact against the manifest before it is deserialized
   (:func:`mlprod.registry.register.download_verified`, :func:`mlprod.load_model`), and a complete
   :class:`~mlprod.serving.ResilientPredictor` is built: any failure leaves the old model serving and is
   counted (``model_reloads_total{result="failure"}``);
3. one reference is swapped: a request takes the current :class:`Loaded` once and finishes on it, so requests
   in flight finish on the old model, which is closed after a grace period.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError, MlprodError

log = logging.getLogger(__name__)
WARM_UP_CALLS = 3
ALIAS_REF = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)@(?P<alias>[A-Za-z0-9][A-Za-z0-9_-]*)")


@dataclass(frozen=True)
class Loaded:
    """A verified model (and its verified fallback, if any) ready to answer."""

    predictor: Any  # ResilientPredictor
    name: str
    version: str  # the manifest's semantic version
    sha256: str
    features: tuple[str, ...]
    registry_version: str | None = None
    fallback: Served | None = None

    def describe(self) -> str:
        """``NAME VERSION (registry version N) with fallback NAME VERSION ...``, for the log."""
        return _describe(self.name, self.version, self.registry_version) + (
            f" with fallback {self.fallback.describe()}" if self.fallback else " without a fallback model")


@dataclass(frozen=True)
class Served:
    """Which fallback model a :class:`Loaded` answers with."""

    name: str
    version: str
    sha256: str
    registry_version: str | None = None

    def describe(self) -> str:
        return _describe(self.name, self.version, self.registry_version)


def _describe(name: str, version: str, registry_version: str | None) -> str:
    return f"{name} {version}" + (f" (registry version {registry_version})" if registry_version else "")


@dataclass(frozen=True)
class ModelSource:
    """Where the models come from: a folder, or ``name@alias`` in the registry (then polled), for the primary and
    for the fallback (``None``: no fallback)."""

    reference: str
    fallback: str | None = None
    root: str | None = None  # the project root (registry location, params.yaml)

    @property
    def alias(self) -> tuple[str, str] | None:
        return _alias(self.reference)

    @property
    def fallback_alias(self) -> tuple[str, str] | None:
        return _alias(self.fallback) if self.fallback is not None else None

    @property
    def polled(self) -> bool:
        """Whether a registry alias is involved (the holder then polls it)."""
        return self.alias is not None or self.fallback_alias is not None

    def check(self) -> None:
        """A ConfigError for a reference that is neither a model folder nor NAME@alias, or a ``--fallback``
        NAME@alias the registry does not have (nothing loaded)."""
        from ...manifest.schema import MANIFEST_FILE

        for label, ref in (("model", self.reference), ("--fallback", self.fallback)):
            if ref is None:
                continue
            folder = Path(ref)
            if folder.is_dir():
                if not (folder / MANIFEST_FILE).is_file():
                    raise ConfigError(f"{label} {ref!r}: {folder} has no {MANIFEST_FILE}; point at a folder written "
                                      "by mlprod.save_model (e.g. models/model)")
            elif _alias(ref) is None:
                raise ConfigError(f"{label} {ref!r}: no such model folder; expected a model folder (e.g. "
                                  f"{'models/model' if label == 'model' else 'models/fallback'}) or NAME@alias from "
                                  f"the registry (e.g. {'lead-scoring' if label == 'model' else 'lead-scoring-fallback'}"
                                  "@champion)")
        if self.fallback_alias is not None:
            try:
                self.current_versions(self.registry(), primary=False)
            except MlprodError as exc:
                raise ConfigError(f"--fallback {self.fallback!r}: {exc}; pass a registered NAME@alias, a model "
                                  "folder, or --no-fallback") from None

    def load(self, settings: Any, *, version: Any = None, fallback_version: Any = None) -> Loaded:
        """Load and verify the models (for an alias: ``version`` / ``fallback_version``, else where it points now)."""
        from .. import ResilientPredictor

        registry = self.registry() if self.polled else None
        with tempfile.TemporaryDirectory(prefix="mlprod-serve-") as tmp:
            primary, primary_version = self._folder(registry, self.reference, version, Path(tmp) / "primary")
            fallback, fallback_version = (None, None) if self.fallback is None else self._folder(
                registry, self.fallback, fallback_version, Path(tmp) / "fallback")
            predictor = ResilientPredictor.from_folders(primary, fallback, settings=settings)
            return _loaded(predictor, primary, primary_version, fallback, fallback_version)

    def _folder(self, registry: Any, reference: str, version: Any, target: Path) -> tuple[Path, str | None]:
        """The model folder of ``reference`` (downloaded and checked against the registry for NAME@alias)."""
        alias = _alias(reference)
        if alias is None:
            return Path(reference), None
        from ...registry.register import alias_version, download_verified

        version = version if version is not None else alias_version(registry, *alias)
        folder, _ = download_verified(registry, version, target)
        return folder, str(version.version)

    def registry(self) -> Any:
        from ...registry.store import Registry

        return Registry.open(self.root)

    def current_version(self, registry: Any) -> Any:
        from ...registry.register import alias_version

        name, alias = self.alias
        return alias_version(registry, name, alias)

    def current_versions(self, registry: Any, *, primary: bool = True) -> tuple[Any, Any]:
        """(primary version, fallback version) the aliases point to now; None for a folder (or no fallback)."""
        from ...registry.register import alias_version

        fallback = alias_version(registry, *self.fallback_alias) if self.fallback_alias else None
        return (self.current_version(registry) if primary and self.alias else None), fallback


def _alias(reference: str) -> tuple[str, str] | None:
    match = ALIAS_REF.fullmatch(reference)
    return (match["name"], match["alias"]) if match and not Path(reference).is_dir() else None


def _loaded(predictor: Any, folder: Path, registry_version: str | None, fallback: Path | None = None,
            fallback_version: str | None = None) -> Loaded:
    from ...manifest.schema import read_manifest

    predictor.warm_up(WARM_UP_CALLS)  # before serving: the first calls' lazy set-up would blow the time budget

    manifest = read_manifest(folder)
    served = None
    if fallback is not None:
        other = read_manifest(fallback)
        served = Served(other.name, other.version, other.artifact.sha256, fallback_version)
    return Loaded(predictor=predictor, name=manifest.name, version=manifest.version, sha256=manifest.artifact.sha256,
                  features=tuple(c.name for c in manifest.inputs), registry_version=registry_version, fallback=served)


class ModelHolder:
    """The current model of a process, its loading and (for an alias) the poller that reloads it."""

    def __init__(self, source: ModelSource, settings: Any, metrics: Any, *, poll_seconds: float = 30.0,
                 grace_seconds: float = 30.0) -> None:
        self.source = source
        self.settings = settings
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.current: Loaded | None = None
        self.problem: str | None = "the model is loading"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retired: list[threading.Timer] = []
        self.attempted = threading.Event()  # set after the first load attempt, whatever its outcome

    def start(self) -> None:
        """Load in the background (``/ready`` says 503 until done), then poll the alias if there is one."""
        self._thread = threading.Thread(target=self._run, name="mlprod-serve-model", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.refresh()
        finally:
            self.attempted.set()
        if not self.source.polled:
            return
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def refresh(self) -> bool:
        """Load the models if they are not loaded or an alias moved (the primary's or the fallback's); True when a
        new pair was swapped in. Both are verified before the swap: either failing keeps the old pair serving."""
        previous = self.current
        try:
            version = fallback_version = None
            if self.source.polled:
                version, fallback_version = self.source.current_versions(self.source.registry())
                if previous is not None and not _moved(previous, version, fallback_version):
                    return False
            loaded = self.source.load(self.settings, version=version, fallback_version=fallback_version)
        except Exception as exc:  # noqa: BLE001 - a reload must never take the server down
            what = f"{type(exc).__name__}: {exc}" if not isinstance(exc, MlprodError) else str(exc)
            if previous is None:
                self.problem = f"the model could not be loaded: {what}"
            else:
                self.metrics.reload_failed()
            log.error("%s %s: %s; %s", "reloading" if previous else "loading", self.source.reference, what,
                      f"still serving version {previous.version}" if previous else "not ready")
            return False
        if self._stop.is_set():  # shutting down meanwhile: do not swap
            loaded.predictor.close()
            return False
        self.current, self.problem = loaded, None
        self.metrics.model_loaded(loaded.name, loaded.version, loaded.sha256, features=loaded.features,
                                  reload=previous is not None)
        log.info("serving %s", loaded.describe())
        if previous is not None:
            self._retire(previous)
        return True

    def _retire(self, old: Loaded) -> None:
        timer = threading.Timer(self.grace_seconds, old.predictor.close)
        timer.daemon = True
        timer.start()
        self._retired.append(timer)

    def close(self) -> None:
        self._stop.set()
        for timer in self._retired:
            timer.cancel()
        if self.current is not None:
            self.current.predictor.close()


def _moved(previous: Loaded, version: Any, fallback_version: Any) -> bool:
    """Whether an alias points elsewhere than the served pair."""
    if version is not None and str(version.version) != previous.registry_version:
        return True
    served = previous.fallback.registry_version if previous.fallback else None
    return fallback_version is not None and str(fallback_version.version) != served
