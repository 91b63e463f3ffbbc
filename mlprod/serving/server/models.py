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
    """A verified model ready to answer."""

    predictor: Any  # ResilientPredictor
    name: str
    version: str  # the manifest's semantic version
    sha256: str
    features: tuple[str, ...]
    registry_version: str | None = None


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from: a folder, or ``name@alias`` in the registry (then polled)."""

    reference: str
    fallback: str | None = None
    root: str | None = None  # the project root (registry location, params.yaml)

    @property
    def alias(self) -> tuple[str, str] | None:
        match = ALIAS_REF.fullmatch(self.reference)
        return (match["name"], match["alias"]) if match and not Path(self.reference).is_dir() else None

    def check(self) -> None:
        """A ConfigError for a reference that is neither a model folder nor NAME@alias (nothing loaded)."""
        from ...manifest.schema import MANIFEST_FILE

        for label, ref in (("model", self.reference), ("--fallback", self.fallback)):
            if ref is None:
                continue
            folder = Path(ref)
            if folder.is_dir():
                if not (folder / MANIFEST_FILE).is_file():
                    raise ConfigError(f"{label} {ref!r}: {folder} has no {MANIFEST_FILE}; point at a folder written "
                                      "by mlprod.save_model (e.g. models/model)")
            elif label == "--fallback" or self.alias is None:
                raise ConfigError(f"{label} {ref!r}: no such model folder" + (
                    "; expected a model folder (e.g. models/model) or NAME@alias from the registry "
                    "(e.g. lead-scoring@champion)" if label == "model" else ""))

    def load(self, settings: Any, *, version: Any = None) -> Loaded:
        """Load and verify the model (for an alias: ``version``, else the one it points to now)."""
        from .. import ResilientPredictor

        if self.alias is None:
            predictor = ResilientPredictor.from_folders(self.reference, self.fallback, settings=settings)
            return _loaded(predictor, Path(self.reference), None)
        from ...registry.register import download_verified

        registry = self.registry()
        version = version if version is not None else self.current_version(registry)
        with tempfile.TemporaryDirectory(prefix="mlprod-serve-") as tmp:
            folder, _ = download_verified(registry, version, Path(tmp))
            predictor = ResilientPredictor.from_folders(folder, self.fallback, settings=settings)
            return _loaded(predictor, folder, str(version.version))

    def registry(self) -> Any:
        from ...registry.store import Registry

        return Registry.open(self.root)

    def current_version(self, registry: Any) -> Any:
        from ...registry.register import alias_version

        name, alias = self.alias
        return alias_version(registry, name, alias)


def _loaded(predictor: Any, folder: Path, registry_version: str | None) -> Loaded:
    import pandas as pd

    from ...manifest.schema import read_manifest

    # warm up: a model's first call is slow (lazy set-up in numpy/scikit-learn) and would blow the first request's
    # time budget; one row with every input filled from the reference profile takes that cost before serving
    for _ in range(WARM_UP_CALLS):
        predictor.predict(pd.DataFrame(index=[0]))

    manifest = read_manifest(folder)
    return Loaded(predictor=predictor, name=manifest.name, version=manifest.version, sha256=manifest.artifact.sha256,
                  features=tuple(c.name for c in manifest.inputs), registry_version=registry_version)


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
        if self.source.alias is None:
            return
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def refresh(self) -> bool:
        """Load the model if it is not loaded or the alias moved; True when a new model was swapped in."""
        previous = self.current
        try:
            version = None
            if self.source.alias is not None:
                registry = self.source.registry()
                version = self.source.current_version(registry)
                if previous is not None and str(version.version) == previous.registry_version:
                    return False
            loaded = self.source.load(self.settings, version=version)
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
        log.info("serving %s %s%s", loaded.name, loaded.version,
                 f" (registry version {loaded.registry_version})" if loaded.registry_version else "")
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

