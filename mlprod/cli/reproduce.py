"""``mlprod reproduce DIR``: rebuild a model from its recorded commit and data, and compare."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="rebuild a model from its commit and check it comes out the same",
                       description="Check out the commit recorded in DIR's manifest into a temporary git worktree "
                                   "(sharing the DVC cache), rerun its stages with dvc repro --force, and compare "
                                   "artifact hash, metrics, data hashes, parameters and packages. Exit codes: "
                                   "0 identical, 1 different, 2 could not rebuild.")
    p.add_argument("dir", help="model folder (holding model_manifest.yaml)")
    p.add_argument("--keep", action="store_true",
                   help="keep the rebuild (a git worktree) for inspection; the output says where and how to remove it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..manifest.reproduce import render_text, reproduce

    result = reproduce(args.dir, keep=args.keep)
    print(render_text(result))
    return 0 if result.identical else 1
