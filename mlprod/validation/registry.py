"""Named registries (statistical checks, rule functions) with a clear error for an unknown name."""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from mlprod.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry mapping; ``get`` of an unknown name lists the available ones (and a close match)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str, *, where: str = "") -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        close = difflib.get_close_matches(str(name), self._entries, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}no {self.kind} named {name!r}; available: {', '.join(self.names())}.{hint}")

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
