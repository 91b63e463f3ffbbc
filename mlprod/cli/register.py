"""``mlprod register DIR``: register a model folder (manifest + artifact) in the MLflow registry."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "register", help="register a model folder in the MLflow model registry",
        description="Register the model in DIR (verified against its model_manifest.yaml first) as an MLflow run "
                    "(parameters, metrics, manifest, model card, git and data tags, an MLflow model with signature "
                    "and input example) and a registry version linked to the manifest's semantic version. "
                    "Registering the same artifact again finds the existing version. The registry is the project's "
                    "mlflow.db unless MLFLOW_TRACKING_URI names another. Exit codes: 0 registered or already "
                    "registered, 2 bad input, unreachable registry, or a model its champion could not be compared "
                    "with (see --allow-incompatible).")
    p.add_argument("dir", help="model folder (holding model_manifest.yaml)")
    p.add_argument("--model-card", metavar="FILE",
                   help="model card to attach (default: model_card.md or model_card.html in DIR, if present)")
    p.add_argument("--example-data", metavar="FILE",
                   help="CSV/Parquet to take the input example from (default: the manifest's evaluation data)")
    p.add_argument("--experiment", metavar="NAME", help="MLflow experiment (default: the model's name)")
    p.add_argument("--allow-incompatible", action="store_true",
                   help="register even if the model's champion could not score this model's data (other input "
                        "columns); promotion then needs --force")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..registry.register import register_model
    from ..registry.store import Registry

    registry = Registry.open()
    version = register_model(args.dir, model_card=args.model_card, example_data=args.example_data,
                             registry=registry, experiment=args.experiment,
                             allow_incompatible=args.allow_incompatible)
    state = "registered" if version.created else "already registered"
    print(f"{version.name} {version.semver}: {state} as version {version.version} ({version.uri}) in "
          f"{registry.location.display}")
    return 0
