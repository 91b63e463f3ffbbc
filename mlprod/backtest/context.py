"""What a backtest needs from the project, read once from params.yaml: the facts, the training, retraining,
register, score, monitor and decide sections, and the starting model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class BacktestContext:
    root: Path
    params_file: Path
    model_name: str
    target: str
    positive_label: Any
    key: str | None
    date_column: str
    categorical_features: list[str]
    numeric_features: list[str]
    model: Any  # mlprod.training.ModelSettings
    ingest: dict[str, Any]
    retrain: Any  # mlprod.monitoring.retrain_data.RetrainSettings
    register: Any  # mlprod.registry.settings.RegisterSettings
    evaluate_threshold: float
    threshold: float  # the scoring threshold, the same for every version
    schema: Path | None  # the data gates of scoring
    monitor: Any  # mlprod.monitoring.history.MonitorSettings
    reference_roc_auc: Any
    policy: Any  # mlprod.monitoring.policy.PolicySettings
    last_retrain: str | None
    model_dir: Path  # the starting model
    serving: Any = None  # mlprod.serving.ServingSettings: the tiers, fills and review routing scoring uses
    params: dict[str, Any] | None = None  # params.yaml as read: a retrain calibrates the review band as evaluate does

    @property
    def features(self) -> list[str]:
        return [*self.categorical_features, *self.numeric_features]


def read_context(root: Path, params_file: Path, *, model_dir: str | None) -> BacktestContext:
    """The project's settings for a backtest; what is missing or malformed is a ConfigError naming the key."""
    from ..monitoring.loop import read_settings
    from ..monitoring.retrain_data import RetrainSettings
    from ..project.facts import read_facts
    from ..registry.settings import parse_settings
    from ..serving.settings import ServingSettings
    from ..stages.params import load_params_file
    from ..training import ModelSettings

    params = load_params_file(params_file)
    facts = read_facts(params, params_file)
    for name in ("model_name", "target", "date_column"):
        if not getattr(facts, name):
            raise ConfigError(f"{params_file}: project.{name} is not set; a backtest needs it (windows are cut by "
                              "date, labels joined by key, models registered by name)")
    if not facts.features:
        raise ConfigError(f"{params_file}: project.categorical_features and project.numeric_features are empty; a "
                          "backtest retrains on them")
    loop = read_settings(params_file, root)
    sections = {name: _section(params, name, params_file) for name in ("train", "evaluate", "register", "score",
                                                                         "ingest")}
    register = parse_settings({**sections["register"], "target": facts.target},
                              where=f"{params_file} [register]")
    evaluate_threshold = sections["evaluate"].get("threshold", 0.5)
    threshold = sections["score"].get("threshold")
    threshold = evaluate_threshold if threshold is None else threshold
    for name, value in (("evaluate.threshold", evaluate_threshold), ("score.threshold", threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"{params_file}: {name} must be a number in [0, 1], got {value!r}")
    schema = sections["score"].get("schema_file", "schema.yaml")
    schema_path = None if schema is None else root / str(schema)
    if schema_path is not None and not schema_path.is_file():
        raise ConfigError(f"{params_file}: score.schema_file {schema!r} does not exist; the backtest's batches pass "
                          "the same data gates as scoring (set it to null for none)")
    start = root / (model_dir or str(sections["evaluate"].get("model_dir", "models/model")))
    if not (start / "model_manifest.yaml").is_file():
        raise ConfigError(f"{start}: no evaluated model (model_manifest.yaml) to start the backtest from; run the "
                          "training pipeline first (`dvc repro`), or pass --model DIR")
    return BacktestContext(
        root=root, params_file=params_file, model_name=str(facts.model_name), target=str(facts.target),
        positive_label=facts.positive_label, key=facts.key, date_column=str(facts.date_column),
        categorical_features=list(facts.categorical_features or ()), numeric_features=list(facts.numeric_features or ()),
        model=ModelSettings.from_mapping(sections["train"]), ingest=sections["ingest"],
        retrain=RetrainSettings.from_mapping(params.get("retrain"), f"{params_file} [retrain]"), register=register,
        evaluate_threshold=float(evaluate_threshold), threshold=float(threshold), schema=schema_path,
        monitor=loop.monitor, reference_roc_auc=loop.reference_roc_auc, policy=loop.policy,
        last_retrain=loop.last_retrain, model_dir=start, params=params,
        serving=ServingSettings.from_mapping(params.get("serving"), where=f"{params_file} serving"))


def _section(params: dict, name: str, params_file: Path) -> dict[str, Any]:
    section = params.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{params_file}: section {name!r} must be a mapping, got {type(section).__name__}")
    return dict(section)
