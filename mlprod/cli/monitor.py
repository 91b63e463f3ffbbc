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
    from ..stages.params import project_root

    if args.wait < 0 or math.isnan(args.wait):
        raise ConfigError(f"--wait must be a number of seconds >= 0, got {args.wait}")
    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod monitor inside the project")
    loop_settings = loop.read_settings(params_file, root)
    result = loop.monitor(loop_settings.monitor, model=loop_settings.model,
                          reference_roc_auc=loop_settings.reference_roc_auc, plots_file=loop_settings.plots_file,
                          metrics_file=loop_settings.metrics_file, as_of=args.as_of, wait=args.wait)
    print(f"mlprod monitor: {result.line()}", file=sys.stderr)
    decision_file = root / loop_settings.decision_file
    if result.changed or not decision_file.is_file():
        decision = loop.decide(root / loop_settings.history_file, loop_settings.policy,
                               last_retrain=loop_settings.last_retrain, decision_file=decision_file,
                               metrics_file=root / loop_settings.decision_metrics_file, as_of=args.as_of)
        retrain, reasons = decision.retrain, list(decision.reasons)
        _reports(loop_settings, root, params_file, decision)
    else:
        recorded = json.loads(decision_file.read_text(encoding="utf-8"))
        retrain, reasons = bool(recorded.get("retrain")), list(recorded.get("reasons") or [])
    verdict = "retraining is due" if retrain else "no retraining"
    print(f"mlprod monitor: {verdict}: {'; '.join(reasons)} ({loop_settings.decision_file})", file=sys.stderr)
    return 1 if retrain and args.fail_on_retrain else 0


def _reports(settings, root, params_file, decision) -> None:
    """The dashboard (with its Prometheus textfile) and the runbook, as the pipeline's decide stage writes them."""
    from ..monitoring.dashboard import write_dashboard
    from ..monitoring.runbook import write_runbook
    from ..registry.store import Registry

    name = settings.model.rsplit("@", 1)[0]
    write_dashboard(root / settings.history_file, root / settings.dashboard_dir, decision=decision,
                    title=f"Monitoring: {name}", model_name=name)
    write_runbook(name, root / settings.runbook_dir, params_file=params_file, history=root / settings.history_file,
                  decision=decision, registry=Registry.open(root))
