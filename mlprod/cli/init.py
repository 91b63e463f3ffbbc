"""``mlprod init``: a project drafted from your own data file."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init", help="draft a project for your own data (params.yaml, dvc.yaml, schema.yaml, notebooks)",
        description="Read DATA once and draft the project's files for review: the shared facts in params.yaml "
                    "(features found, identifiers, free text and constant columns left out with the reason), "
                    "split cutoffs, the card's text as TODO placeholders, schema.yaml drafted from the data, "
                    "dvc.yaml with the data file as a dependency. Without DIR it works in the current project; "
                    "with DIR it creates a fresh project there (git init, dvc init, notebooks, .gitignore). "
                    "Existing params.yaml, dvc.yaml or schema.yaml are replaced only with --force. "
                    "Exit codes: 0 written, 2 nothing written (a problem with the options, the data or the folder).")
    p.add_argument("root", nargs="?", default=None, metavar="DIR", help="create a fresh project in DIR")
    p.add_argument("--data", required=True, metavar="FILE", help="your data (CSV or Parquet); copied into "
                   "data/raw/ when it is outside the project")
    p.add_argument("--target", required=True, metavar="COL", help="the label column")
    p.add_argument("--positive", metavar="VALUE", help="the label value that means positive (required unless the "
                   "label is 0/1 or true/false)")
    p.add_argument("--date", metavar="COL", help="the date column (default: the column holding dates)")
    p.add_argument("--key", metavar="COL", help="the column identifying a row (default: an identifier-like column)")
    p.add_argument("--name", metavar="NAME", help="the model's name (default: from the data file's name)")
    p.add_argument("--force", action="store_true", help="replace existing params.yaml, dvc.yaml and schema.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..project.init import init_project

    result = init_project(args.root or ".", data=args.data, target=args.target, positive=args.positive,
                          date=args.date, key=args.key, name=args.name, force=args.force, fresh=args.root is not None)
    where = result.root if args.root else "this project"
    print(f"mlprod init: wrote {', '.join(result.written)} in {where}")
    if result.kept:
        print(f"kept (already there): {', '.join(result.kept)}")
    print("decided:")
    for line in result.decisions:
        print(f"  - {line}")
    print("review:")
    for line in result.review:
        print(f"  - {line}")
    steps = (["cd " + str(args.root)] if args.root else []) + ["mlprod check", "dvc repro"]
    print("next: " + ", then ".join(steps))
    return 0
