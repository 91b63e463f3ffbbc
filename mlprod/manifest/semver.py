"""Semantic versions for models, and the rule that says which part must change.

* a change of **input schema** (feature names or dtypes the model accepts) needs a **major** bump;
* a change of the model's **features**, **hyperparameters** or **training data** needs a **minor** bump;
* any other change of the artifact (code, library versions, ...) needs a **patch** bump;
* the same artifact keeps its version; versions never go backwards, and a version is never reused for a
  different artifact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from .schema import Manifest, ManifestError

_PATTERN = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
LEVELS = ("none", "patch", "minor", "major")
FIRST_VERSION = "1.0.0"


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str, *, where: str = "version") -> Version:
        match = _PATTERN.match(str(text).strip())
        if not match:
            raise ManifestError(f"{where}: {text!r} is not a semantic version MAJOR.MINOR.PATCH such as '1.4.2'")
        return cls(*(int(part) for part in match.groups()))

    def bump(self, level: str) -> Version:
        if level == "major":
            return Version(self.major + 1, 0, 0)
        if level == "minor":
            return Version(self.major, self.minor + 1, 0)
        if level == "patch":
            return Version(self.major, self.minor, self.patch + 1)
        return self

    def level_to(self, other: Version) -> str:
        """The part that changed from ``self`` to a later ``other``."""
        if other.major != self.major:
            return "major"
        if other.minor != self.minor:
            return "minor"
        return "patch" if other.patch != self.patch else "none"

    def __lt__(self, other: Version) -> bool:
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class Change:
    """What differs between a previous manifest and a new model, and the bump that requires."""

    level: str  # "none" | "patch" | "minor" | "major"
    reasons: tuple[str, ...]


def required_change(previous: Manifest, current: Manifest) -> Change:
    reasons: list[tuple[str, str]] = []
    old_inputs = [(c.name, c.dtype) for c in previous.inputs]
    new_inputs = [(c.name, c.dtype) for c in current.inputs]
    if old_inputs != new_inputs:
        reasons.append(("major", "input schema changed: " + _diff(old_inputs, new_inputs)))
    if previous.artifact.features != current.artifact.features:
        reasons.append(("minor", "model features changed: "
                        + _diff(previous.artifact.features, current.artifact.features)))
    if previous.artifact.hyperparameters != current.artifact.hyperparameters:
        changed = sorted(k for k in set(previous.artifact.hyperparameters) | set(current.artifact.hyperparameters)
                         if previous.artifact.hyperparameters.get(k) != current.artifact.hyperparameters.get(k))
        reasons.append(("minor", "hyperparameters changed: " + ", ".join(changed)))
    old_data = {(d.path, d.md5) for d in previous.data_by_role("training")}
    new_data = {(d.path, d.md5) for d in current.data_by_role("training")}
    if old_data != new_data:
        now = ", ".join(sorted(f"{p} (md5 {m[:8]})" for p, m in new_data - old_data))
        reasons.append(("minor", f"training data changed: {now or 'removed'}"))
    if not reasons and previous.artifact.sha256 != current.artifact.sha256:
        reasons.append(("patch", "model artifact changed (same schema, features, hyperparameters and data)"))
    if not reasons:
        return Change("none", ())
    level = max((lvl for lvl, _ in reasons), key=LEVELS.index)
    return Change(level, tuple(text for _, text in reasons))


def propose_version(previous: Manifest | None, current: Manifest) -> tuple[str, Change]:
    """The next version for ``current`` given the previous manifest (``1.0.0`` for the first)."""
    if previous is None:
        return FIRST_VERSION, Change("major", ("first version",))
    change = required_change(previous, current)
    return str(Version.parse(previous.version).bump(change.level)), change


def check_version(previous: Manifest | None, current: Manifest) -> Change:
    """Raise :class:`ManifestError` unless ``current.version`` is allowed after ``previous``."""
    new = Version.parse(current.version, where=f"model {current.name!r} version")
    if previous is None:
        return Change("major", ("first version",))
    old = Version.parse(previous.version, where=f"previous version of {current.name!r}")
    proposed, change = propose_version(previous, current)
    why = "; ".join(change.reasons) or "nothing changed"
    if new == old:
        if change.level == "none":
            return change
        raise ManifestError(f"model {current.name!r}: version {new} is already used by a different artifact "
                            f"(sha256 {previous.artifact.sha256[:12]}...); {why}. Use {proposed}.")
    if new < old:
        raise ManifestError(f"model {current.name!r}: version {new} is older than the previous version {old}; "
                            f"versions never go backwards. Use {proposed}.")
    if change.level == "none":
        raise ManifestError(f"model {current.name!r}: the artifact is identical to version {old}; keep version "
                            f"{old} instead of {new}.")
    if LEVELS.index(old.level_to(new)) < LEVELS.index(change.level):
        raise ManifestError(f"model {current.name!r}: {old} -> {new} is a {old.level_to(new)} bump, but "
                            f"{why} needs a {change.level} bump. Use {proposed}.")
    return change


def _diff(old: list, new: list) -> str:
    def show(x: object) -> str:
        return f"{x[0]} ({x[1]})" if isinstance(x, tuple) else str(x)

    added = [show(x) for x in new if x not in old]
    removed = [show(x) for x in old if x not in new]
    parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
    return "; ".join(parts) or "order changed"
