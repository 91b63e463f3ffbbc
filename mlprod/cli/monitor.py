"""``mlprod monitor``: the monitoring pipeline's monitor and decide steps outside DVC (cron, systemd timers)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

EXIT_CODES = ("Exit codes: 0 done (or nothing new); 1 retraining is due and --fail-on-retrain was given; 2 bad "
              "input (params.yaml sections, registry, history files); 75 another run holds the monitoring lock "
              "(nothing done).")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor", help="update the monitoring history with new batches and labels, then decide on retraining",
        description="Add the newly committed predictions (from `mlprod score` or the score stage) and the label "
                    "files that arrived to the monitoring history, with drift against the champion's registered "
                    "reference profile, then write the retraining decision: the same functions, settings "
                    "(params.yaml's monitor and decide sections) and files as `dvc repro "
                    "pipelines/monitoring/dvc.yaml`. With nothing new it changes nothing and does not ask the "
                    "registry. " + EXIT_CODES)
    p.add_argument("--as-of", metavar="TIME", help="the time recorded as the computation time (default: now, UTC)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run holding the lock ('inf': as long as it takes; default 0)")
    p.add_argument("--fail-on-retrain", action="store_true", help="exit with 1 when the decision says retrain")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..monitoring import loop
    from ..monitoring.history import MonitorSettings
    from ..project.facts import read_facts
    from ..stages.params import load_params_file, project_root

    if args.wait < 0 or math.isnan(args.wait):
        raise ConfigError(f"--wait must be a number of seconds >= 0, got {args.wait}")
    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod monitor inside the project")
    params = load_params_file(params_file)
    facts = read_facts(params, params_file)
    monitor = _section(params, "monitor", params_file)
    decide = _section(params, "decide", params_file)
    alias = monitor.pop("alias", "champion")
    reference_roc_auc = monitor.pop("reference_roc_auc", "auto")
    plots_file, metrics_file = monitor.pop("plots_file", None), monitor.pop("metrics_file", None)
    if not facts.model_name:
        raise ConfigError(f"{params_file}: project.model_name is not set; expected the registered model's name")
    settings = MonitorSettings.from_mapping({
        **monitor, "root": str(root), "key": facts.key, "date_column": facts.date_column,
        "target": facts.target or "target", "positive_label": facts.positive_label}, where="monitor")
    result = loop.monitor(settings, model=f"{facts.model_name}@{alias}", reference_roc_auc=reference_roc_auc,
                          plots_file=plots_file, metrics_file=metrics_file, as_of=args.as_of, wait=args.wait)
    print(f"mlprod monitor: {result.line()}", file=sys.stderr)
    paths = {k: decide.pop(k, d) for k, d in (("history_file", "monitoring/history.parquet"),
                                               ("decision_file", "reports/monitoring/decision.json"),
                                               ("metrics_file", "metrics/decision.json"))}
    last_retrain = decide.pop("last_retrain", "auto")
    decision_file = root / paths["decision_file"]
    if result.changed or not decision_file.is_file():
        decision = loop.decide(root / paths["history_file"], decide, last_retrain=last_retrain,
                               decision_file=decision_file, metrics_file=root / paths["metrics_file"],
                               as_of=args.as_of)
        retrain, reasons = decision.retrain, list(decision.reasons)
    else:
        recorded = json.loads(decision_file.read_text(encoding="utf-8"))
        retrain, reasons = bool(recorded.get("retrain")), list(recorded.get("reasons") or [])
    verdict = "retraining is due" if retrain else "no retraining"
    print(f"mlprod monitor: {verdict}: {'; '.join(reasons)} ({paths['decision_file']})", file=sys.stderr)
    return 1 if retrain and args.fail_on_retrain else 0


def _section(params: dict, name: str, params_file) -> dict:
    from ..errors import ConfigError

    section = params.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{params_file}: section {name!r} must be a mapping, got {type(section).__name__}")
    return dict(section)
