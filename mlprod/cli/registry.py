"""``mlprod registry history MODEL``: versions, aliases and every alias move of a registered model."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("registry", help="inspect the model registry",
                       description="Inspect models in the MLflow registry (the project's mlflow.db unless "
                                   "MLFLOW_TRACKING_URI names another).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    hist = actions.add_parser(
        "history", help="versions, aliases and alias moves of a model",
        description="List MODEL's versions (semantic version, aliases, gate outcome, artifact, git commit) and every "
                    "move of the champion alias: time, from/to, action, user, reason and decision record.")
    hist.add_argument("model", help="registered model name")
    hist.add_argument("--json", action="store_true", help="print JSON")
    hist.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    from ..registry.history import model_history, render_history
    from ..registry.store import Registry

    data = model_history(Registry.open(), args.model)
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else render_history(data))
    return 0
