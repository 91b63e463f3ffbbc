"""``mlprod registry history MODEL``, ``mlprod registry remove MODEL VERSION`` and ``mlprod registry serving NAME``."""

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
    rm = actions.add_parser(
        "remove", help="delete a version that has no alias and is no rollback target",
        description="Delete VERSION of MODEL from the registry and mark its MLflow run deleted (its files stay "
                    "until `mlflow gc` removes them). Refused while the version carries an alias or could be "
                    "returned to by `mlprod rollback`. The removal is recorded in `mlprod registry history`. "
                    "Exit codes: 0 removed, 2 refused or bad input.")
    rm.add_argument("model", help="registered model name")
    rm.add_argument("version", help="registry version number (see `mlprod registry history MODEL`)")
    rm.add_argument("--reason", default="", help="why (recorded in the history)")
    rm.set_defaults(func=run_remove)
    srv = actions.add_parser(
        "serving", help="register NAME-serving, the resilient MLflow pyfunc, and point its champion alias at it",
        description="Register (or reuse) a version of NAME-serving: the resilient predictor as an MLflow pyfunc "
                    "(models-from-code, nothing pickled) built from NAME's champion (or --version), "
                    "NAME-fallback@champion when registered, and params.yaml's serving: section; then set "
                    "NAME-serving@champion to it. From then on the alias follows NAME's promotions and rollbacks. "
                    "Serve it with `mlflow models serve -m models:/NAME-serving@champion --env-manager local`. "
                    "See docs/serving.md. Exit codes: 0 registered or reused, 2 bad input or unreachable registry.")
    srv.add_argument("model", metavar="NAME", help="the primary's registered model name")
    srv.add_argument("--version", default=None, help="NAME's registry version to serve (default: NAME@champion)")
    srv.set_defaults(func=run_serving)


def run_history(args: argparse.Namespace) -> int:
    from ..registry.history import model_history, render_history
    from ..registry.store import Registry

    data = model_history(Registry.open(), args.model)
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else render_history(data))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from ..registry.remove import remove_version
    from ..registry.store import Registry

    registry = Registry.open()
    removal = remove_version(args.model, args.version, reason=args.reason, registry=registry)
    run = (f"; its run {removal.run_id} is marked deleted (files removed by `mlflow gc`)" if removal.run_deleted
           else "")
    print(f"removed {removal.model} version {removal.version} ({removal.semver}) from {registry.location.display}{run}")
    return 0


def run_serving(args: argparse.Namespace) -> int:
    from ..registry.store import Registry
    from ..serving.registration import register_serving

    served = register_serving(args.model, Registry.open(), version=args.version)
    print(f"{served.name}@champion -> version {served.version} ({'registered' if served.created else 'reused'}; "
          f"serves {args.model} version {served.primary}"
          f"{', with NAME-fallback@champion' if served.fallback_sha256 else ''})".replace("NAME", args.model))
    return 0
