"""``mlprod check``: check the whole project before anything runs."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="check the whole project (dvc.yaml, params.yaml, notebooks, data, schema, registry)",
        description="Check the project before any kernel starts: every stage's notebook and parameters, the "
                    "shared facts against the data (header and a sample of rows) and the schema, the deps in "
                    "dvc.yaml, and whether the champion registered under the model name could score the configured "
                    "features. Lists every finding with the file, the key and the fix. "
                    "Exit codes: 0 no errors (warnings may be listed), 1 at least one error, 2 the project could "
                    "not be checked (no dvc.yaml or params.yaml, invalid YAML).")
    p.add_argument("root", nargs="?", default=".", metavar="DIR", help="project folder (default: here)")
    p.add_argument("--no-registry", action="store_true", help="skip the registry (faster; no MLflow import)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..project.check import check_project

    result = check_project(args.root, registry=not args.no_registry)
    for finding in (*result.errors, *result.warnings):
        text = str(finding).replace("\n", "\n  ")
        print(f"{finding.severity}: {text}", file=sys.stdout)
    errors, warnings = len(result.errors), len(result.warnings)
    verdict = "ok" if not result.findings else f"{errors} error(s), {warnings} warning(s)"
    print(f"mlprod check: {verdict} ({', '.join(result.checked)}; {result.seconds:.1f} s)", file=sys.stderr)
    return result.exit_code
