"""The ``backtest:`` section of params.yaml (command-line options override it), parsed strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import ConfigError

STRATEGIES = ("policy", "never", "every_window")
STRATEGY_TITLES = {"policy": "the policy in params.yaml (decide:)", "never": "never retrain",
                   "every_window": "retrain every window"}


@dataclass(frozen=True)
class BacktestSettings:
    stream: str = "demo"  # demo | a folder (inbox/ + labels/) | a table file
    weeks: int = 52  # demo only
    seed: int = 2025  # demo only
    shift: bool = True  # demo only
    rows_per_week: int = 500  # demo only
    label_delay: int = 4  # windows until a batch's labels arrive
    change_window: str | None = "auto"  # auto: the demo's shift; null: unknown; or a batch id
    strategies: tuple[str, ...] = STRATEGIES
    model_dir: str | None = None  # the starting model; None: evaluate.model_dir
    output_dir: str = "reports/backtest"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "params.yaml [backtest]") -> BacktestSettings:
        data = dict(data or {})
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
        if isinstance(data.get("strategies"), list):
            data["strategies"] = tuple(data["strategies"])
        return cls(**data).checked(where)

    def with_options(self, where: str = "backtest options", **options: Any) -> BacktestSettings:
        """These settings with the options that are not None (the command line's)."""
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items() if v is not None}
        return replace(self, **given).checked(where)

    def checked(self, where: str) -> BacktestSettings:
        for name, low in (("weeks", 1), ("rows_per_week", 10), ("label_delay", 0), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{where}: {name} must be a whole number >= {low}, got {value!r}")
        if not isinstance(self.shift, bool):
            raise ConfigError(f"{where}: shift must be true or false, got {self.shift!r}")
        if not isinstance(self.stream, str) or not self.stream.strip():
            raise ConfigError(f"{where}: stream must be 'demo' or a path, got {self.stream!r}")
        if not isinstance(self.strategies, tuple) or not self.strategies or any(
                s not in STRATEGIES for s in self.strategies) or len(set(self.strategies)) != len(self.strategies):
            raise ConfigError(f"{where}: strategies must be a list of distinct names from {', '.join(STRATEGIES)}, "
                              f"got {self.strategies!r}")
        if self.change_window is not None and not isinstance(self.change_window, str):
            raise ConfigError(f"{where}: change_window must be 'auto', null or a batch id, got {self.change_window!r}")
        for name in ("model_dir", "output_dir"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"{where}: {name} must be a path, got {value!r}")
        return self
