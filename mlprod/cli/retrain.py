"""``mlprod retrain``: act on the monitoring decision, retraining through the training pipeline on a branch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CODES = ("Exit codes: 0 retrained (promoted or rejected by the gates), or nothing to do (the decision does not "
              "say retrain, or was acted on already); 1 the training pipeline failed (the branch keeps what was "
              "committed); 2 refused: uncommitted changes, no decision record, no labelled rows in the window, bad "
              "retrain: section, or a failed retrain branch for this decision exists (delete it or use --force).")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retrain", help="retrain when the monitoring decision says so, on a branch named for the retrain",
        description="Read the retraining decision (decide.decision_file); when it says retrain, build the new "
                    "training data (the ingest source plus the labelled stream rows, in the retrain: window), "
                    "commit it and params.yaml on a branch retrain/<UTC time>-<decision id>, run the training "
                    "pipeline (gates, register, promotion or rejection) and commit dvc.lock and the metrics, then "
                    "switch back. Merging the branch is the team's choice. " + EXIT_CODES)
    p.add_argument("--force", action="store_true",
                   help="retrain even though the decision does not say so (or was acted on, or its retrain branch "
                        "failed: a new branch beside it); needs --reason")
    p.add_argument("--reason", metavar="TEXT", help="why (with --force): recorded as the model's description")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..monitoring.retrain import retrain
    from ..stages.params import project_root

    if args.reason and not args.force:
        raise ConfigError("--reason goes with --force; without it the decision's reasons are recorded")
    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod retrain inside the project")
    result = retrain(root, params_file, force=args.force, reason=args.reason)
    print(f"mlprod retrain: {result.line}", file=sys.stderr)
    return 0
